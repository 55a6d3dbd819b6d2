import Foundation
import Hummingbird
import JWTKit
import Synchronization

/// Who may do what. Every HTTP API except health (and optionally metrics) needs a bearer token.
public enum Role: String, Codable, Sendable, CaseIterable {
    case referrer
    case linkWorker = "link-worker"
    case coordinator
    case analyst
    /// Another Passerelle service or an integration.
    case service
}

/// The caller, from a verified token.
public struct Identity: Sendable, Equatable {
    public var subject: String
    public var roles: Set<Role>
    /// The site the caller works at; scopes what link workers see.
    public var site: String?

    public init(subject: String, roles: Set<Role>, site: String?) {
        self.subject = subject
        self.roles = roles
        self.site = site
    }

    public func has(_ role: Role) -> Bool { roles.contains(role) }
    public func hasAny(_ roles: Role...) -> Bool { !self.roles.isDisjoint(with: roles) }

    /// The one site-scope decision every route makes: may this caller act on something that
    /// belongs to `site`? Coordinators and the services' own role act network-wide; everyone
    /// else within the site their token names.
    public func mayWork(at site: String) -> Bool {
        guard let sites = sitesInScope else { return true }
        return sites.contains(site)
    }

    /// The sites a list may show this caller: nil for every site, empty for none.
    public var sitesInScope: Set<String>? {
        if hasAny(.coordinator, .service) { return nil }
        return site.map { [$0] } ?? []
    }
}

/// The claims Passerelle reads: `sub`, `exp`, `roles`, `site`, and `iss`/`aud` when configured.
public struct AccessClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var roles: [String]
    public var site: String?
    public var iss: IssuerClaim?
    public var aud: AudienceClaim?

    public init(subject: String, roles: [Role], site: String?, expires: Date, issuer: String? = nil, audience: String? = nil) {
        self.sub = SubjectClaim(value: subject)
        self.exp = ExpirationClaim(value: expires)
        self.roles = roles.map(\.rawValue)
        self.site = site
        self.iss = issuer.map { IssuerClaim(value: $0) }
        self.aud = audience.map { AudienceClaim(value: [$0]) }
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

public struct AuthSettings: Sendable {
    /// Shared secret for HS256 tokens (local runs, tests, single-tenant deployments).
    public var hmacSecret: String?
    /// PEM of an ES256 public key (tokens from an identity provider).
    public var ecdsaPublicKeyPEM: String?
    public var issuer: String?
    public var audience: String?

    public init(hmacSecret: String? = nil, ecdsaPublicKeyPEM: String? = nil, issuer: String? = nil, audience: String? = nil) {
        self.hmacSecret = hmacSecret
        self.ecdsaPublicKeyPEM = ecdsaPublicKeyPEM
        self.issuer = issuer
        self.audience = audience
    }

    /// The well-known secret of the local stack; refused unless `PASSERELLE_ALLOW_DEV_SECRET=true`.
    public static let developmentSecret = "passerelle-local-development-secret-change-me"

    static func fromEnvironment(_ e: Environment) throws(ConfigurationError) -> AuthSettings {
        var settings = AuthSettings(
            hmacSecret: try e.secret("PASSERELLE_JWT_HS256_SECRET"),
            issuer: e.optionalString("PASSERELLE_JWT_ISSUER"),
            audience: e.optionalString("PASSERELLE_JWT_AUDIENCE"))
        if let path = e.optionalString("PASSERELLE_JWT_ES256_PUBLIC_KEY_FILE") {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(variable: "PASSERELLE_JWT_ES256_PUBLIC_KEY_FILE", problem: "cannot read \(path)")
            }
            settings.ecdsaPublicKeyPEM = pem
        }
        if settings.hmacSecret == nil && settings.ecdsaPublicKeyPEM == nil {
            guard e.string("PASSERELLE_ALLOW_DEV_SECRET", default: "false") == "true" else {
                throw ConfigurationError(
                    variable: "PASSERELLE_JWT_HS256_SECRET",
                    problem: "no token key configured (set it, PASSERELLE_JWT_ES256_PUBLIC_KEY_FILE, or PASSERELLE_ALLOW_DEV_SECRET=true for local runs)")
            }
            settings.hmacSecret = developmentSecret
        }
        if let secret = settings.hmacSecret, secret.utf8.count < 32 {
            throw ConfigurationError(variable: "PASSERELLE_JWT_HS256_SECRET", problem: "must be at least 32 bytes")
        }
        return settings
    }
}

/// Verifies bearer tokens with the configured keys.
public struct TokenVerifier: Sendable {
    private let keys: JWTKeyCollection
    private let settings: AuthSettings
    let verified = VerifiedTokens()

    public init(settings: AuthSettings) async throws {
        let keys = JWTKeyCollection()
        if let secret = settings.hmacSecret {
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        if let pem = settings.ecdsaPublicKeyPEM {
            await keys.add(ecdsa: try ES256PublicKey(pem: pem))
        }
        self.keys = keys
        self.settings = settings
    }

    public func identity(fromBearer token: String) async throws(ProblemDetails) -> Identity {
        if let identity = verified.identity(for: token, at: Date()) { return identity }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the bearer token could not be verified: \(error)")
        }
        if let issuer = settings.issuer, claims.iss?.value != issuer {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the token was not issued by \(issuer)")
        }
        if let audience = settings.audience, claims.aud?.value.contains(audience) != true {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the token is not meant for \(audience)")
        }
        let roles = Set(claims.roles.compactMap(Role.init(rawValue:)))
        guard !roles.isEmpty else {
            throw ProblemDetails(
                status: .forbidden, title: "No role", detail: "the token carries none of the roles \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let identity = Identity(subject: claims.sub.value, roles: roles, site: claims.site)
        verified.remember(token, as: identity, until: claims.exp.value)
        return identity
    }

    /// Signs a token with the HS256 secret (local demo, tests, service-to-service).
    public func sign(_ claims: AccessClaims) async throws -> String {
        try await keys.sign(claims)
    }
}

/// Tokens this process has verified, with the identity each grants, until they expire. A client
/// sends the same token with every request; checking its signature and decoding its claims every
/// time was a twentieth of intake's CPU per referral. The keys never change while the process
/// runs, so the same token always verifies the same way until its `exp`.
final class VerifiedTokens: Sendable {
    static let capacity = 1_024
    private struct Entry {
        var identity: Identity
        var expires: Date
    }
    private let entries: Mutex<[String: Entry]>

    init() {
        entries = Mutex([:])
    }

    func identity(for token: String, at now: Date) -> Identity? {
        entries.withLock { entries in
            guard let entry = entries[token] else { return nil }
            guard now < entry.expires else {
                entries[token] = nil
                return nil
            }
            return entry.identity
        }
    }

    func remember(_ token: String, as identity: Identity, until expires: Date) {
        entries.withLock { entries in
            if entries.count >= Self.capacity {
                let now = Date()
                entries = entries.filter { now < $0.value.expires }
                // Still full of live tokens: start again rather than track which was used last.
                if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = Entry(identity: identity, expires: expires)
        }
    }
}
