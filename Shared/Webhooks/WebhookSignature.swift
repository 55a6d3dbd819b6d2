import Crypto
import Foundation

/// Signs outbound webhooks the Standard Webhooks way (https://www.standardwebhooks.com), so a
/// receiver can check them with that specification's libraries rather than with code of ours:
/// `webhook-signature` is `v1,` + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")).
public struct WebhookSignature: Sendable {
    /// The headers a signed delivery carries. Senders must not let anyone else set them: a
    /// receiver trusts them to name and date the delivery.
    public static let headerNames: Set<String> = ["webhook-id", "webhook-timestamp", "webhook-signature"]

    let key: SymmetricKey

    /// A secret written `whsec_<base64>` is the decoded bytes, as the specification's libraries
    /// read it; any other secret is its UTF-8 bytes.
    public init(secret: String) {
        if secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))) {
            key = SymmetricKey(data: bytes)
        } else {
            key = SymmetricKey(data: Data(secret.utf8))
        }
    }

    /// The `webhook-signature` value of `body` sent under `id` at `timestamp` (Unix seconds).
    public func sign(id: String, timestamp: Int, body: Data) -> String {
        var signed = Data("\(id).\(timestamp).".utf8)
        signed.append(body)
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
    }

    /// The three headers of a delivery of `body` under `id`, dated `date`. The id must stay the
    /// same when a delivery is sent again, so the receiver can drop the repeat.
    public func headers(id: String, body: Data, at date: Date = Date()) -> [(String, String)] {
        let timestamp = Int(date.timeIntervalSince1970)
        return [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", sign(id: id, timestamp: timestamp, body: body))]
    }

    /// At least 24 characters, or `whsec_` and base64 of at least 24 bytes, the specification's
    /// smallest key: a shorter key could be guessed from signed deliveries.
    public static func isStrongEnough(_ secret: String) -> Bool {
        if secret.hasPrefix("whsec_") { return (Data(base64Encoded: String(secret.dropFirst(6)))?.count ?? 0) >= 24 }
        return secret.count >= 24
    }
}
