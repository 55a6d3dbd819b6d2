import AsyncHTTPClient
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
    let intakeURL: URL
    let token: String

    init(settings: ConsoleSettings, token: String) {
        let transport = AsyncHTTPClientTransport()
        let middlewares = [BearerToken(token: token)]
        intake = IntakeAPI.Client(serverURL: settings.intakeURL, transport: transport, middlewares: middlewares)
        matching = MatchingAPI.Client(serverURL: settings.matchingURL, transport: transport, middlewares: middlewares)
        notification = NotificationAPI.Client(serverURL: settings.notificationURL, transport: transport, middlewares: middlewares)
        intakeURL = settings.intakeURL
        self.token = token
    }

    /// What intake answered a transition: the referral after it, or why not.
    enum TransitionResult {
        case done
        case refused(status: Int, detail: String)
    }

    /// Posts one step of the loop. Sent as JSON directly: the generated type for this body is two
    /// opaque halves of its JSON Schema conditionals (reason/outcome required by action), which
    /// the generator cannot model as one object.
    func transition(referral id: String, action: String, reason: String?, outcome: String?) async throws -> TransitionResult {
        var body: [String: String] = ["action": action]
        if let reason { body["reason"] = reason }
        if let outcome { body["outcome"] = outcome }
        var request = HTTPClientRequest(url: intakeURL.appendingPathComponent("v1/referrals/\(id)/transitions").absoluteString)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(body))))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 256 * 1024)
        if response.status == .ok { return .done }
        struct Problem: Decodable {
            var title: String?
            var detail: String?
        }
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(answer.readableBytesView))
        return .refused(status: Int(response.status.code), detail: problem?.detail ?? problem?.title ?? "status \(response.status.code)")
    }
}
