import AsyncHTTPClient
import EvaluationAPI
import Foundation
import HTTPTypes
import IntakeAPI
import MatchingAPI
import NIOCore
import NIOHTTP1
import NotificationAPI
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// Sends the signed-in user's own token with every request of a generated client: the services
/// decide what this person may see and do, never the console.
struct BearerToken: ClientMiddleware {
    let token: String

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// The services' generated clients, for one signed-in user.
struct ServiceClients {
    let intake: IntakeAPI.Client
    let matching: MatchingAPI.Client
    let notification: NotificationAPI.Client
    let evaluation: EvaluationAPI.Client
    let intakeURL: URL
    let matchingURL: URL
    let evaluationURL: URL
    let token: String

    init(settings: ConsoleSettings, token: String) {
        let transport = AsyncHTTPClientTransport()
        let middlewares = [BearerToken(token: token)]
        intake = IntakeAPI.Client(serverURL: settings.intakeURL, transport: transport, middlewares: middlewares)
        matching = MatchingAPI.Client(serverURL: settings.matchingURL, transport: transport, middlewares: middlewares)
        notification = NotificationAPI.Client(serverURL: settings.notificationURL, transport: transport, middlewares: middlewares)
        evaluation = EvaluationAPI.Client(serverURL: settings.evaluationURL, transport: transport, middlewares: middlewares)
        intakeURL = settings.intakeURL
        matchingURL = settings.matchingURL
        evaluationURL = settings.evaluationURL
        self.token = token
    }

    /// Posts one step of the loop. Sent as JSON directly: the generated type for this body is two
    /// opaque halves of its JSON Schema conditionals (reason/outcome required by action), which
    /// the generator cannot model as one object.
    func transition(referral id: String, action: String, reason: String?, outcome: String?) async throws -> Answer {
        var body: [String: String] = ["action": action]
        if let reason { body["reason"] = reason }
        if let outcome { body["outcome"] = outcome }
        return try await send(.POST, intakeURL.appendingPathComponent("v1/referrals/\(id)/transitions"), body)
    }

    /// A service's refusal, as RFC 9457 problem details with the fields it names.
    struct Problem: Decodable {
        struct FieldError: Decodable {
            var pointer: String
            var detail: String
        }
        var title: String?
        var detail: String?
        var errors: [FieldError]?
    }

    /// What a service answered a request sent as JSON.
    enum Answer {
        case done(Data)
        case refused(status: Int, problem: Problem?)
    }

    /// Moves a connection on (matching's changeConnection). Sent as JSON directly for the same
    /// reason as a transition: the body's conditionals (a reason when it ends) come out of the
    /// generator as opaque halves.
    func changeConnection(_ id: String, status: String, reason: String?) async throws -> Answer {
        var body: [String: String] = ["status": status]
        if let reason { body["reason"] = reason }
        return try await send(.PATCH, matchingURL.appendingPathComponent("v1/connections/\(id)"), body)
    }

    /// An instrument answered at a timepoint (evaluation's recordOutcome). Sent as JSON
    /// directly: the item counts and ranges per instrument are conditionals the generator turns
    /// into opaque values.
    func recordOutcome(referral id: String, instrument: String, timepoint: String, answers: [Int]) async throws -> Answer {
        struct Submission: Encodable {
            var instrument: String
            var timepoint: String
            var answers: [Int]
        }
        return try await send(
            .POST, evaluationURL.appendingPathComponent("v1/referrals/\(id)/outcomes"),
            Submission(instrument: instrument, timepoint: timepoint, answers: answers))
    }

    /// The periods of service use filled in (evaluation's recordServiceUse). Sent as JSON
    /// directly: "before, after or both" is an anyOf the generator turns into opaque values.
    func recordServiceUse(referral id: String, periods: [String: [String: Int]]) async throws -> Answer {
        try await send(.PUT, evaluationURL.appendingPathComponent("v1/referrals/\(id)/service-use"), periods)
    }

    /// Sends `body` as JSON with this user's token: 2xx is done, anything else refused with
    /// what the service said.
    func send(_ method: HTTPMethod, _ url: URL, _ body: some Encodable) async throws -> Answer {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(body))))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let answer = Data(try await response.body.collect(upTo: 256 * 1024).readableBytesView)
        if (200..<300).contains(response.status.code) { return .done(answer) }
        return .refused(status: Int(response.status.code), problem: try? JSONDecoder().decode(Problem.self, from: answer))
    }
}
