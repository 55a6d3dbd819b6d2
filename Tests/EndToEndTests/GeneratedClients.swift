import EvaluationAPI
import Foundation
import HTTPTypes
import IntakeAPI
import MatchingAPI
import NotificationAPI
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// Sends the caller's bearer token with every request of a generated client.
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

/// The four services' clients, generated from their OpenAPI documents, for one caller.
struct GeneratedClients {
    let intake: IntakeAPI.Client
    let matching: MatchingAPI.Client
    let notification: NotificationAPI.Client
    let evaluation: EvaluationAPI.Client

    init(ports: (intake: Int, matching: Int, notification: Int, evaluation: Int), token: String) throws {
        func url(_ port: Int) throws -> URL {
            guard let url = URL(string: "http://127.0.0.1:\(port)") else { throw URLError(.badURL) }
            return url
        }
        let transport = AsyncHTTPClientTransport()
        let middlewares = [BearerToken(token: token)]
        intake = IntakeAPI.Client(serverURL: try url(ports.intake), transport: transport, middlewares: middlewares)
        matching = MatchingAPI.Client(serverURL: try url(ports.matching), transport: transport, middlewares: middlewares)
        notification = NotificationAPI.Client(serverURL: try url(ports.notification), transport: transport, middlewares: middlewares)
        evaluation = EvaluationAPI.Client(serverURL: try url(ports.evaluation), transport: transport, middlewares: middlewares)
    }
}
