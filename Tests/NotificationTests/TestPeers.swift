import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport

/// A Python test peer (SMTP server or HTTP receiver) in a child process; it runs until its
/// stdin closes, so it cannot outlive the test run.
final class TestPeer: Sendable {
    let port: Int
    /// What the peer printed after READY (the SMTP server's certificate path).
    let detail: String
    private let process: Process
    private let input: Pipe

    init(script: String, arguments: [String]) throws {
        port = TestEnvironment.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(script).path
        process.arguments = ["python3", path, "--port", String(port)] + arguments
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") {
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("READY") else {
            process.terminate()
            throw PeerError(message: "\(script) did not start: \(text)")
        }
        detail = text.split(separator: " ").dropFirst(2).joined(separator: " ")
        self.process = process
        self.input = input
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }

    struct PeerError: Error { var message: String }
}

/// The SMTP server (aiosmtpd) and what it accepted.
final class SMTPSink: Sendable {
    let peer: TestPeer
    let file: String

    init(user: String? = nil, password: String? = nil) throws {
        file = NSTemporaryDirectory() + "passerelle-smtp-\(UUID().uuidString.prefix(8)).jsonl"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        var arguments = ["--out", file]
        if let user, let password { arguments += ["--user", user, "--password", password] }
        peer = try TestPeer(script: "smtp_sink.py", arguments: arguments)
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
    }

    func messages() throws -> [Received] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Received.self, from: Data($0.utf8)) }
    }
}

/// The webhook endpoint and SMS gateway, verifying signatures with the reference library.
final class HTTPReceiver: Sendable {
    let peer: TestPeer
    let secret: String

    init() throws {
        secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        peer = try TestPeer(script: "http_receiver.py", arguments: ["--secret", secret])
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(peer.port)\(path)" }

    struct Received: Decodable {
        var path: String
        var id: String
        var attempt: Int
        var duplicate: Bool
        var authorization: String?
        var body: [String: String?]
    }

    func records() async throws -> [Received] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url("/records"))!)
        return try JSONDecoder().decode([Received].self, from: data)
    }
}
