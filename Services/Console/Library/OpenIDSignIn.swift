import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// Why signing in at the identity provider did not work.
public enum SignInError: Error, Sendable, CustomStringConvertible {
    case providerUnreachable(url: String, problem: String)
    case refused(status: Int, error: String)

    public var description: String {
        switch self {
        case .providerUnreachable(let url, let problem): return "the identity provider could not be reached at \(url): \(problem)"
        case .refused(let status, let error): return "the identity provider refused the sign-in (\(status)): \(error)"
        }
    }
}

/// The console's side of OpenID Connect: the authorization code flow with PKCE (S256), at the
/// endpoints the provider's discovery document names.
public actor OpenIDSignIn {
    struct Endpoints: Decodable, Sendable {
        var issuer: String
        var authorizationEndpoint: String
        var tokenEndpoint: String
        var endSessionEndpoint: String?

        enum CodingKeys: String, CodingKey {
            case issuer
            case authorizationEndpoint = "authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case endSessionEndpoint = "end_session_endpoint"
        }
    }

    struct TokenResponse: Decodable, Sendable {
        var accessToken: String
        var tokenType: String
        var expiresIn: Int?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
        }
    }

    let discoveryURL: String
    let clientID: String
    let clientSecret: String?
    let redirectURI: String
    private let client: HTTPClient
    private var endpoints: Endpoints?

    init(discoveryURL: String, clientID: String, clientSecret: String?, redirectURI: String, client: HTTPClient = .shared) {
        self.discoveryURL = discoveryURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = redirectURI
        self.client = client
    }

    func discovered() async throws(SignInError) -> Endpoints {
        if let endpoints { return endpoints }
        let data = try await fetch(HTTPClientRequest(url: discoveryURL))
        do {
            let found = try JSONDecoder().decode(Endpoints.self, from: data)
            endpoints = found
            return found
        } catch {
            throw .providerUnreachable(url: discoveryURL, problem: "not a discovery document: \(error)")
        }
    }

    /// Where to send the browser to sign in.
    func authorizationURL(state: String, verifier: String, language: String) async throws(SignInError) -> String {
        let endpoint = try await discovered().authorizationEndpoint
        let challenge = Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncoded
        var components = URLComponents(string: endpoint) ?? URLComponents()
        components.queryItems =
            (components.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
                URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: "openid passerelle"),
                URLQueryItem(name: "state", value: state), URLQueryItem(name: "code_challenge", value: challenge),
                URLQueryItem(name: "code_challenge_method", value: "S256"), URLQueryItem(name: "ui_locales", value: language),
            ]
        return components.string ?? endpoint
    }

    /// Exchanges the code the provider sent the browser back with for an access token.
    func exchange(code: String, verifier: String) async throws(SignInError) -> TokenResponse {
        let endpoint = try await discovered().tokenEndpoint
        var form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", clientID), ("code_verifier", verifier)]
        if let clientSecret { form.append(("client_secret", clientSecret)) }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form.map { "\($0.0)=\(Self.formEncoded($0.1))" }.joined(separator: "&")))
        let data = try await fetch(request)
        do {
            return try JSONDecoder().decode(TokenResponse.self, from: data)
        } catch {
            throw .refused(status: 200, error: "the token response could not be read: \(error)")
        }
    }

    static func formEncoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    private func fetch(_ request: HTTPClientRequest) async throws(SignInError) -> Data {
        var request = request
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(10))
            body = try await response.body.collect(upTo: 256 * 1024)
        } catch {
            throw .providerUnreachable(url: request.url, problem: "\(error)")
        }
        guard response.status == .ok else {
            throw .refused(status: Int(response.status.code), error: String(buffer: body).prefix(300).description)
        }
        return Data(body.readableBytesView)
    }
}
