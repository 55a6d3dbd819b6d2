import Foundation
import PostgresClient

/// A PostgreSQL server of a test's own (own port and data directory), for tests that stop or
/// restart the server without disturbing the shared one. Runs as the `postgres` OS user when
/// the tests run as root, as the current user otherwise.
public final class ScratchPostgresServer: Sendable {
    public let port: Int
    public let directory: String
    private let binaries: String

    /// Makes and starts the server (initdb and pg_ctl run off the cooperative pool).
    public init() async throws {
        port = TestEnvironment.freePort()
        directory = NSTemporaryDirectory() + "passerelle-pg-\(UUID().uuidString.prefix(8))"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let newest = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw ScratchServerError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        }
        binaries = "/usr/lib/postgresql/\(newest)/bin"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.shell("chmod 777 \(directory) && echo postgres > \(directory)/pw")
        try await asServerUser(
            "\(binaries)/initdb -D \(directory)/data -U postgres --pwfile=\(directory)/pw --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null"
        )
        try await start()
    }

    public func start() async throws {
        try await asServerUser(
            "\(binaries)/pg_ctl -D \(directory)/data -l \(directory)/log -w -t 30 -o '-p \(port) -k \(directory) -c listen_addresses=127.0.0.1' start >/dev/null"
        )
    }

    public func stop() async throws {
        try await asServerUser("\(binaries)/pg_ctl -D \(directory)/data -m fast -w stop >/dev/null")
    }

    public func restart() async throws {
        try await asServerUser("\(binaries)/pg_ctl -D \(directory)/data -m fast -w restart >/dev/null")
    }

    /// Stops the server and deletes its files (in a `defer`, hence synchronous; a fast stop is brief).
    public func destroy() {
        try? Self.shell(asServerUserCommand("\(binaries)/pg_ctl -D \(directory)/data -m fast -w stop >/dev/null"))
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func configuration(schema: String? = nil, poolSize: Int = 4) -> PostgresConfiguration {
        var configuration = TestEnvironment.postgresConfiguration(schema: schema, poolSize: poolSize)
        configuration.port = port
        configuration.database = "postgres"
        configuration.connectTimeoutSeconds = 2
        return configuration
    }

    private func asServerUser(_ command: String) async throws {
        let line = asServerUserCommand(command)
        try await onOwnThread { try Self.shell(line) }
    }

    private func asServerUserCommand(_ command: String) -> String {
        getuid() == 0 ? "runuser -u postgres -- sh -c \"\(command.replacingOccurrences(of: "\"", with: "\\\""))\"" : command
    }

    /// `system(3)` rather than Foundation's `Process`: the server that pg_ctl leaves running
    /// would inherit Process's bookkeeping descriptors and keep `waitUntilExit` from returning.
    static func shell(_ command: String) throws {
        let status = system(command + " </dev/null")
        guard status == 0 else { throw ScratchServerError("command failed (\(status)): \(command)") }
    }
}

/// A Tansu broker of a test's own, for tests that stop or restart the broker.
public final class ScratchBroker: Sendable {
    public let port: Int
    private let pid: Int32

    public init(port: Int = TestEnvironment.freePort()) async throws {
        self.port = port
        self.pid = try await onOwnThread { try Self.start(port: port) }
    }

    /// Starts the broker and waits for its port; returns its process id.
    private static func start(port: Int) throws -> Int32 {
        let path = Process()
        path.executableURL = URL(fileURLWithPath: "/bin/sh")
        let pipe = Pipe()
        path.standardOutput = pipe
        path.arguments = ["-c", "\(TestEnvironment.repositoryRoot.path)/deploy/local/tansu-path.sh"]
        try path.run()
        path.waitUntilExit()
        let binary = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard path.terminationStatus == 0, !binary.isEmpty else { throw ScratchServerError("Tansu is not installed (deploy/local/install.sh)") }
        let broker = Process()
        broker.executableURL = URL(fileURLWithPath: binary)
        broker.arguments = [
            "broker", "--listener-url", "tcp://127.0.0.1:\(port)", "--advertised-listener-url", "tcp://127.0.0.1:\(port)", "--storage-engine",
            "memory://tansu/",
        ]
        broker.standardOutput = FileHandle.nullDevice
        broker.standardError = FileHandle.nullDevice
        try broker.run()
        for _ in 0..<100 where !TestEnvironment.portIsOpen(host: "127.0.0.1", port: port) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        return broker.processIdentifier
    }

    public var bootstrap: String { "127.0.0.1:\(port)" }

    public func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

public struct ScratchServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
