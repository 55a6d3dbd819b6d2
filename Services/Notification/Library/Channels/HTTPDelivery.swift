import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceRuntime

/// Why a delivery did not happen, and whether trying again may help.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public var transient: Bool
    public var detail: String

    public init(transient: Bool, _ detail: String) {
        self.transient = transient
        self.detail = detail
    }

    public var description: String { detail }
}

/// The SMS gateway (`PASSERELLE_SMS_GATEWAY_URL`, bearer token `PASSERELLE_SMS_GATEWAY_TOKEN`):
/// a JSON POST of `{id, to, body}` with an `Idempotency-Key`.
public struct SMSGatewaySettings: Sendable {
    public var url: String
    public var token: String?

    public init(url: String, token: String? = nil) {
        self.url = url
        self.token = token
    }

    static func fromEnvironment(_ e: Environment) throws -> SMSGatewaySettings? {
        guard let url = e.optionalString("PASSERELLE_SMS_GATEWAY_URL") else { return nil }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? "") else {
            throw ConfigurationError(variable: "PASSERELLE_SMS_GATEWAY_URL", problem: "must be an http or https URL")
        }
        return SMSGatewaySettings(url: url, token: try e.secret("PASSERELLE_SMS_GATEWAY_TOKEN"))
    }
}

/// Signs webhook deliveries the Standard Webhooks way: `webhook-signature` is
/// `v1,` + base64(HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")). A secret
/// written `whsec_<base64>` is the decoded bytes, as the specification's libraries expect.
public struct WebhookSignature: Sendable {
    public let key: SymmetricKey

    public init(secret: String) {
        if secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))) {
            key = SymmetricKey(data: bytes)
        } else {
            key = SymmetricKey(data: Data(secret.utf8))
        }
    }

    public func sign(id: String, timestamp: Int, body: Data) -> String {
        var signed = Data("\(id).\(timestamp).".utf8)
        signed.append(body)
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
    }
}

/// Where webhooks may go. Coordinators configure targets, so a URL must not reach the
/// machine's neighbourhood: link-local and cloud metadata addresses are refused (checked when
/// the target is saved and again before each delivery) unless explicitly allowed.
public struct WebhookTargetPolicy: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) { self.allowPrivate = allowPrivate }

    /// nil when acceptable, otherwise why not.
    public func problem(with urlText: String) async -> String? {
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty else {
            return "must be an absolute http or https URL"
        }
        if allowPrivate { return nil }
        // getaddrinfo blocks (it may wait on a DNS server): run it on NIO's blocking-work pool,
        // never on the cooperative pool the service's tasks share.
        let addresses = (try? await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }) ?? []
        if addresses.isEmpty { return "host \(host) does not resolve" }
        for address in addresses where Self.isForbidden(address) {
            return "host \(host) resolves to \(address), a link-local or metadata address"
        }
        return nil
    }

    static func isForbidden(_ address: String) -> Bool {
        let lower = address.lowercased()
        if lower.hasPrefix("169.254.") || lower == "0.0.0.0" || lower == "100.100.100.200" { return true }  // link-local, AWS/GCP/Azure metadata, unspecified, Alibaba metadata
        if lower.hasPrefix("fe8") || lower.hasPrefix("fe9") || lower.hasPrefix("fea") || lower.hasPrefix("feb") { return true }  // fe80::/10
        if lower == "::" || lower.hasPrefix("fd00:ec2:") { return true }  // unspecified, AWS IPv6 metadata
        if lower.hasPrefix("::ffff:") { return isForbidden(String(lower.dropFirst(7))) }
        return false
    }

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}

/// Posts JSON over HTTP for the SMS gateway and webhooks, classifying failures: 5xx, 408, 429
/// and network errors may pass later; any other 4xx will not.
public struct HTTPDelivery: Sendable {
    let client: HTTPClient
    let timeout: TimeAmount

    public init(client: HTTPClient = .shared, timeout: TimeAmount = .seconds(15)) {
        self.client = client
        self.timeout = timeout
    }

    public func post(url: String, body: Data, headers: [(String, String)]) async throws(DeliveryError) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "passerelle-notification")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw DeliveryError(transient: true, "POST \(Self.redacted(url)): \(error)")
        }
        let code = Int(response.status.code)
        // Read (a bounded part of) the answer so the connection can be reused, and for the log.
        let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        guard (200..<300).contains(code) else {
            let transient = code >= 500 || code == 408 || code == 429
            throw DeliveryError(transient: transient, "POST \(Self.redacted(url)): HTTP \(code) \(answer.prefix(200))")
        }
    }

    /// The URL without its query (tokens sometimes live there).
    static func redacted(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }
}
