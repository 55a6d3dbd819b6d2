import Crypto
import Foundation
import PostgresClient
import ServiceRuntime

/// A signed-in person as the console knows them: who they are, the token it calls the services
/// with on their behalf, and the token every form of theirs must carry back.
public struct ConsoleSession: Sendable {
    public var subject: String
    public var displayName: String
    public var site: String?
    public var roles: [String]
    public var accessToken: String
    public var csrfToken: String
}

/// Sessions and sign-ins under way, in the console's own schema. The browser holds a random
/// value; the table keeps only its SHA-256.
public struct SessionStore: Sendable {
    let pool: PostgresConnectionPool
    let idleTimeout: TimeInterval
    let absoluteTimeout: TimeInterval
    /// How long the identity provider may take to send the browser back.
    static let signInTimeout: TimeInterval = 10 * 60

    /// 32 random bytes, base64url: a session id, a CSRF token, a PKCE verifier or a state.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64URLEncoded
    }

    static func hash(_ value: String) -> String {
        Data(SHA256.hash(data: Data(value.utf8))).base64URLEncoded
    }

    /// Starts a sign-in: the state (for the browser's cookie and the provider) and the verifier.
    func beginSignIn(returnTo: String) async throws -> (state: String, verifier: String) {
        let state = Self.randomToken()
        let verifier = Self.randomToken()
        let expired = Date().addingTimeInterval(-Self.signInTimeout)
        try await pool.withConnection { connection in
            try await connection.execute("DELETE FROM pending_sign_in WHERE created_at < \(expired)")
            try await connection.execute(
                "INSERT INTO pending_sign_in (state_hash, code_verifier, return_to) VALUES (\(Self.hash(state)), \(verifier), \(returnTo))")
        }
        return (state, verifier)
    }

    /// The verifier and return path of a sign-in under way, used once.
    func finishSignIn(state: String) async throws -> (verifier: String, returnTo: String)? {
        let oldest = Date().addingTimeInterval(-Self.signInTimeout)
        let row = try await pool.withConnection { connection in
            try await connection.query(
                "DELETE FROM pending_sign_in WHERE state_hash = \(Self.hash(state)) AND created_at >= \(oldest) RETURNING code_verifier, return_to"
            ).first
        }
        guard let row else { return nil }
        return (try row.decode("code_verifier", as: String.self), try row.decode("return_to", as: String.self))
    }

    /// Opens a session; returns the value for the browser's cookie.
    func open(_ session: ConsoleSession, tokenExpires: Date) async throws -> String {
        let id = Self.randomToken()
        let idleSince = Date().addingTimeInterval(-idleTimeout)
        try await pool.withConnection { connection in
            try await connection.execute("DELETE FROM session WHERE last_seen_at < \(idleSince) OR token_expires_at < now()")
            try await connection.execute(
                """
                INSERT INTO session (id_hash, subject, display_name, site, roles, access_token, token_expires_at, csrf_token)
                VALUES (\(Self.hash(id)), \(session.subject), \(session.displayName), \(session.site), \(session.roles)::text[],
                        \(session.accessToken), \(tokenExpires), \(session.csrfToken))
                """)
        }
        return id
    }

    /// The live session the cookie names, marked as just used; nil when there is none, it sat
    /// idle too long, it is older than the absolute limit, or its token has expired.
    func session(id: String) async throws -> ConsoleSession? {
        let now = Date()
        let idleSince = now.addingTimeInterval(-idleTimeout)
        let createdSince = now.addingTimeInterval(-absoluteTimeout)
        let row = try await pool.withConnection { connection in
            try await connection.query(
                """
                UPDATE session SET last_seen_at = now()
                WHERE id_hash = \(Self.hash(id)) AND last_seen_at >= \(idleSince) AND created_at >= \(createdSince) AND token_expires_at > \(now)
                RETURNING subject, display_name, site, roles, access_token, csrf_token
                """
            ).first
        }
        guard let row else { return nil }
        return ConsoleSession(
            subject: try row.decode("subject"), displayName: try row.decode("display_name"), site: try row.decode("site", as: String?.self),
            roles: try row.decode("roles"), accessToken: try row.decode("access_token"), csrfToken: try row.decode("csrf_token"))
    }

    func close(id: String) async throws {
        try await pool.withConnection { connection in
            try await connection.execute("DELETE FROM session WHERE id_hash = \(Self.hash(id))")
        }
    }
}

extension Data {
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
