import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1

/// The identity provider whose access tokens the services accept (Keycloak, Entra ID, the local
/// development provider, …): where its discovery document is, the audience its tokens must name,
/// and which claims carry the caller's roles and site.
public struct OpenIDProviderSettings: Sendable, Equatable {
    /// `<issuer>/.well-known/openid-configuration`.
    public var discoveryURL: String
    public var audience: String
    /// A dotted path into the token's claims, e.g. `realm_access.roles` (Keycloak) or `roles`.
    public var rolesClaim: String
    public var siteClaim: String
    /// The shortest time between two fetches of the keys when a token names a key not seen yet,
    /// so tokens with made-up key ids cannot turn the services into a flood on the provider.
    public var minimumRefreshInterval: TimeInterval
    /// Keys older than this are fetched again, so a key the provider withdrew stops being trusted.
    public var maximumKeyAge: TimeInterval

    public init(
        discoveryURL: String, audience: String, rolesClaim: String = "roles", siteClaim: String = "site", minimumRefreshInterval: TimeInterval = 30,
        maximumKeyAge: TimeInterval = 3600
    ) {
        self.discoveryURL = discoveryURL
        self.audience = audience
        self.rolesClaim = rolesClaim
        self.siteClaim = siteClaim
        self.minimumRefreshInterval = minimumRefreshInterval
        self.maximumKeyAge = maximumKeyAge
    }

    /// `PASSERELLE_OIDC_DISCOVERY_URL` (the issuer, or its discovery document),
    /// `PASSERELLE_OIDC_AUDIENCE`, `PASSERELLE_OIDC_ROLES_CLAIM`, `PASSERELLE_OIDC_SITE_CLAIM`,
    /// `PASSERELLE_OIDC_ALLOW_HTTP`; nil when no provider is configured.
    static func fromEnvironment(_ e: Environment) throws(ConfigurationError) -> OpenIDProviderSettings? {
        guard var url = e.optionalString("PASSERELLE_OIDC_DISCOVERY_URL") else { return nil }
        let suffix = "/.well-known/openid-configuration"
        if !url.hasSuffix(suffix) { url = url.trimmingSuffix("/") + suffix }
        guard let parsed = URL(string: url), let scheme = parsed.scheme, parsed.host != nil else {
            throw ConfigurationError(variable: "PASSERELLE_OIDC_DISCOVERY_URL", problem: "\"\(url)\" is not an absolute URL")
        }
        // Keys fetched in the clear could be replaced on the way: only local runs, and a provider
        // on the services' own private network said to be one (PASSERELLE_OIDC_ALLOW_HTTP=true, as
        // the compose file's development provider), may be read over http.
        let httpAllowed = e.allowsDevelopmentSecrets || e.string("PASSERELLE_OIDC_ALLOW_HTTP", default: "false") == "true"
        guard scheme == "https" || (scheme == "http" && httpAllowed) else {
            throw ConfigurationError(
                variable: "PASSERELLE_OIDC_DISCOVERY_URL",
                problem: "must be https (http only with PASSERELLE_OIDC_ALLOW_HTTP=true or PASSERELLE_ALLOW_DEV_SECRET=true)")
        }
        guard let audience = e.optionalString("PASSERELLE_OIDC_AUDIENCE") else {
            throw ConfigurationError(variable: "PASSERELLE_OIDC_AUDIENCE", problem: "is required with PASSERELLE_OIDC_DISCOVERY_URL")
        }
        return OpenIDProviderSettings(
            discoveryURL: url, audience: audience, rolesClaim: e.string("PASSERELLE_OIDC_ROLES_CLAIM", default: "roles"),
            siteClaim: e.string("PASSERELLE_OIDC_SITE_CLAIM", default: "site"))
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}

/// Why a token the provider should have signed was not accepted, or why its keys could not be had.
public enum OpenIDProviderError: Error, Sendable, CustomStringConvertible {
    case unreachable(url: String, problem: String)
    case unknownKey(kid: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unreachable(let url, let problem): return "the identity provider could not be read at \(url): \(problem)"
        case .unknownKey(let kid): return "the token is signed with key \(kid), which the identity provider does not publish"
        case .invalid(let problem): return problem
        }
    }
}

/// The identity provider's published keys, fetched through its discovery document, cached, and
/// fetched again when a token names a key not seen yet (at most once per
/// `minimumRefreshInterval`) or when they are older than `maximumKeyAge`.
public actor OpenIDProviderKeys {
    public let settings: OpenIDProviderSettings
    private let client: HTTPClient
    private var keys = JWTKeyCollection()
    /// The algorithm each published key is for, by key id (nil: the key does not say).
    private var published: [String: String?] = [:]
    private var issuer: String?
    private var fetched: Date?
    private var refreshing: Task<Void, any Error>?

    /// The only algorithms accepted from a provider: a token naming another (`none`, HS256 with the
    /// public key as secret) is never given to a provider key.
    public static let algorithms: Set<String> = ["RS256", "ES256"]
    static let maximumKeys = 32
    static let maximumDocumentBytes = 512 * 1024

    public init(settings: OpenIDProviderSettings, client: HTTPClient = .shared) {
        self.settings = settings
        self.client = client
    }

    /// The token's header when it claims to be signed by a provider key: RS256 or ES256 with a
    /// key id. Other tokens (the HS256 development and service tokens) go to the static keys.
    public nonisolated static func providerHeader(of token: String) -> (alg: String, kid: String)? {
        guard let first = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first,
            let data = Data(base64URL: String(first)),
            let header = try? JSONDecoder().decode(Header.self, from: data), let kid = header.kid, algorithms.contains(header.alg)
        else { return nil }
        return (header.alg, kid)
    }

    private struct Header: Decodable {
        var alg: String
        var kid: String?
    }

    /// The token's claims, mapped to Passerelle's, once its signature, issuer, audience and expiry
    /// are checked.
    public func verify(_ token: String) async throws(OpenIDProviderError) -> AccessClaims {
        guard let header = Self.providerHeader(of: token) else { throw .invalid("the token is not signed with RS256 or ES256 under a key id") }
        let (alg, kid) = (header.alg, header.kid)
        let now = Date()
        if fetched.map({ now.timeIntervalSince($0) > settings.maximumKeyAge }) ?? true {
            try await refresh()
        } else if published[kid] == nil, fetched.map({ now.timeIntervalSince($0) >= settings.minimumRefreshInterval }) ?? true {
            try await refresh()
        }
        guard let keyAlgorithm = published[kid] else { throw .unknownKey(kid: kid) }
        if let keyAlgorithm, keyAlgorithm != alg {
            throw .invalid("the token names \(alg) but key \(kid) is for \(keyAlgorithm)")
        }
        let claims: ProviderClaims
        do {
            claims = try await keys.verify(token, as: ProviderClaims.self)
        } catch {
            throw .invalid("the token could not be verified: \(error)")
        }
        return try map(claims, now: now)
    }

    private func map(_ token: ProviderClaims, now: Date) throws(OpenIDProviderError) -> AccessClaims {
        let values = token.values
        guard case .string(let subject)? = values["sub"], !subject.isEmpty else { throw .invalid("the token has no subject") }
        guard case .number(let exp)? = values["exp"] else { throw .invalid("the token has no expiry") }
        guard case .string(let iss)? = values["iss"], iss == issuer else { throw .invalid("the token was not issued by \(issuer ?? "the identity provider")") }
        let audiences: [String]
        switch values["aud"] {
        case .string(let one)?: audiences = [one]
        case .array(let many)?: audiences = many.compactMap(\.text)
        default: audiences = []
        }
        guard audiences.contains(settings.audience) else { throw .invalid("the token is not meant for \(settings.audience)") }
        let roles: [String]
        switch ClaimValue.object(values).at(path: settings.rolesClaim) {
        case .array(let items)?: roles = items.compactMap(\.text)
        case .string(let text)?: roles = text.split(separator: " ").map(String.init)
        default: roles = []
        }
        var site: String?
        if case .string(let text)? = ClaimValue.object(values).at(path: settings.siteClaim) { site = text }
        var claims = AccessClaims(
            subject: subject, roles: [], site: site, expires: Date(timeIntervalSince1970: exp), issuer: iss, audience: settings.audience)
        claims.roles = roles
        claims.aud = AudienceClaim(value: audiences)
        if case .number(let iat)? = values["iat"] {
            claims.iat = IssuedAtClaim(value: Date(timeIntervalSince1970: iat))
        } else {
            claims.iat = nil
        }
        return claims
    }

    /// Fetches the discovery document and the keys; concurrent callers share one fetch.
    private func refresh() async throws(OpenIDProviderError) {
        if refreshing == nil {
            refreshing = Task { try await self.fetch() }
        }
        let task = refreshing!
        do {
            try await task.value
        } catch let error as OpenIDProviderError {
            refreshing = nil
            throw error
        } catch {
            refreshing = nil
            throw .unreachable(url: settings.discoveryURL, problem: "\(error)")
        }
        refreshing = nil
    }

    private func fetch() async throws {
        let discovery = try JSONDecoder().decode(Discovery.self, from: try await document(at: settings.discoveryURL))
        let jwksData = try await document(at: discovery.jwksURI)
        let jwks: JWKS
        do {
            jwks = try JSONDecoder().decode(JWKS.self, from: jwksData)
        } catch {
            throw OpenIDProviderError.unreachable(url: discovery.jwksURI, problem: "not a JSON Web Key Set: \(error)")
        }
        let collection = JWTKeyCollection()
        var kids: [String: String?] = [:]
        for jwk in jwks.keys.prefix(Self.maximumKeys) {
            // Only signing keys of the accepted algorithms; an encryption key or an HMAC secret
            // published by mistake is never used to verify.
            guard let kid = jwk.keyIdentifier?.string, ["RSA", "EC"].contains(jwk.keyType.rawValue) else { continue }
            let algorithm = jwk.algorithm?.rawValue
            if let algorithm, !Self.algorithms.contains(algorithm) { continue }
            try await collection.add(jwk: jwk)
            kids[kid] = algorithm
        }
        keys = collection
        published = kids
        issuer = discovery.issuer
        fetched = Date()
    }

    private struct Discovery: Decodable {
        var issuer: String
        var jwksURI: String

        enum CodingKeys: String, CodingKey {
            case issuer
            case jwksURI = "jwks_uri"
        }
    }

    private func document(at url: String) async throws -> Data {
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await client.execute(request, timeout: .seconds(10))
            guard response.status == .ok else { throw OpenIDProviderError.unreachable(url: url, problem: "status \(response.status.code)") }
            return Data(try await response.body.collect(upTo: Self.maximumDocumentBytes).readableBytesView)
        } catch let error as OpenIDProviderError {
            throw error
        } catch {
            throw OpenIDProviderError.unreachable(url: url, problem: "\(error)")
        }
    }
}

/// Every claim of a provider's token, whatever its shape, so the roles and site can be read at
/// the configured paths.
struct ProviderClaims: JWTPayload {
    var values: [String: ClaimValue]

    init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: ClaimValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        guard case .number(let exp)? = values["exp"] else { throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "no exp") }
        try ExpirationClaim(value: Date(timeIntervalSince1970: exp)).verifyNotExpired()
    }
}

enum ClaimValue: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([ClaimValue])
    case object([String: ClaimValue])
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ClaimValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ClaimValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    var text: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The value at a dotted path (`realm_access.roles`); a claim whose own name holds a dot
    /// (`https://example.org/roles`) is found whole first.
    func at(path: String) -> ClaimValue? {
        guard case .object(let members) = self else { return nil }
        if let whole = members[path] { return whole }
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let next = members[parts[0]] else { return nil }
        return next.at(path: parts[1])
    }
}

extension Data {
    fileprivate init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
