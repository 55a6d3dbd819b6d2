import Foundation
import TestSupport

/// The SMTP server (aiosmtpd) and what it accepted.
final class SMTPSink: Sendable {
    let peer: TestPeer
    let file: String

    /// `replyDelay`: a slow relay, plain SMTP, answering every line that many seconds late.
    init(user: String? = nil, password: String? = nil, replyDelay: Double? = nil) async throws {
        file = NSTemporaryDirectory() + "passerelle-smtp-\(UUID().uuidString.prefix(8)).jsonl"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        var arguments = ["--out", file]
        if let user, let password { arguments += ["--user", user, "--password", password] }
        if let replyDelay { arguments += ["--no-tls", "--reply-delay", String(replyDelay)] }
        peer = try await TestPeer(
            script: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_sink.py"), arguments: arguments)
    }

    var certificate: String { peer.detail }

    struct Received: Decodable {
        var to: [String]
        var subject: String
        var messageID: String
        var text: String?
        var html: String?
        var tls: Bool
        var authenticated: Bool
        /// From the connection to the message's acceptance.
        var seconds: Double?
    }

    func messages() throws -> [Received] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Received.self, from: Data($0.utf8)) }
    }
}

/// What the notification tests read of the webhook endpoint and SMS gateway.
extension WebhookReceiver {
    struct Received: Decodable {
        var path: String
        var id: String
        var attempt: Int
        var duplicate: Bool
        var authorization: String?
        var body: [String: String?]
    }

    func records() async throws -> [Received] {
        try JSONDecoder().decode([Received].self, from: try await receivedJSON())
    }
}
