import Foundation
import TestSupport
import Testing

/// The HTTP contracts are files (`Shared/Contracts/OpenAPI`); what each service serves is
/// composed from them and embedded by `embed.py`. A stale embedded copy, an invalid document,
/// or an operation without its roles, 401/403 or 404 fails here.
@Suite("OpenAPI documents of the four services")
struct OpenAPIDocumentTests {
    @Test("every document is valid OpenAPI, names the roles of each operation, and its embedded copy is current")
    func documentsAreCurrent() async throws {
        let root = try Repository.root()
        let (status, output) = try await ChildProcess.run(["python3", root.appendingPathComponent("Shared/Contracts/OpenAPI/embed.py").path, "--check"])
        #expect(status == 0, "\(output)")
    }
}

/// The API clients in Shared/APIClients are generated from the documents with Apple's
/// swift-openapi-generator (built from Shared/Contracts/OpenAPI/Generator, a few minutes the
/// first time); a document changed without regenerating them fails here.
@Suite("Generated API clients", .timeLimit(.minutes(20)))
struct GeneratedClientTests {
    @Test("every committed client is what the generator makes of its service's document")
    func clientsAreCurrent() async throws {
        let root = try Repository.root()
        let (status, output) = try await ChildProcess.run(["bash", root.appendingPathComponent("Shared/Contracts/OpenAPI/generate.sh").path, "--check"])
        #expect(status == 0, "\(output.suffix(3000))")
    }
}
