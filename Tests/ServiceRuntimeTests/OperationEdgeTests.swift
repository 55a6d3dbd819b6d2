import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaClient
import Logging
import PostgresClient
import Testing

@testable import ServiceRuntime

/// The edge every service's routes run behind: the contract decides roles, undeclared methods
/// are 405, ids that name nothing are 404, and every operation is counted and timed.
@Suite("Operation edge: contract roles, 405, path ids, per-operation metrics")
struct OperationEdgeTests {
    static let secret = "operation-edge-tests-secret-0123456789"

    /// One operation readable by coordinators; its handler checks nothing itself.
    enum Things: PasserelleService {
        static let name = "things"
        static let defaultPort = 0
        static let migrations = [Migration(1, "nothing", "SELECT 1")]
        static let openAPIDocument = thingsDocument(
            routes:
                #""/v1/things/{id}": {"get": {"operationId": "getThing", "x-passerelle-roles": ["coordinator"], "responses": {"200": {"description": "a thing"}}}}"#
        )
        static func build(_ components: ServiceComponents) async throws -> ServiceParts {
            ServiceParts(routes: [ThingRoutes()])
        }
    }

    /// The same operation under a name of its own, so that no other test's requests count in it
    /// (the metrics registry is process-wide and tests run in parallel).
    enum Measured: PasserelleService {
        static let name = "measured"
        static let defaultPort = 0
        static let migrations = [Migration(1, "nothing", "SELECT 1")]
        static let openAPIDocument = thingsDocument(
            routes:
                #""/v1/things/{id}": {"get": {"operationId": "getMeasuredThing", "x-passerelle-roles": ["coordinator"], "responses": {"200": {"description": "a thing"}}}}"#
        )
        static func build(_ components: ServiceComponents) async throws -> ServiceParts {
            ServiceParts(routes: [ThingRoutes()])
        }
    }

    /// The same routes, with a document that forgot them.
    enum Undocumented: PasserelleService {
        static let name = "undocumented"
        static let defaultPort = 0
        static let migrations = [Migration(1, "nothing", "SELECT 1")]
        static let openAPIDocument = thingsDocument(
            routes: #""/v1/other": {"get": {"operationId": "getOther", "x-passerelle-roles": ["coordinator"], "responses": {"200": {"description": "other"}}}}"#
        )
        static func build(_ components: ServiceComponents) async throws -> ServiceParts {
            ServiceParts(routes: [ThingRoutes()])
        }
    }

    struct ThingRoutes: ServiceRoutes {
        func add(to router: Router<PasserelleRequestContext>) {
            router.get("/v1/things/{id}") { _, context -> String in
                "\(try context.pathID()) for \(try context.caller().subject)"
            }
        }
    }

    static func settings(_ name: String) -> ServiceSettings {
        ServiceSettings(
            serviceName: name, httpPort: 0, postgres: PostgresConfiguration(port: 1, schema: name, connectTimeoutSeconds: 1),
            kafka: KafkaConfiguration(bootstrapServers: "127.0.0.1:1"), auth: AuthSettings(hmacSecret: secret), logLevel: .critical)
    }

    func token(_ role: Role) async throws -> String {
        try await TokenVerifier(settings: AuthSettings(hmacSecret: Self.secret))
            .sign(AccessClaims(subject: "someone", roles: [role], site: role.isNetworkWide ? nil : "ottawa-west-chc", expires: Date().addingTimeInterval(600)))
    }

    @Test("the contract's roles decide: no token 401, another role 403, a listed role reaches the handler")
    func rolesComeFromTheContract() async throws {
        let host = try await ServiceHost.build(Things.self, settings: Self.settings("things"), logger: Logger(label: "things"))
        let id = UUID().uuidString.lowercased()
        try await host.application.test(.router) { client in
            #expect(try await client.execute(uri: "/v1/things/\(id)", method: .get).status == .unauthorized)
            let analyst = try await client.execute(uri: "/v1/things/\(id)", method: .get, headers: [.authorization: "Bearer \(try await token(.analyst))"])
            #expect(analyst.status == .forbidden)
            #expect(String(buffer: analyst.body).contains("getThing needs one of the roles coordinator"))
            let coordinator = try await client.execute(
                uri: "/v1/things/\(id)", method: .get, headers: [.authorization: "Bearer \(try await token(.coordinator))"])
            #expect(coordinator.status == .ok)
            #expect(String(buffer: coordinator.body) == "\(id.uppercased()) for someone")
        }
        await host.components.pool.close()
    }

    @Test("a method the contract does not declare on a known path is 405 with Allow, before any token is asked for")
    func undeclaredMethodsAre405() async throws {
        let host = try await ServiceHost.build(Things.self, settings: Self.settings("things"), logger: Logger(label: "things"))
        try await host.application.test(.router) { client in
            for method in [HTTPRequest.Method.post, .put, .patch, .delete, .head, .options, .trace] {
                let response = try await client.execute(uri: "/v1/things/\(UUID())", method: method)
                #expect(response.status == .methodNotAllowed, "\(method)")
                #expect(response.headers[.allow] == "GET", "\(method)")
            }
            let health = try await client.execute(uri: "/health/live", method: .post)
            #expect(health.status == .methodNotAllowed)
            #expect(health.headers[.allow] == "GET")
            // An unknown path stays 404.
            #expect(try await client.execute(uri: "/v1/nothing", method: .post).status == .notFound)
        }
        await host.components.pool.close()
    }

    @Test("an answer's headers read as the handler set them: percent escapes decoded as Foundation decodes them")
    func plainHeadersDecodeAsFoundation() {
        let samples = [
            "%2Fv1%2Freferrals%2F0b9f", "plain", "100%25", "caf%C3%A9", "%e2%82%AC", "%", "%4", "%zz", "%FF%FE", "a%2", "%2f%2F",
        ]
        for sample in samples {
            #expect(GeneratedRouteTransport.percentDecoded(sample) == sample.removingPercentEncoding, "\(sample)")
        }
        var fields = HTTPFields()
        fields[.location] = "%2Fv1%2Freferrals%2Fx"
        fields[.contentType] = "application/json"
        fields[.init("X-Broken")!] = "%zz"
        let plain = GeneratedRouteTransport.plainHeaders(fields)
        #expect(plain[.location] == "/v1/referrals/x")
        #expect(plain[.contentType] == "application/json")
        #expect(plain[.init("X-Broken")!] == "%zz")
    }

    @Test("a path id that is not a UUID names nothing: 404, not 400 or 500")
    func malformedIDsAre404() async throws {
        let host = try await ServiceHost.build(Things.self, settings: Self.settings("things"), logger: Logger(label: "things"))
        let token = try await token(.coordinator)
        try await host.application.test(.router) { client in
            for id in ["not-a-uuid", "%00", "1", String(repeating: "a", count: 300)] {
                let response = try await client.execute(uri: "/v1/things/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(response.status == .notFound, "\(id)")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
        await host.components.pool.close()
    }

    @Test("a host whose routes and document disagree does not build")
    func disagreementStopsTheBuild() async throws {
        let error = await #expect(throws: ServiceContractError.self) {
            _ = try await ServiceHost.build(Undocumented.self, settings: Self.settings("undocumented"), logger: Logger(label: "undocumented"))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("GET /v1/things/{id} is routed but not in the OpenAPI document"))
        #expect(text.contains("GET /v1/other is in the OpenAPI document but not routed"))
    }

    @Test("a document with a secured operation that names no roles, or an unknown role, is refused")
    func rolesAreRequired() {
        #expect(throws: ServiceContractError.self) {
            try ServiceContract(document: thingsDocument(routes: #""/x": {"get": {"operationId": "x", "responses": {}}}"#))
        }
        #expect(throws: ServiceContractError.self) {
            try ServiceContract(document: thingsDocument(routes: #""/x": {"get": {"operationId": "x", "x-passerelle-roles": ["root"], "responses": {}}}"#))
        }
    }

    @Test("every request is counted by operation and status class, and timed")
    func operationsAreMeasured() async throws {
        Observability.bootstrap(logLevel: .critical, json: false)
        let host = try await ServiceHost.build(Measured.self, settings: Self.settings("measured"), logger: Logger(label: "measured"))
        let token = try await token(.coordinator)
        try await host.application.test(.router) { client in
            for _ in 0..<3 { _ = try await client.execute(uri: "/v1/things/\(UUID())", method: .get, headers: [.authorization: "Bearer \(token)"]) }
            _ = try await client.execute(uri: "/v1/things/\(UUID())", method: .get)
            _ = try await client.execute(uri: "/v1/unknown/\(UUID())", method: .get)
        }
        let text = String(decoding: Observability.prometheusText(), as: UTF8.self)
        #expect(text.contains(#"passerelle_http_server_requests_total{operation="getMeasuredThing",method="GET",status_class="2xx"} 3"#), "\(text)")
        #expect(text.contains(#"passerelle_http_server_requests_total{operation="getMeasuredThing",method="GET",status_class="4xx"} 1"#))
        #expect(text.contains(#"passerelle_http_server_requests_total{operation="unmatched",method="other",status_class="4xx"}"#))
        #expect(text.contains(#"passerelle_http_server_request_duration_seconds_count{operation="getMeasuredThing",method="GET"} 4"#))
        await host.components.pool.close()
    }
}

/// A contract with the operations every host serves, plus `routes` (JSON members of `paths`).
func thingsDocument(routes: String) -> String {
    """
    {"openapi": "3.1.0", "info": {"title": "things", "version": "1"}, "security": [{"bearerAuth": []}], "paths": {
      \(routes),
      "/health/live": {"get": {"operationId": "getLiveness", "security": [], "responses": {"200": {"description": "live"}}}},
      "/health/ready": {"get": {"operationId": "getReadiness", "security": [], "responses": {"200": {"description": "ready"}}}},
      "/metrics": {"get": {"operationId": "getMetrics", "security": [], "responses": {"200": {"description": "metrics"}}}},
      "/openapi.json": {"get": {"operationId": "getOpenAPIDocument", "security": [], "responses": {"200": {"description": "this"}}}}
    }}
    """
}

@Suite("Site scope: one decision for every route")
struct SiteScopeTests {
    @Test("every role acts within the sites its token names, coordinators and services too; only a network-wide role everywhere")
    func siteScope() {
        for role in Role.allCases where !role.isNetworkWide {
            let bound = Identity(subject: "x", roles: [role], site: "ottawa-west-chc")
            #expect(bound.mayWork(at: "ottawa-west-chc"), "\(role)")
            #expect(!bound.mayWork(at: "gatineau-clsc"), "\(role)")
            #expect(bound.sitesInScope == ["ottawa-west-chc"], "\(role)")
            let siteless = Identity(subject: "x", roles: [role], site: nil)
            #expect(!siteless.mayWork(at: "ottawa-west-chc"), "\(role)")
            #expect(siteless.sitesInScope == [], "\(role)")
        }
        let several = Identity(subject: "c", roles: [.coordinator], sites: ["ottawa-west-chc", "gatineau-clsc"])
        #expect(several.mayWork(at: "gatineau-clsc") && several.mayWork(at: "ottawa-west-chc") && !several.mayWork(at: "rural-east"))
        #expect(several.site == nil, "several sites imply none in particular")
        let network = Identity(subject: "n", roles: [.networkCoordinator], sites: [])
        #expect(network.mayWork(at: "rural-east"))
        #expect(network.sitesInScope == nil)
        #expect(Role.allCases.filter(\.isNetworkWide) == [.networkCoordinator])
    }

    static let secret = "site-scope-tests-secret-0123456789-abcdef"

    func identity(_ claims: AccessClaims) async throws -> Identity {
        let verifier = try await TokenVerifier(settings: AuthSettings(hmacSecret: Self.secret))
        return try await verifier.identity(fromBearer: try await verifier.sign(claims))
    }

    @Test("site and sites claims: one, several, both, an empty array; a network-wide role with a site is refused")
    func claims() async throws {
        let expires = Date().addingTimeInterval(600)
        #expect(try await identity(AccessClaims(subject: "c", roles: [.coordinator], site: "a-site", expires: expires)).sites == ["a-site"])
        let several = try await identity(AccessClaims(subject: "c", roles: [.coordinator], site: nil, sites: ["a-site", "b-site"], expires: expires))
        #expect(several.sites == ["a-site", "b-site"])
        let both = try await identity(AccessClaims(subject: "c", roles: [.coordinator], site: "a-site", sites: ["b-site"], expires: expires))
        #expect(both.sites == ["a-site", "b-site"])
        // An empty array is no site at all, not every site.
        let empty = try await identity(AccessClaims(subject: "c", roles: [.coordinator, .service], site: nil, sites: [], expires: expires))
        #expect(empty.sitesInScope == [])
        #expect(!empty.mayWork(at: "a-site"))
        let network = try await identity(AccessClaims(subject: "n", roles: [.networkCoordinator], site: nil, expires: expires))
        #expect(network.sitesInScope == nil)
        // Bounded or not? The token contradicts itself, whichever claim names the site.
        for (site, sites) in [("a-site", nil), (nil, ["a-site"])] as [(String?, [String]?)] {
            do {
                _ = try await identity(AccessClaims(subject: "n", roles: [.networkCoordinator, .linkWorker], site: site, sites: sites, expires: expires))
                Issue.record("a network-wide role with a site was accepted")
            } catch let problem as ProblemDetails {
                #expect(problem.status == .forbidden)
                #expect(problem.detail?.contains("network-wide") == true)
            }
        }
    }
}

@Suite("Text PostgreSQL cannot store: refused at the edge with a pointer")
struct StorableTextTests {
    @Test("a NUL or an unpaired surrogate in a body is a 422 at each field; clean bodies and paired surrogates pass untouched")
    func bodies() throws {
        let clean = Data(#"{"name": "Élodie \ud83d\ude00", "path": "a\\u0000b"}"#.utf8)
        #expect(try StorableText.checked(clean) == clean)
        let refused = #expect(throws: ProblemDetails.self) {
            try StorableText.checked(Data(#"{"client": {"givenName": "A\u0000"}, "needs": ["x", "\udc00"], "k\u0000": 1}"#.utf8))
        }
        #expect(refused?.status == .unprocessableContent)
        #expect(Set(refused?.errors.map(\.pointer) ?? []) == ["/client/givenName", "/needs/1", ""])
        // Not JSON at all: left to the decoder, which points at it (400).
        let garbage = Data(#"{"a": "\u0000"#.utf8)
        #expect(try StorableText.checked(garbage) == garbage)
    }

    struct Client: Codable {
        struct Name: Codable { var givenName: String }
        var client: Name
        var needs: [String]
    }

    @Test("decoding checks the members the type reads, at their pointers, and ignores the others whatever they hold")
    func decoding() throws {
        let refused = #expect(throws: ProblemDetails.self) {
            try StorableText.decode(Client.self, from: Data(#"{"client": {"givenName": "A\u0000"}, "needs": ["x", "\udc00"], "extra\u0000": "\u0000"}"#.utf8))
        }
        #expect(Set(refused?.errors.map(\.pointer) ?? []) == ["/client/givenName", "/needs/1"])
        struct OnlyDecodable: Decodable {
            var name: String
            var tags: [String: String]
        }
        let reflected = #expect(throws: ProblemDetails.self) {
            try StorableText.decode(OnlyDecodable.self, from: Data(#"{"name": "\u0000", "tags": {"a": "b\u0000"}, "other": "\u0000"}"#.utf8))
        }
        #expect(Set(reflected?.errors.map(\.pointer) ?? []) == ["/name", "/tags/a"])
        let read = try StorableText.decode(Client.self, from: Data(#"{"client": {"givenName": "Élodie"}, "needs": [], "notes": "a\u0000b"}"#.utf8))
        #expect(read.client.givenName == "Élodie")
    }

    @Test("the fast scan finds every escape worth a full check, in either case")
    func scan() {
        #expect(StorableText.mayHoldUnstorableEscape(Data(#""\u0000""#.utf8)))
        #expect(StorableText.mayHoldUnstorableEscape(Data(#""\uD83D""#.utf8)))
        #expect(StorableText.mayHoldUnstorableEscape(Data(#""\udfff""#.utf8)))
        #expect(!StorableText.mayHoldUnstorableEscape(Data(#"{"a": "\u00e9\u2028"}"#.utf8)))
        #expect(!StorableText.mayHoldUnstorableEscape(Data(#"{"a": "plain"}"#.utf8)))
    }

    @Test("a NUL in a query parameter is a 422 naming it; in a path parameter, 404")
    func parameters() async throws {
        let host = try await ServiceHost.build(OperationEdgeTests.Things.self, settings: OperationEdgeTests.settings("things"), logger: Logger(label: "things"))
        let token = try await TokenVerifier(settings: AuthSettings(hmacSecret: OperationEdgeTests.secret))
            .sign(AccessClaims(subject: "someone", roles: [.coordinator], site: nil, expires: Date().addingTimeInterval(600)))
        try await host.application.test(.router) { client in
            let query = try await client.execute(uri: "/v1/things/\(UUID())?q=a%00b", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(query.status == .unprocessableContent)
            #expect(String(buffer: query.body).contains("?q"))
            let path = try await client.execute(uri: "/v1/things/a%00b", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(path.status == .notFound)
        }
        await host.components.pool.close()
    }
}
