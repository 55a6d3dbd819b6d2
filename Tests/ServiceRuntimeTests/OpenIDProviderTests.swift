import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import TestSupport
import Testing

@testable import ServiceRuntime

/// An identity provider as the services meet it: a real HTTP server on this machine publishing a
/// discovery document and a key set, with RSA and EC keys made for the test, and tokens shaped
/// as Keycloak shapes them (roles under `realm_access.roles`).
final class LocalProvider: Sendable {
    let rsa: Insecure.RSA.PrivateKey
    let ec = ES256PrivateKey()
    let stranger = ES256PrivateKey()
    let signers = JWTKeyCollection()
    /// The keys the server publishes (changed by a test to rotate them) and how often it was asked.
    let published: Mutex<[[String: String]]>
    let fetches = Atomic<Int>(0)
    let issuer = Mutex<String>("")

    init() async throws {
        rsa = try Insecure.RSA.PrivateKey(pem: try await Self.generatedRSAKey())
        let primitives = try rsa.publicKey.getKeyPrimitives()
        let ecParameters = ec.publicKey.parameters!
        published = Mutex([
            ["kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": primitives.modulus.base64URL, "e": primitives.publicExponent.base64URL],
            ["kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": ecParameters.x, "y": ecParameters.y],
        ])
        await signers.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa-1")
        await signers.add(ecdsa: ec, kid: "ec-1")
        await signers.add(ecdsa: stranger, kid: "stranger")
    }

    /// A 2048-bit RSA key from OpenSSL's command line.
    static func generatedRSAKey() async throws -> String {
        try await ChildProcess.run(
            ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], executable: URL(fileURLWithPath: "/usr/bin/openssl"), errorOutput: .discarded
        ).output
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ -> Response in
            let issuer = self.issuer.withLock { $0 }
            let body = #"{"issuer":"\#(issuer)","jwks_uri":"\#(issuer)/jwks.json","authorization_endpoint":"\#(issuer)/authorize"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/jwks.json") { _, _ -> Response in
            self.fetches.add(1, ordering: .relaxed)
            let keys = self.published.withLock { $0 }
            let data = try JSONSerialization.data(withJSONObject: ["keys": keys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Array(data))))
        }
        return Application(router: router)
    }

    struct KeycloakClaims: JWTPayload {
        struct Realm: Codable { var roles: [String] }
        var iss: String
        var sub: String
        var aud: [String]
        var exp: Int
        var iat: Int
        var realmAccess: Realm
        var site: String?
        func verify(using algorithm: some JWTAlgorithm) async throws {}

        enum CodingKeys: String, CodingKey {
            case iss, sub, aud, exp, iat, site
            case realmAccess = "realm_access"
        }
    }

    func token(
        kid: String, roles: [String] = ["link-worker"], site: String? = "ottawa-west-chc", audience: String = "passerelle", issuer: String? = nil,
        lifetime: Int = 600
    ) async throws -> String {
        let now = Int(Date().timeIntervalSince1970)
        let claims = KeycloakClaims(
            iss: issuer ?? self.issuer.withLock { $0 }, sub: "amelie.roy", aud: [audience], exp: now + lifetime, iat: now,
            realmAccess: .init(roles: roles), site: site)
        return try await signers.sign(claims, kid: JWKIdentifier(string: kid))
    }
}

extension Data {
    fileprivate var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

@Suite("Tokens of an OpenID Connect provider, verified against its published keys")
struct OpenIDProviderTests {
    static let secret = "openid-provider-tests-secret-0123456789"

    func verifier(port: Int, minimumRefresh: TimeInterval = 30) async throws -> TokenVerifier {
        var settings = AuthSettings(hmacSecret: Self.secret, issuer: "passerelle-static", audience: "static-audience")
        settings.openIDProvider = OpenIDProviderSettings(
            discoveryURL: "http://127.0.0.1:\(port)/.well-known/openid-configuration", audience: "passerelle", rolesClaim: "realm_access.roles",
            siteClaim: "site", minimumRefreshInterval: minimumRefresh)
        return try await TokenVerifier(settings: settings)
    }

    func withProvider(_ body: @escaping @Sendable (LocalProvider, Int) async throws -> Void) async throws {
        let provider = try await LocalProvider()
        try await provider.application().test(.live) { client in
            let port = try #require(client.port)
            provider.issuer.withLock { $0 = "http://127.0.0.1:\(port)" }
            try await body(provider, port)
        }
    }

    func refusal(_ verifier: TokenVerifier, _ token: String) async -> ProblemDetails? {
        do {
            _ = try await verifier.identity(fromBearer: token)
            return nil
        } catch {
            return error
        }
    }

    @Test("RS256 and ES256 tokens are accepted, roles and site read where the provider puts them")
    func acceptsBothAlgorithms() async throws {
        try await withProvider { provider, port in
            let verifier = try await verifier(port: port)
            let rs = try await verifier.identity(fromBearer: try await provider.token(kid: "rsa-1"))
            #expect(rs == Identity(subject: "amelie.roy", roles: [.linkWorker], site: "ottawa-west-chc"))
            let es = try await verifier.identity(fromBearer: try await provider.token(kid: "ec-1", roles: ["coordinator", "offline_access"], site: nil))
            #expect(es == Identity(subject: "amelie.roy", roles: [.coordinator], site: nil))
            // Keys are fetched once and kept.
            #expect(provider.fetches.load(ordering: .relaxed) == 1)
        }
    }

    @Test("Another audience, another issuer, an expired token, no Passerelle role: refused")
    func refusesWrongClaims() async throws {
        try await withProvider { provider, port in
            let verifier = try await verifier(port: port)
            #expect(await refusal(verifier, try await provider.token(kid: "rsa-1", audience: "account"))?.status == .unauthorized)
            #expect(await refusal(verifier, try await provider.token(kid: "rsa-1", issuer: "https://elsewhere.example"))?.status == .unauthorized)
            #expect(await refusal(verifier, try await provider.token(kid: "ec-1", lifetime: -60))?.status == .unauthorized)
            #expect(await refusal(verifier, try await provider.token(kid: "ec-1", roles: ["offline_access"]))?.status == .forbidden)
            // Longer than the services allow, though the provider signed it.
            #expect(await refusal(verifier, try await provider.token(kid: "rsa-1", lifetime: 13 * 3600))?.status == .unauthorized)
            // A signature made with another key under a published key id.
            let forged = try await provider.token(kid: "rsa-1").split(separator: ".")
            let other = try await provider.token(kid: "ec-1", roles: ["coordinator"]).split(separator: ".")
            #expect(await refusal(verifier, "\(forged[0]).\(other[1]).\(forged[2])")?.status == .unauthorized)
        }
    }

    @Test("A key the provider does not publish is refused, and made-up key ids cannot flood the provider")
    func unknownKeysAreBounded() async throws {
        try await withProvider { provider, port in
            let verifier = try await verifier(port: port, minimumRefresh: 30)
            _ = try await verifier.identity(fromBearer: try await provider.token(kid: "rsa-1"))
            for _ in 0..<20 {
                #expect(await refusal(verifier, try await provider.token(kid: "stranger"))?.status == .unauthorized)
            }
            // The first verification fetched the keys; within the refresh interval no unknown key
            // fetches them again.
            #expect(provider.fetches.load(ordering: .relaxed) == 1)
        }
    }

    @Test("A rotated key is fetched when a token first names it")
    func rotation() async throws {
        try await withProvider { provider, port in
            let verifier = try await verifier(port: port, minimumRefresh: 0)
            _ = try await verifier.identity(fromBearer: try await provider.token(kid: "rsa-1"))
            #expect(await refusal(verifier, try await provider.token(kid: "stranger"))?.status == .unauthorized)
            let parameters = provider.stranger.publicKey.parameters!
            provider.published.withLock {
                $0.append(["kty": "EC", "kid": "stranger", "alg": "ES256", "crv": "P-256", "x": parameters.x, "y": parameters.y])
            }
            let identity = try await verifier.identity(fromBearer: try await provider.token(kid: "stranger"))
            #expect(identity.subject == "amelie.roy")
        }
    }

    @Test("HS256 tokens keep working beside the provider, with their own issuer and audience")
    func staticTokensStillWork() async throws {
        try await withProvider { provider, port in
            let verifier = try await verifier(port: port)
            let token = try await verifier.sign(
                AccessClaims(
                    subject: "intake", roles: [.service], site: nil, expires: Date().addingTimeInterval(300), issuer: "passerelle-static",
                    audience: "static-audience"))
            #expect(try await verifier.identity(fromBearer: token).roles == [.service])
            // A provider-shaped header naming HS256 is not handed to the provider's keys: it is an
            // HS256 token like any other, and this one is not signed with the secret.
            let header = Data(#"{"alg":"HS256","kid":"rsa-1","typ":"JWT"}"#.utf8).base64URL
            let body = try await provider.token(kid: "rsa-1").split(separator: ".")[1]
            #expect(await refusal(verifier, "\(header).\(body).c2lnbmF0dXJl")?.status == .unauthorized)
            #expect(provider.fetches.load(ordering: .relaxed) == 0)
        }
    }

    @Test("A provider that cannot be reached makes verification unavailable (503), not a wrong token")
    func unreachableProvider() async throws {
        let provider = try await LocalProvider()
        provider.issuer.withLock { $0 = "http://127.0.0.1:9" }
        let verifier = try await verifier(port: 9)
        #expect(await refusal(verifier, try await provider.token(kid: "rsa-1"))?.status == .serviceUnavailable)
    }

    @Test("Configuration: the provider needs an audience, and https outside development")
    func configuration() throws {
        let base = ["PASSERELLE_JWT_HS256_SECRET": "x7Qp2LrV9sKe4TzW1nBy6HdM3cFa8GjU0oRiXlE5vNq", "PASSERELLE_JWT_ISSUER": "i", "PASSERELLE_JWT_AUDIENCE": "a"]
        #expect(throws: ConfigurationError.self) {
            try AuthSettings.fromEnvironment(Environment(base.merging(["PASSERELLE_OIDC_DISCOVERY_URL": "https://id.example.org/realms/p"]) { $1 }))
        }
        #expect(throws: ConfigurationError.self) {
            try AuthSettings.fromEnvironment(
                Environment(base.merging(["PASSERELLE_OIDC_DISCOVERY_URL": "http://id.example.org", "PASSERELLE_OIDC_AUDIENCE": "p"]) { $1 }))
        }
        // A provider on the services' own network may be plain http, only when said so exactly.
        let onNetwork = base.merging(["PASSERELLE_OIDC_DISCOVERY_URL": "http://identity:8180", "PASSERELLE_OIDC_AUDIENCE": "p"]) { $1 }
        #expect(throws: ConfigurationError.self) {
            try AuthSettings.fromEnvironment(Environment(onNetwork.merging(["PASSERELLE_OIDC_ALLOW_HTTP": "yes"]) { $1 }))
        }
        let http = try AuthSettings.fromEnvironment(Environment(onNetwork.merging(["PASSERELLE_OIDC_ALLOW_HTTP": "true"]) { $1 }))
        #expect(http.openIDProvider?.discoveryURL == "http://identity:8180/.well-known/openid-configuration")
        let settings = try AuthSettings.fromEnvironment(
            Environment(
                base.merging([
                    "PASSERELLE_OIDC_DISCOVERY_URL": "https://id.example.org/realms/p/", "PASSERELLE_OIDC_AUDIENCE": "p",
                    "PASSERELLE_OIDC_ROLES_CLAIM": "realm_access.roles",
                ]) { $1 }))
        #expect(settings.openIDProvider?.discoveryURL == "https://id.example.org/realms/p/.well-known/openid-configuration")
        #expect(settings.openIDProvider?.rolesClaim == "realm_access.roles")
        #expect(settings.openIDProvider?.siteClaim == "site")
    }
}
