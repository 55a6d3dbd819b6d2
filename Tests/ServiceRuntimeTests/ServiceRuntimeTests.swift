import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaClient
import Logging
import Messaging
import PostgresClient
import Synchronization
import TestSupport
import Testing

@testable import ServiceRuntime

/// The HTTP basics every service shares, exercised on a router with one protected route.
@Suite("Shared HTTP runtime: authentication, roles, problem+json, request ids")
struct ServiceRuntimeTests {
    static let secret = "service-runtime-tests-secret-0123456789"

    func application() async throws -> some ApplicationProtocol {
        let verifier = try await TokenVerifier(settings: AuthSettings(hmacSecret: Self.secret, issuer: "passerelle-tests"))
        let router = Router(context: PasserelleRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: AuthenticationMiddleware(verifier: verifier))
        router.get("/site-data") { _, context -> String in
            let identity = try context.caller()
            return "\(identity.subject)@\(identity.site ?? "all")"
        }
        router.post("/echo") { request, context -> String in
            struct Body: Decodable {
                var name: String
                var age: Int
            }
            let body = try await request.decodeJSON(as: Body.self, context: context)
            return body.name
        }
        router.get("/database") { _, _ -> String in
            throw PostgresError(kind: .connectionUnavailable, message: "connection refused")
        }
        router.get("/crash") { _, _ -> String in
            struct Internal: Error {}
            throw Internal()
        }
        return Application(router: router)
    }

    func token(_ roles: [Role], site: String? = "ottawa-west-chc", expires: TimeInterval = 600, secret: String = secret, issuer: String = "passerelle-tests")
        async throws -> String
    {
        try await TokenVerifier(settings: AuthSettings(hmacSecret: secret))
            .sign(AccessClaims(subject: "lw-1", roles: roles, site: site, expires: Date().addingTimeInterval(expires), issuer: issuer))
    }

    func problem(_ response: TestResponse) throws -> [String: Any] {
        #expect(response.headers[.contentType] == "application/problem+json")
        return try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    @Test("a valid token with an allowed role gets through, with its site")
    func allowed() async throws {
        let token = try await token([.linkWorker])
        try await application().test(.router) { client in
            try await client.execute(uri: "/site-data", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "lw-1@ottawa-west-chc")
            }
        }
    }

    // A wrong role is the contract's to refuse: OperationEdgeTests.rolesComeFromTheContract.
    @Test("no token is 401, as problem+json")
    func refused() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/site-data", method: .get) { response in
                #expect(response.status == .unauthorized)
                let body = try problem(response)
                #expect(body["status"] as? Int == 401)
            }
        }
    }

    @Test("expired, forged, wrong-issuer and malformed tokens are 401")
    func invalidTokens() async throws {
        let expired = try await token([.coordinator], expires: -60)
        let forged = try await token([.coordinator], secret: "another-secret-that-is-long-enough-0000")
        let otherIssuer = try await token([.coordinator], issuer: "someone-else")
        try await application().test(.router) { client in
            for header in ["Bearer \(expired)", "Bearer \(forged)", "Bearer \(otherIssuer)", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz"] {
                try await client.execute(uri: "/site-data", method: .get, headers: [.authorization: header]) { response in
                    #expect(response.status == .unauthorized, "\(header.prefix(12))")
                    _ = try problem(response)
                }
            }
        }
    }

    @Test("a token verified once is taken again until it expires, then no longer")
    func verifiedTokenExpires() async throws {
        let token = try await token([.linkWorker], expires: 60)
        try await application().test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/site-data", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                    #expect(response.status == .ok)
                }
            }
        }
        let verifier = try await TokenVerifier(settings: AuthSettings(hmacSecret: Self.secret, issuer: "passerelle-tests"))
        let identity = try await verifier.identity(fromBearer: token)
        let remembered = try #require(verifier.verified.identity(for: token, at: Date()))
        #expect(remembered == identity)
        // Past its `exp`, the cache no longer answers for it (and JWT verification refuses it).
        #expect(verifier.verified.identity(for: token, at: Date().addingTimeInterval(61)) == nil)
        #expect(verifier.verified.identity(for: token, at: Date()) == nil)

        // A cache full of live tokens makes room and still verifies.
        let other = Identity(subject: "x", roles: [.analyst], site: nil)
        for index in 0..<VerifiedTokens.capacity { verifier.verified.remember("t\(index)", as: other, until: Date().addingTimeInterval(60)) }
        let coordinator = try await self.token([.coordinator])
        #expect(try await verifier.identity(fromBearer: coordinator).roles == [.coordinator])
        #expect(verifier.verified.identity(for: "t0", at: Date()) == nil)
        #expect(verifier.verified.identity(for: coordinator, at: Date())?.roles == [.coordinator])
    }

    @Test("malformed JSON is a 400 that points at the field; the database being down is a 503 with Retry-After")
    func errorMapping() async throws {
        try await application().test(.router) { client in
            try await client.execute(
                uri: "/echo", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"name": "x", "age": "old"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                let body = try problem(response)
                let errors = try #require(body["errors"] as? [[String: String]])
                #expect(errors.first?["pointer"] == "/age")
            }
            try await client.execute(uri: "/database", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                _ = try problem(response)
            }
            try await client.execute(uri: "/crash", method: .get, headers: [.requestID: "req-123"]) { response in
                #expect(response.status == .internalServerError)
                let body = try problem(response)
                #expect((body["detail"] as? String)?.contains("req-123") == true, "points at the log line, names no internals")
                #expect(response.headers[.requestID] == "req-123")
            }
        }
    }

    @Test("a request id is made when none is sent")
    func requestID() async throws {
        try await application().test(.router) { client in
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.requestID]?.count == 36)
                // Route checks elsewhere tell an unknown route from a handler's 404 by this.
                let body = try problem(response)
                #expect(body["detail"] == nil, "an unknown route's 404 carries no detail")
            }
        }
    }

    @Test("settings come from the environment, secrets from files, and bad values are refused")
    func settings() throws {
        let secretFile = NSTemporaryDirectory() + "secret-\(UUID().uuidString)"
        try "from-a-file-secret-with-more-than-32-bytes\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: secretFile) }
        let settings = try ServiceSettings.fromEnvironment(
            service: "intake", defaultPort: 8081,
            environment: Environment(
                [
                    "PASSERELLE_DB_PORT": "6543", "PASSERELLE_JWT_HS256_SECRET_FILE": secretFile, "PASSERELLE_TOPIC_PREFIX": "test.",
                    "PASSERELLE_KAFKA_PROPERTY_SECURITY_PROTOCOL": "SASL_SSL",
                ].merging(Self.issuedFor) { $1 }))
        #expect(settings.postgres.port == 6543)
        #expect(settings.postgres.user == "passerelle_intake")
        #expect(settings.postgres.schema == "intake")
        #expect(settings.auth.hmacSecret == "from-a-file-secret-with-more-than-32-bytes")
        #expect(settings.topics.name(.referrals) == "test.passerelle.referrals.v1")
        #expect(settings.kafka.properties["security.protocol"] == "SASL_SSL")
        #expect(settings.consumerGroup == "passerelle-intake")
        #expect(settings.topics.partitions == 12)
        let fewer = try ServiceSettings.fromEnvironment(
            service: "intake", defaultPort: 8081,
            environment: Environment(
                [
                    "PASSERELLE_JWT_HS256_SECRET_FILE": secretFile, "PASSERELLE_TOPIC_PARTITIONS": "4",
                ].merging(Self.issuedFor) { $1 }))
        #expect(fewer.topics.partitions == 4)
        for partitions in ["0", "many"] {
            let refused = #expect(throws: ConfigurationError.self) {
                try ServiceSettings.fromEnvironment(
                    service: "intake", defaultPort: 8081,
                    environment: Environment(
                        [
                            "PASSERELLE_JWT_HS256_SECRET_FILE": secretFile, "PASSERELLE_TOPIC_PARTITIONS": partitions,
                        ].merging(Self.issuedFor) { $1 }))
            }
            #expect(refused?.variable == "PASSERELLE_TOPIC_PARTITIONS")
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceSettings.fromEnvironment(
                service: "intake", defaultPort: 8081, environment: Environment(["PASSERELLE_DB_PORT": "x", "PASSERELLE_ALLOW_DEV_SECRET": "true"]))
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment([:]))
        }
        #expect(throws: ConfigurationError.self) {
            try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment(["PASSERELLE_JWT_HS256_SECRET": "short"]))
        }
    }

    @Test("a secret still holding .env.example's placeholder is refused, by value or from a file, unless in local development")
    func placeholderSecretsAreRefused() throws {
        let placeholders = [
            "PASSERELLE_JWT_HS256_SECRET": "change-me-to-a-random-secret-of-at-least-32-bytes",
            "PASSERELLE_DB_PASSWORD": "change-me-intake-db-password",
        ]
        for (variable, placeholder) in placeholders {
            let strong = variable == "PASSERELLE_JWT_HS256_SECRET" ? [:] : ["PASSERELLE_JWT_HS256_SECRET": Self.secret]
            let environment = Environment(strong.merging([variable: placeholder]) { $1 }.merging(Self.issuedFor) { $1 })
            let refused = #expect(throws: ConfigurationError.self) {
                try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: environment)
            }
            #expect(refused?.variable == variable)
            #expect(refused?.description.contains(placeholder) == false, "the error must not print the secret")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("placeholder-\(UUID().uuidString)")
        try "CHANGE-ME-please\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = #expect(throws: ConfigurationError.self) {
            try Environment(["PASSERELLE_JWT_HS256_SECRET_FILE": file.path]).secret("PASSERELLE_JWT_HS256_SECRET")
        }
        #expect(fromFile?.variable == "PASSERELLE_JWT_HS256_SECRET_FILE")
        let development = Environment(["PASSERELLE_JWT_HS256_SECRET": placeholders["PASSERELLE_JWT_HS256_SECRET"]!, "PASSERELLE_ALLOW_DEV_SECRET": "true"])
        #expect(try development.secret("PASSERELLE_JWT_HS256_SECRET") == placeholders["PASSERELLE_JWT_HS256_SECRET"])
        #expect(try Environment(["PASSERELLE_DB_PASSWORD": "a-real-one"]).secret("PASSERELLE_DB_PASSWORD") == "a-real-one")
    }

    /// Issuer and audience, required outside local development.
    static let issuedFor = ["PASSERELLE_JWT_ISSUER": "passerelle-tests", "PASSERELLE_JWT_AUDIENCE": "passerelle"]

    @Test("a token secret or pseudonym key that is short, repetitive or word-like is refused, naming the variable, never printing it")
    func weakSecretsAreRefused() throws {
        let weak = [
            "short-but-random-Zq8",
            String(repeating: "k", count: 48),
            "passwordpasswordpasswordpassword",
            "benchmark-secret-benchmark-secret-0123",
            "correct-horse-battery-staple-correct-horse",
            String(repeating: "0123456789abcdef", count: 3),
        ]
        for variable in ["PASSERELLE_JWT_HS256_SECRET", "PASSERELLE_EVALUATION_PSEUDONYM_KEY"] {
            for value in weak {
                let refused = #expect(throws: ConfigurationError.self, "\(value) for \(variable)") {
                    try Environment([variable: value]).secret(variable)
                }
                #expect(refused?.variable == variable)
                #expect(refused?.description.contains(value) == false, "the error must not print the secret")
                // Local development takes any secret.
                #expect(try Environment([variable: value, "PASSERELLE_ALLOW_DEV_SECRET": "true"]).secret(variable) == value)
            }
        }
        // What `openssl rand -base64 48` and `-hex 32` print pass; so do the tests' own secrets.
        let random = Data((0..<48).map { _ in UInt8.random(in: 0...255) })
        for strong in [random.base64EncodedString(), random.prefix(32).map { String(format: "%02x", $0) }.joined(), Self.secret] {
            #expect(SecretStrength(strong).weakness == nil, "\(strong): \(SecretStrength(strong).estimatedBits) bits")
            #expect(try Environment(["PASSERELLE_JWT_HS256_SECRET": strong]).secret("PASSERELLE_JWT_HS256_SECRET") == strong)
        }
        // Passwords other systems issue are theirs to judge.
        #expect(try Environment(["PASSERELLE_SMTP_PASSWORD": "hunter2"]).secret("PASSERELLE_SMTP_PASSWORD") == "hunter2")
        // A weak secret from a file is named by the file's variable.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weak-\(UUID().uuidString)")
        try "passwordpasswordpasswordpassword\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = #expect(throws: ConfigurationError.self) {
            try Environment(["PASSERELLE_JWT_HS256_SECRET_FILE": file.path]).secret("PASSERELLE_JWT_HS256_SECRET")
        }
        #expect(fromFile?.variable == "PASSERELLE_JWT_HS256_SECRET_FILE")
    }

    @Test("issuer and audience are required outside development; the token lifetime cap is configurable and bounded")
    func issuerAudienceAndLifetimeSettings() throws {
        for missing in Self.issuedFor.keys {
            var values = Self.issuedFor.merging(["PASSERELLE_JWT_HS256_SECRET": Self.secret]) { $1 }
            values[missing] = nil
            let refused = #expect(throws: ConfigurationError.self) {
                try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment(values))
            }
            #expect(refused?.variable == missing)
            values["PASSERELLE_ALLOW_DEV_SECRET"] = "true"
            #expect(try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment(values)).auth.hmacSecret == Self.secret)
        }
        let base = Self.issuedFor.merging(["PASSERELLE_JWT_HS256_SECRET": Self.secret]) { $1 }
        #expect(try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment(base)).auth.maxLifetime == 12 * 3600)
        let shorter = base.merging(["PASSERELLE_JWT_MAX_LIFETIME_MINUTES": "30"]) { $1 }
        #expect(try ServiceSettings.fromEnvironment(service: "intake", defaultPort: 8081, environment: Environment(shorter)).auth.maxLifetime == 1800)
        for bad in ["0", "100000", "soon"] {
            let refused = #expect(throws: ConfigurationError.self) {
                try ServiceSettings.fromEnvironment(
                    service: "intake", defaultPort: 8081, environment: Environment(base.merging(["PASSERELLE_JWT_MAX_LIFETIME_MINUTES": bad]) { $1 }))
            }
            #expect(refused?.variable == "PASSERELLE_JWT_MAX_LIFETIME_MINUTES")
        }
    }

    @Test("a token valid for longer than the cap is a 401, by its exp or by exp - iat")
    func tokenLifetimeIsCapped() async throws {
        let settings = AuthSettings(hmacSecret: Self.secret, maxLifetime: 3600)
        let verifier = try await TokenVerifier(settings: settings)
        let now = Date()
        let withinCap = try await verifier.sign(AccessClaims(subject: "s", roles: [.analyst], site: nil, expires: now.addingTimeInterval(3000)))
        #expect(try await verifier.identity(fromBearer: withinCap).subject == "s")
        let farExpiry = try await verifier.sign(AccessClaims(subject: "s", roles: [.analyst], site: nil, expires: now.addingTimeInterval(7200)))
        let issuedLong = try await verifier.sign(
            AccessClaims(subject: "s", roles: [.analyst], site: nil, expires: now.addingTimeInterval(1800), issued: now.addingTimeInterval(-3 * 3600)))
        for token in [farExpiry, issuedLong] {
            let refused = await #expect(throws: ProblemDetails.self) { try await verifier.identity(fromBearer: token) }
            #expect(refused?.status == .unauthorized)
        }
    }

    /// deploy/local/dev-token.py, the development signer, with the environment the services read.
    func developmentToken(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/local/dev-token.py").standardized
        let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"].merging(environment) { $1 }
        let (status, output) = try await ChildProcess.run(["python3", script.path] + arguments, environment: environment, errorOutput: .discarded)
        return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("dev-token.py signs what the services verify, with issuer, audience and iat, and only in development")
    func developmentSignerInteroperates() async throws {
        let environment = Self.issuedFor.merging(["PASSERELLE_JWT_HS256_SECRET": Self.secret]) { $1 }
        let arguments = ["--role", "link-worker", "--role", "analyst", "--subject", "lw-9", "--site", "ottawa-west-chc", "--minutes", "30"]
        let refused = try await developmentToken(arguments, environment: environment)
        #expect(refused.status != 0 && refused.output.isEmpty, "refuses without the development switch")
        let signed = try await developmentToken(arguments + ["--i-know-this-is-development"], environment: environment)
        #expect(signed.status == 0)
        let verifier = try await TokenVerifier(
            settings: AuthSettings(hmacSecret: Self.secret, issuer: "passerelle-tests", audience: "passerelle", maxLifetime: 3600))
        let identity = try await verifier.identity(fromBearer: signed.output)
        #expect(identity == Identity(subject: "lw-9", roles: [.linkWorker, .analyst], site: "ottawa-west-chc"))
        let switched = try await developmentToken(arguments, environment: environment.merging(["PASSERELLE_ALLOW_DEV_SECRET": "true"]) { $1 })
        #expect(switched.status == 0 && !switched.output.isEmpty)
        // Longer than the cap: the services refuse what the tool will still sign.
        let long = try await developmentToken(
            ["--role", "analyst", "--subject", "a", "--minutes", "120", "--i-know-this-is-development"], environment: environment)
        await #expect(throws: ProblemDetails.self) { try await verifier.identity(fromBearer: long.output) }
    }

    /// A service with nothing of its own: what every service's host runs.
    enum Bare: PasserelleService {
        static let name = "bare"
        static let defaultPort = 0
        static let migrations = [Migration(1, "nothing", "SELECT 1")]
        static let openAPIDocument = thingsDocument(routes: #""/nothing": {}"#)
        static func build(_ components: ServiceComponents) async throws -> ServiceParts { ServiceParts(routes: []) }
    }

    @Test("a service that cannot listen stops, even while its schema is still out of reach")
    func failedStartStops() async throws {
        // Hold a port so the service's HTTP server cannot bind it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(listener, raw, length) == 0, listen(listener, 1) == 0, getsockname(listener, raw, &length) == 0 else {
                    throw POSIXError(.EADDRINUSE)
                }
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        // Nothing listens on port 1: the schema migration keeps retrying.
        let settings = ServiceSettings(
            serviceName: Bare.name, httpPort: port, postgres: PostgresConfiguration(port: 1, schema: "bare", connectTimeoutSeconds: 1),
            kafka: KafkaConfiguration(bootstrapServers: "127.0.0.1:1"), auth: AuthSettings(hmacSecret: Self.secret), logLevel: .critical)
        let host = try await ServiceHost.build(Bare.self, settings: settings, logger: Logger(label: "bare"))
        // The failed bind cancels the group; every service, the retrying migration included, must
        // end. Unstructured, so that a run that never ends fails the test instead of hanging it.
        let ended = Mutex<String?>(nil)
        let running = Task {
            do {
                try await host.run()
                ended.withLock { $0 = "returned" }
            } catch {
                ended.withLock { $0 = "failed" }
            }
        }
        // Generous: with the whole suite running on two cores the group can take a while to unwind.
        let deadline = ContinuousClock.now + .seconds(90)
        while ended.withLock({ $0 }) == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        running.cancel()
        let outcome = ended.withLock { $0 } ?? "still running"
        #expect(outcome == "failed")
    }

}
