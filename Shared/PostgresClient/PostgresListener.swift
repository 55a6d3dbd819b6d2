import Backoff
import CLibPQ
import Foundation
import Logging
import Synchronization

/// Waits for `NOTIFY` on one channel, on a dedicated connection and a dedicated thread
/// (`poll(2)` on the libpq socket; no busy loop, nothing on the cooperative pool).
///
/// Notifications are a wake-up hint only: they arrive after commit, are lost while the
/// connection is down, and are coalesced here (`wakeUps` keeps the newest one). Whoever uses
/// them still polls. After a reconnect one wake-up is emitted, since anything may have been missed.
///
/// It hears only what the server delivers: wake-ups that commits of this process hand over
/// directly (`PostgresConnection.notifyAfterCommit` with an `InProcessWakeUps` on the pool)
/// never reach it. Messaging's `WakeUpLoop` waits on both.
public final class PostgresListener: Sendable {
    public let wakeUps: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let stopped = Atomic<Bool>(false)
    private let configuration: PostgresConfiguration
    private let channel: String
    private let logger: Logger
    /// Receives the server's notices on the listening connection (e.g. its goodbye on restart).
    private let noticeSink: NoticeSink

    public init(configuration: PostgresConfiguration, channel: String, logger: Logger) {
        precondition(PostgresConfiguration.isPlainIdentifier(channel), "channel must be a plain identifier")
        (wakeUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
        self.noticeSink = NoticeSink(logger: logger)
    }

    /// Starts the listening thread. Call `stop()` to end it.
    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "pg-listen-\(channel)"
        thread.start()
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func loop() {
        var backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5))
        while !stopped.load(ordering: .relaxed) {
            guard let connection = connect() else {
                Thread.sleep(forTimeInterval: backoff.next().inSeconds)
                continue
            }
            backoff.reset()
            continuation.yield()  // we may have missed notifications while disconnected
            listen(on: connection)
            PQfinish(connection)
        }
        continuation.finish()
    }

    private func connect() -> OpaquePointer? {
        let pairs = configuration.connectionParameters
        let keys = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
        var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let connection = keyPointers.withUnsafeMutableBufferPointer { k in
            valuePointers.withUnsafeMutableBufferPointer { v in
                PQconnectdbParams(UnsafePointer(k.baseAddress!), UnsafePointer(v.baseAddress!), 0)
            }
        }
        guard let connection else { return nil }
        guard PQstatus(connection) == CONNECTION_OK else {
            PQfinish(connection)
            return nil
        }
        PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(noticeSink).toOpaque())
        let result = PQexec(connection, "LISTEN \"\(channel)\"")
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            logger.warning("LISTEN failed", metadata: ["channel": "\(channel)"])
            PQfinish(connection)
            return nil
        }
        return connection
    }

    private func listen(on connection: OpaquePointer) {
        while !stopped.load(ordering: .relaxed) {
            var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 250)  // short timeout so stop() is honoured promptly
            if ready < 0 && errno != EINTR { return }
            if ready <= 0 { continue }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
                logger.info("LISTEN connection lost; reconnecting", metadata: ["channel": "\(channel)"])
                return
            }
            var notified = false
            while let notification = PQnotifies(connection) {
                PQfreemem(notification)
                notified = true
            }
            if notified { continuation.yield() }
        }
    }
}
