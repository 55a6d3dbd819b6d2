import Foundation

/// Runs blocking work — waiting for a child process, reading its pipe, `system(3)` — on a thread
/// of its own and resumes the caller when it is done.
///
/// Swift's cooperative pool has one thread per core. On two cores a test that waits for a child
/// process on a pool thread (a code generator for a minute and a half, a PostgreSQL `initdb`)
/// halves the pool for every other test running meanwhile: their delivery leases go unrenewed
/// and their clocks fire late, and they fail for reasons that have nothing to do with them.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// Throwing form of `onOwnThread(_:)`.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await onOwnThread { Result(catching: work) }.get()
}

/// A command run to its end, off the cooperative pool.
public enum ChildProcess {
    public enum ErrorOutput: Sendable {
        /// Standard error goes into `output`, after or between standard output's lines.
        case merged
        case discarded
    }

    /// Runs `executable arguments` (by default through `/usr/bin/env`, so `arguments[0]` is looked
    /// up on the PATH) and returns its exit status and what it printed.
    public static func run(
        _ arguments: [String], executable: URL = URL(fileURLWithPath: "/usr/bin/env"), environment: [String: String]? = nil,
        errorOutput: ErrorOutput = .merged
    ) async throws -> (status: Int32, output: String) {
        try await onOwnThread {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            if let environment { process.environment = environment }
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = errorOutput == .merged ? pipe : FileHandle.nullDevice
            try process.run()
            // Read before waiting so a full pipe cannot block the child.
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self))
        }
    }
}
