import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

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

/// POSTs to a receiver (a webhook endpoint, a gateway), classifying failures so that both
/// services retry the same ones: 5xx, 408, 429 and network errors may pass later; any other
/// 4xx will not.
public struct HTTPDelivery: Sendable {
    let userAgent: String
    let client: HTTPClient
    let timeout: TimeAmount

    /// `userAgent` names the sending service, for the receiver's logs.
    public init(userAgent: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(15)) {
        self.userAgent = userAgent
        self.client = client
        self.timeout = timeout
    }

    public func post(url: String, body: Data, contentType: String = "application/json", headers: [(String, String)]) async throws(DeliveryError) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: userAgent)
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
