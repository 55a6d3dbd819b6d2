import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A Python test peer (an SMTP server, an HTTP receiver) in a child process. It runs until its
/// stdin closes, so it cannot outlive the test run.
public final class TestPeer: Sendable {
    public let port: Int
    /// What the peer printed after `READY <port>` (the SMTP server's certificate path).
    public let detail: String
    private let process: Process
    private let input: Pipe

    /// Starts `python3 <script> --port <free port> <arguments>` and waits for its READY line (off
    /// the cooperative pool: a Python peer takes a second to start on a busy machine).
    public init(script: URL, arguments: [String]) async throws(PeerError) {
        let port = TestEnvironment.freePort()
        let started: Result<(Process, Pipe, String), PeerError> = await onOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script.path, "--port", String(port)] + arguments
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            var line = Data()
            do {
                try process.run()
                while let byte = try output.fileHandleForReading.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") {
                    line.append(first)
                }
            } catch {
                process.terminate()
                return .failure(PeerError(message: "\(script.lastPathComponent) did not start: \(error)"))
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("READY") else {
                process.terminate()
                return .failure(PeerError(message: "\(script.lastPathComponent) did not start: \(text)"))
            }
            return .success((process, input, text))
        }
        let (process, input, text) = try started.get()
        self.port = port
        detail = text.split(separator: " ").dropFirst(2).joined(separator: " ")
        self.process = process
        self.input = input
    }

    /// Kills the peer and waits for it. Not with SIGTERM: a child inherits the signal mask of the
    /// thread that spawned it, and a dispatch thread blocks SIGTERM; nor by closing stdin alone: a
    /// process spawned meanwhile (a scratch PostgreSQL) may hold the pipe's other end. Either way
    /// the wait would never end. Nor with `Process.waitUntilExit`: it spins the calling thread's
    /// run loop until Foundation notices the exit, and for a peer started on another thread (see
    /// `init`) it was seen spinning a cooperative thread at full speed for good. SIGKILL ends the
    /// peer at once; `waitpid` reaps it, or finds Foundation already has (ECHILD).
    public func stop() {
        try? input.fileHandleForWriting.close()
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    public struct PeerError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}

/// The receiving end of Passerelle's webhooks (and its SMS gateway): `webhook_receiver.py`, which
/// checks every Standard Webhooks signature with the specification's reference library, so the
/// tests do not trust our own signing code to check itself.
public final class WebhookReceiver: Sendable {
    public let peer: TestPeer
    /// `whsec_` and 32 random bytes, as the specification's libraries generate them.
    public let secret: String

    /// Paths under an `unsigned` prefix are taken without a signature (an SMS gateway).
    public init(unsigned: [String] = []) async throws(TestPeer.PeerError) {
        secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("webhook_receiver.py")
        peer = try await TestPeer(script: script, arguments: ["--secret", secret] + unsigned.flatMap { ["--unsigned", $0] })
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(peer.port)\(path)" }

    /// What was received, in order, as JSON: a list of `{path, attempt, id, verified, duplicate,
    /// contentType, authorization, body}`.
    public func receivedJSON() async throws -> Data {
        try await URLSession.shared.data(from: URL(string: url("/records"))!).0
    }

    public func stop() { peer.stop() }
}
