import Foundation
import Hummingbird
import JWTKit
import Synchronization

/// Who may do what. Every HTTP API except health (and optionally metrics) needs a bearer token.
/// Every role but `network-coordinator` is bounded by the sites its token names.
public enum Role: String, Codable, Sendable, CaseIterable {
    case referrer
    case linkWorker = "link-worker"
    /// Coordinates the sites its token names (`site` or `sites`).
    case coordinator
    /// Coordinates the whole network: the one role no site bounds, and the one that edits what
    /// every site shares (templates, recipients, webhook targets).
    case networkCoordinator = "network-coordinator"
    case analyst
    /// Another Passerelle service, calling for the sites its token names; not for integrations.
    case service
    /// An EHR sending referrals (FHIR) for the organisation or site its token names; it sees
    /// only what it sent.
    case ehrIntegration = "ehr-integration"

    /// Whether the role acts on every site; a token holding one names no site.
    public var isNetworkWide: Bool { self == .networkCoordinator }
}

/// The caller, from a verified token.
public struct Identity: Sendable, Equatable {
    public var subject: String
    public var roles: Set<Role>
    /// The sites the token names (`site` and `sites`); what every role but a network-wide one
    /// is bounded by. Empty: no site at all, so nothing site-bound is reachable.
    public var sites: Set<String>

    public init(subject: String, roles: Set<Role>, sites: Set<String>) {
        self.subject = subject
        self.roles = roles
        self.sites = sites
    }

    public init(subject: String, roles: Set<Role>, site: String?) {
        self.init(subject: subject, roles: roles, sites: site.map { [$0] } ?? [])
    }

    public func has(_ role: Role) -> Bool { roles.contains(role) }
    public func hasAny(_ roles: Role...) -> Bool { !self.roles.isDisjoint(with: roles) }

    /// Whether the caller holds a role no site bounds.
    public var isNetworkWide: Bool { roles.contains(where: \.isNetworkWide) }

    /// The one site the token names, when it names exactly one (where a single site is implied,
    /// e.g. a FHIR referral without a performer).
    public var site: String? { sites.count == 1 ? sites.first : nil }

    /// The one site-scope decision every route makes: may this caller act on something that
    /// belongs to `site`? A network-wide role acts everywhere; everyone else (coordinators and
    /// services included) within the sites their token names.
    public func mayWork(at site: String) -> Bool {
        guard let sites = sitesInScope else { return true }
        return sites.contains(site)
    }

    /// The sites a list may show this caller: nil for every site, empty for none.
    public var sitesInScope: Set<String>? {
        isNetworkWide ? nil : sites
    }
}

extension Identity {
    /// The identity a verified token's claims grant. Roles Passerelle does not know are ignored;
    /// none known is 403. A token naming a site and a network-wide role contradicts itself (is it
    /// bounded or not?) and is refused rather than guessed at; an empty `sites` is no site.
    public init(claims: AccessClaims) throws(ProblemDetails) {
        let roles = Set(claims.roles.compactMap(Role.init(rawValue:)))
        guard !roles.isEmpty else {
            throw ProblemDetails(
                status: .forbidden, title: "No role", detail: "the token carries none of the roles \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let sites = Set((claims.sites ?? []) + (claims.site.map { [$0] } ?? []))
        if roles.contains(where: \.isNetworkWide), !sites.isEmpty {
            throw ProblemDetails(
                status: .forbidden, title: "Contradictory token",
                detail: "a token with a network-wide role (\(roles.filter(\.isNetworkWide).map(\.rawValue).sorted().joined(separator: ", "))) names no site")
        }
        self.init(subject: claims.sub.value, roles: roles, sites: sites)
    }
}

/// The claims Passerelle reads: `sub`, `exp`, `iat` when present, `roles`, `site` (one) and/or
/// `sites` (several), and `iss`/`aud` when configured.
public struct AccessClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim?
    public var roles: [String]
    public var site: String?
    public var sites: [String]?
    public var iss: IssuerClaim?
    public var aud: AudienceClaim?

    public init(
        subject: String, roles: [Role], site: String?, sites: [String]? = nil, expires: Date, issued: Date = Date(), issuer: String? = nil,
        audience: String? = nil
    ) {
        self.sub = SubjectClaim(value: subject)
        self.exp = ExpirationClaim(value: expires)
        self.iat = IssuedAtClaim(value: issued)
        self.roles = roles.map(\.rawValue)
        self.site = site
        self.sites = sites
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
    /// The longest a token may be valid for: one whose `exp` lies further ahead, or whose
    /// `exp - iat` is longer, is refused, so a leaked token (or a key misused to mint
    /// long-lived ones) does not stay good for days.
    public var maxLifetime: TimeInterval
    /// The identity provider whose RS256/ES256 tokens are verified against its published keys.
    public var openIDProvider: OpenIDProviderSettings?

    public init(
        hmacSecret: String? = nil, ecdsaPublicKeyPEM: String? = nil, issuer: String? = nil, audience: String? = nil,
        maxLifetime: TimeInterval = AuthSettings.defaultMaxLifetime
    ) {
        self.hmacSecret = hmacSecret
        self.ecdsaPublicKeyPEM = ecdsaPublicKeyPEM
        self.issuer = issuer
        self.audience = audience
        self.maxLifetime = maxLifetime
    }

    /// 12 hours: a working day's shift, after which the identity provider issues a new token.
    public static let defaultMaxLifetime: TimeInterval = 12 * 3600

    /// The well-known secret of the local stack; refused unless `PASSERELLE_ALLOW_DEV_SECRET=true`.
    public static let developmentSecret = "passerelle-local-development-secret-change-me"

    static func fromEnvironment(_ e: Environment) throws(ConfigurationError) -> AuthSettings {
        let minutes = try e.int("PASSERELLE_JWT_MAX_LIFETIME_MINUTES", default: Int(defaultMaxLifetime / 60))
        guard (1...(7 * 24 * 60)).contains(minutes) else {
            throw ConfigurationError(variable: "PASSERELLE_JWT_MAX_LIFETIME_MINUTES", problem: "must be between 1 and 10080 (a week), not \(minutes)")
        }
        var settings = AuthSettings(
            hmacSecret: try e.secret("PASSERELLE_JWT_HS256_SECRET"),
            issuer: e.optionalString("PASSERELLE_JWT_ISSUER"),
            audience: e.optionalString("PASSERELLE_JWT_AUDIENCE"),
            maxLifetime: TimeInterval(minutes * 60))
        // Outside development a token must name who issued it and whom it is for: otherwise a
        // token the same identity provider issued for another application would be accepted.
        if !e.allowsDevelopmentSecrets {
            for (variable, value) in [("PASSERELLE_JWT_ISSUER", settings.issuer), ("PASSERELLE_JWT_AUDIENCE", settings.audience)] where value == nil {
                throw ConfigurationError(variable: variable, problem: "is required (or PASSERELLE_ALLOW_DEV_SECRET=true for local runs)")
            }
        }
        if let path = e.optionalString("PASSERELLE_JWT_ES256_PUBLIC_KEY_FILE") {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(variable: "PASSERELLE_JWT_ES256_PUBLIC_KEY_FILE", problem: "cannot read \(path)")
            }
            settings.ecdsaPublicKeyPEM = pem
        }
        settings.openIDProvider = try OpenIDProviderSettings.fromEnvironment(e)
        if settings.hmacSecret == nil && settings.ecdsaPublicKeyPEM == nil && settings.openIDProvider == nil {
            guard e.allowsDevelopmentSecrets else {
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
    private let provider: OpenIDProviderKeys?
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
        self.provider = settings.openIDProvider.map { OpenIDProviderKeys(settings: $0) }
    }

    public func identity(fromBearer token: String) async throws(ProblemDetails) -> Identity {
        if let identity = verified.identity(for: token, at: Date()) { return identity }
        let claims: AccessClaims
        // The provider's tokens are checked against its own issuer and audience; the static
        // ones below are those of the tokens signed with the configured keys.
        let fromProvider = provider != nil && OpenIDProviderKeys.providerHeader(of: token) != nil
        do {
            if let provider, fromProvider {
                claims = try await provider.verify(token)
            } else {
                claims = try await keys.verify(token, as: AccessClaims.self)
            }
        } catch OpenIDProviderError.unreachable(let url, let problem) {
            throw ProblemDetails(status: .serviceUnavailable, title: "Identity provider unreachable", detail: "\(url): \(problem)", retryAfter: 5)
        } catch {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the bearer token could not be verified: \(error)")
        }
        if !fromProvider, let issuer = settings.issuer, claims.iss?.value != issuer {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the token was not issued by \(issuer)")
        }
        if !fromProvider, let audience = settings.audience, claims.aud?.value.contains(audience) != true {
            throw ProblemDetails(status: .unauthorized, title: "Invalid token", detail: "the token is not meant for \(audience)")
        }
        // Checked here, not in `AccessClaims.verify`, which cannot see the settings.
        let now = Date()
        if claims.exp.value.timeIntervalSince(now) > settings.maxLifetime {
            throw ProblemDetails(
                status: .unauthorized, title: "Invalid token",
                detail: "the token is valid for longer than the \(Int(settings.maxLifetime / 60)) minutes allowed")
        }
        if let issued = claims.iat?.value, claims.exp.value.timeIntervalSince(issued) > settings.maxLifetime {
            throw ProblemDetails(
                status: .unauthorized, title: "Invalid token",
                detail: "the token was issued for longer than the \(Int(settings.maxLifetime / 60)) minutes allowed")
        }
        let identity = try Identity(claims: claims)
        verified.remember(token, as: identity, until: claims.exp.value)
        return identity
    }

    /// Signs a token with the HS256 secret: tests only. No service executable mints tokens (local
    /// runs use deploy/local/dev-token.py; production tokens come from the identity provider).
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
