import EvaluationService
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import MatchingService
import NotificationService
import ServiceRuntime
import TestSupport
import Testing

/// The role half of the access matrix, derived from each service's contract: every operation ×
/// every role (and no token). A role the operation's `x-passerelle-roles` does not name is 403; one
/// it names is never refused for its role (whatever the handler then says of the made-up id or
/// body); no token is 401 wherever the document asks for one. A route missing from a document
/// stops its host from building, so none escapes the matrix.
@Suite("Access matrix: every operation of every service, every role", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(5)))
struct AccessMatrixTests {
    @Test("intake") func intake() async throws { try await check(IntakeService.self) }
    @Test("matching") func matching() async throws { try await check(MatchingService.self) }
    @Test("notification") func notification() async throws { try await check(NotificationService.self) }
    @Test("evaluation") func evaluation() async throws { try await check(EvaluationService.self) }

    func check<S: PasserelleService>(_ service: S.Type) async throws {
        let test = try await ServiceTestHost.make(S.self)
        let contract = try ServiceContract(document: S.openAPIDocument)
        var signed: [Role: String] = [:]
        for role in Role.allCases { signed[role] = try await test.token(role, subject: "matrix-\(role.rawValue)", site: "ottawa-west-chc") }
        let tokens = signed
        let checked = try await test.host.application.test(.router) { client in
            var checked = 0
            for operation in contract.operations {
                // Path parameters get an id that exists nowhere; bodies are an empty object.
                let uri = operation.path.replacingOccurrences(of: #"\{[^}]+\}"#, with: UUID().uuidString.lowercased(), options: .regularExpression)
                let body = [.post, .put, .patch].contains(operation.method) ? ByteBuffer(string: "{}") : nil
                func call(_ token: String?) async throws -> HTTPResponse.Status {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    return try await client.execute(uri: uri, method: operation.method, headers: headers, body: body).status
                }
                guard let allowed = operation.roles else {
                    #expect(try await call(nil) != .unauthorized, "\(operation) is open")
                    continue
                }
                #expect(try await call(nil) == .unauthorized, "\(operation) without a token")
                for role in Role.allCases {
                    let status = try await call(tokens[role])
                    if allowed.contains(role) {
                        #expect(status != .forbidden && status != .unauthorized, "\(operation) as \(role.rawValue): \(status)")
                    } else {
                        #expect(status == .forbidden, "\(operation) as \(role.rawValue): \(status)")
                    }
                    checked += 1
                }
            }
            return checked
        }
        #expect(checked >= 5 * contract.operations.filter { $0.roles != nil }.count)
        await test.tearDown()
    }
}
