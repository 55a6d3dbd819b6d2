import CLibPQ
import Dispatch
import Foundation
import Logging
import Synchronization

/// One libpq connection.
///
/// libpq forbids concurrent use of a `PGconn`, and its calls block. Every call on `handle` is
/// therefore made on `queue`, a serial queue owned by this connection (never on Swift's
/// cooperative pool), and the pool leases the connection to one task at a time. That
/// confinement is why the `@unchecked Sendable` below is sound: no two threads ever touch
/// `handle` at once, and `queue` orders every access.
///
/// The task that leases the connection runs on `queue` too (`executor` is its task executor
/// preference), so its statements call libpq where they are, without the two thread hops
/// each used to cost; calls from anywhere else still hop to `queue`.
public final class PostgresConnection: @unchecked Sendable {
    let id: Int
    /// The schema of the configuration the connection was opened with (its `search_path`).
    public let schema: String?
    private let queue: DispatchQueue
    /// Tells `queue` apart from every other connection's, in any pool of the process.
    private let token: Int
    let executor: ConnectionExecutor
    private var handle: OpaquePointer?
    /// Channels to notify once the current transaction has committed, each with the window
    /// within which one wake-up from this process serves for all (touched only on `queue`).
    private var pendingWakeUps: [String: Duration] = [:]
    /// Where those go once committed: shared by the connections of one pool.
    private let wakeUps: CommitWakeUps
    /// `PGcancel` is documented as safe to use from another thread; it lets a cancelled task
    /// interrupt a running statement.
    private let cancelHandle: OpaquePointer?
    /// Receives the server's notices and warnings; outlives `handle` (freed after `PQfinish`).
    private let noticeSink: NoticeSink
    /// SQL text → prepared statement name; touched only on `queue`.
    private var preparedStatements: [String: String] = [:]
    /// A BEGIN not sent yet: it goes with the transaction's first statement (touched only on `queue`).
    private var deferredBegin: String?
    /// Statements of the open transaction whose rows nobody needs, not sent yet: they go with
    /// the next statement that needs an answer (at the latest the COMMIT). Touched only on `queue`.
    private var heldStatements: [PostgresQuery] = []

    private static let queueKey = DispatchSpecificKey<Int>()
    private static let tokens = Atomic<Int>(0)

    private init(id: Int, schema: String?, queue: DispatchQueue, token: Int, handle: OpaquePointer, wakeUps: CommitWakeUps, logger: Logger) {
        self.id = id
        self.schema = schema
        self.wakeUps = wakeUps
        self.queue = queue
        self.token = token
        self.executor = ConnectionExecutor(queue: queue)
        self.handle = handle
        self.cancelHandle = PQgetCancel(handle)
        self.noticeSink = NoticeSink(logger: logger)
        PQsetNoticeReceiver(handle, noticeReceiver, Unmanaged.passUnretained(noticeSink).toOpaque())
    }

    deinit {
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        if let handle { PQfinish(handle) }
    }

    /// Opens a connection on its own queue. Blocking `PQconnectdbParams` runs there.
    static func connect(_ configuration: PostgresConfiguration, id: Int, wakeUps: CommitWakeUps, logger: Logger) async throws -> PostgresConnection {
        let queue = DispatchQueue(label: "passerelle.postgres.connection.\(id)")
        let token = tokens.add(1, ordering: .relaxed).newValue
        queue.setSpecific(key: queueKey, value: token)
        let parameters = configuration.connectionParameters
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let conn = withKeywordArrays(parameters) { keywords, values in
                    PQconnectdbParams(keywords, values, 0)
                }
                guard let conn else {
                    continuation.resume(throwing: PostgresError(kind: .connectionUnavailable, message: "libpq could not allocate a connection"))
                    return
                }
                guard PQstatus(conn) == CONNECTION_OK else {
                    let message = Self.redactedMessage(conn)
                    PQfinish(conn)  // always, even after a failed connect
                    continuation.resume(throwing: PostgresError(kind: .connectionUnavailable, message: message, context: "connecting"))
                    return
                }
                continuation.resume(
                    returning: PostgresConnection(
                        id: id, schema: configuration.schema, queue: queue, token: token, handle: conn, wakeUps: wakeUps, logger: logger))
            }
        }
    }

    /// Runs one parameterised statement (extended protocol, text format).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await onQueue(cancellable: true) { handle in try self.execute(query, handle: handle) }
    }

    /// Runs `body` on the connection's own queue, where it may run any number of statements
    /// synchronously through the session: one thread hop for the whole unit of work instead of
    /// one per statement. The body must not block on anything but this connection.
    public func withSession<T: Sendable>(_ body: @escaping @Sendable (borrowing PostgresSession) throws -> T) async throws -> T {
        try await onQueue(cancellable: true) { handle in try body(PostgresSession(connection: self, handle: handle)) }
    }

    /// Starts a transaction with `begin` (a `BEGIN …` statement), sent together with the next
    /// statement rather than on its own: a round trip saved per transaction.
    func begin(_ begin: String) async throws {
        try await onQueue(cancellable: false) { _ in self.deferredBegin = begin }
    }

    /// Runs a statement whose rows are not needed (an INSERT, an UPDATE). Inside a transaction
    /// it is held and sent with the next statement that needs an answer, or with the COMMIT: a
    /// transaction of writes costs one round trip. Its failure is thrown by that statement
    /// (naming this one), and the transaction fails as it would have. Outside a transaction
    /// it runs at once.
    public func execute(_ query: PostgresQuery) async throws {
        try await onQueue(cancellable: true) { handle in try self.hold(query, handle: handle) }
    }

    /// Executes on `queue` (both `query` and sessions come through here).
    fileprivate func execute(_ query: PostgresQuery, handle: OpaquePointer) throws -> PostgresRows {
        if deferredBegin != nil || !heldStatements.isEmpty {
            return try sendWaiting(then: query, handle: handle)
        }
        return try executeAlone(query, handle: handle)
    }

    /// On `queue`: holds `query` if a transaction is open (or about to be), else runs it.
    fileprivate func hold(_ query: PostgresQuery, handle: OpaquePointer) throws {
        guard deferredBegin != nil || PQtransactionStatus(handle) == PQTRANS_INTRANS else {
            _ = try execute(query, handle: handle)
            return
        }
        heldStatements.append(query)
    }

    private func executeAlone(_ query: PostgresQuery, handle: OpaquePointer) throws -> PostgresRows {
        let result: OpaquePointer?
        if !query.parameters.isEmpty, let name = try preparedStatement(for: query, handle: handle) {
            result = withParameterArray(query.parameters) { values, count in
                PQexecPrepared(handle, name, count, values, nil, nil, 0)
            }
        } else {
            result = withParameterArray(query.parameters) { values, count in
                PQexecParams(handle, query.sql, count, nil, values, nil, nil, 0)
            }
        }
        return try Self.consume(result, connection: handle, context: query.description)
    }

    /// The name of this session's prepared statement for `query`, preparing it the first time:
    /// parsing and planning once per connection instead of once per call. Prepared statements
    /// belong to the session, so a new connection starts with an empty cache. Called on `queue`.
    private func preparedStatement(for query: PostgresQuery, handle: OpaquePointer) throws -> String? {
        if let name = preparedStatements[query.sql] { return name }
        guard preparedStatements.count < Self.preparedStatementLimit else { return nil }
        let name = "passerelle_\(preparedStatements.count)"
        let result = PQprepare(handle, name, query.sql, Int32(query.parameters.count), nil)
        _ = try Self.consume(result, connection: handle, context: "preparing \(query.description)")
        preparedStatements[query.sql] = name
        return name
    }

    private static let preparedStatementLimit = 256

    /// What a pipelined round trip sent, in order: one result comes back for each.
    private enum PipelinedStep {
        case begin(String)
        case prepare(PostgresQuery, name: String)
        case statement(PostgresQuery)
    }

    /// Sends what waits (a BEGIN, held statements) and then `query` in one round trip, through
    /// libpq's pipeline mode: each statement new to the session is prepared on the way, a sync
    /// ends the batch. Every result is read before any is looked at, so the connection is left
    /// idle whatever failed; the first failure is thrown, with its statement as context (the
    /// server skips everything after it up to the sync). Returns `query`'s rows.
    @discardableResult
    private func sendWaiting(then query: PostgresQuery?, handle: OpaquePointer) throws -> PostgresRows {
        let begin = deferredBegin
        var statements = heldStatements
        if let query { statements.append(query) }
        deferredBegin = nil
        heldStatements.removeAll()
        guard PQenterPipelineMode(handle) == 1 else {
            if let begin { _ = try Self.consume(PQexec(handle, begin), connection: handle, context: begin) }
            var rows = PostgresRows(columns: [], values: [], affectedRows: 0)
            for statement in statements { rows = try executeAlone(statement, handle: handle) }
            return rows
        }
        var steps: [PipelinedStep] = []
        steps.reserveCapacity(statements.count * 2 + 1)
        var sent = true
        if let begin {
            sent = PQsendQueryParams(handle, begin, 0, nil, nil, nil, nil, 0) == 1
            steps.append(.begin(begin))
        }
        var preparing: [String: String] = [:]
        for statement in statements where sent {
            var name: String?
            if !statement.parameters.isEmpty {
                name = preparedStatements[statement.sql] ?? preparing[statement.sql]
                if name == nil, preparedStatements.count + preparing.count < Self.preparedStatementLimit {
                    let newName = "passerelle_\(preparedStatements.count + preparing.count)"
                    sent = PQsendPrepare(handle, newName, statement.sql, Int32(statement.parameters.count), nil) == 1
                    steps.append(.prepare(statement, name: newName))
                    preparing[statement.sql] = newName
                    name = newName
                }
            }
            guard sent else { break }
            sent = withParameterArray(statement.parameters) { values, count in
                if let name { return PQsendQueryPrepared(handle, name, count, values, nil, nil, 0) == 1 }
                return PQsendQueryParams(handle, statement.sql, count, nil, values, nil, nil, 0) == 1
            }
            steps.append(.statement(statement))
        }
        sent = sent && PQpipelineSync(handle) == 1
        // Each command's results end with a null; the sync point answers last.
        var results: [OpaquePointer?] = []
        if sent {
            results.reserveCapacity(steps.count)
            for _ in steps {
                var first: OpaquePointer?
                while let result = PQgetResult(handle) {
                    if first == nil { first = result } else { PQclear(result) }
                }
                results.append(first)
            }
            if let sync = PQgetResult(handle) { PQclear(sync) }
        }
        let failure =
            sent
            ? nil
            : PostgresError(
                kind: PQstatus(handle) == CONNECTION_BAD ? .connectionUnavailable : .other, message: Self.redactedMessage(handle),
                context: begin ?? statements.first?.description ?? "pipelined statements")
        PQexitPipelineMode(handle)
        if let failure {
            results.forEach { PQclear($0) }
            throw failure
        }
        var rows = PostgresRows(columns: [], values: [], affectedRows: 0)
        var firstFailure: (any Error)?
        for (step, result) in zip(steps, results) {
            // After a failure the server answers "aborted" to the rest: only the first one tells why.
            guard firstFailure == nil else {
                PQclear(result)
                continue
            }
            do {
                switch step {
                case .begin(let sql):
                    _ = try Self.consume(result, connection: handle, context: sql)
                case .prepare(let statement, let name):
                    _ = try Self.consume(result, connection: handle, context: "preparing \(statement.description)")
                    preparedStatements[statement.sql] = name
                case .statement(let statement):
                    rows = try Self.consume(result, connection: handle, context: statement.description)
                }
            } catch {
                firstFailure = error
            }
        }
        if let firstFailure { throw firstFailure }
        return rows
    }

    /// Sends a waiting BEGIN and held statements before anything that cannot go in a pipeline
    /// (COPY, scripts). Called on `queue`.
    private func sendWaiting(handle: OpaquePointer) throws {
        guard deferredBegin != nil || !heldStatements.isEmpty else { return }
        try sendWaiting(then: nil, handle: handle)
    }

    /// Loads `rows` into `table` with `COPY … FROM STDIN` (text format): for bulk loads, where
    /// it costs the server a fraction of what the same rows cost as INSERT statements. Runs inside
    /// whatever transaction the connection is in. Returns the number of rows copied.
    @discardableResult
    public func copy(into table: String, columns: [String], rows: PostgresCopyRows) async throws -> Int {
        for name in [table] + columns {
            precondition(PostgresConfiguration.isPlainIdentifier(name), "not a plain identifier: \(name)")
        }
        let sql = "COPY \"\(table)\" (\(columns.map { "\"\($0)\"" }.joined(separator: ", "))) FROM STDIN"
        let context = "copying into \(table)"
        return try await onQueue(cancellable: true) { handle in
            try self.sendWaiting(handle: handle)
            guard let start = PQexec(handle, sql) else {
                throw PostgresError(
                    kind: PQstatus(handle) == CONNECTION_BAD ? .connectionUnavailable : .other, message: Self.redactedMessage(handle), context: context)
            }
            guard PQresultStatus(start) == PGRES_COPY_IN else {
                _ = try Self.consume(start, connection: handle, context: context)
                throw PostgresError(kind: .other, message: "the server did not start a COPY", context: context)
            }
            PQclear(start)
            // Sent in chunks so libpq never buffers the whole load at once.
            var sent = true
            rows.bytes.withUnsafeBufferPointer { buffer in
                var offset = 0
                while sent && offset < buffer.count {
                    let length = min(1 << 20, buffer.count - offset)
                    sent = buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: length) {
                        PQputCopyData(handle, $0, Int32(length)) == 1
                    }
                    offset += length
                }
            }
            // Ending the COPY with an error message makes the server abort it (and report why).
            _ = sent ? PQputCopyEnd(handle, nil) : PQputCopyEnd(handle, "the client could not send every row")
            var outcome: Result<Int, any Error> = .success(0)
            while let result = PQgetResult(handle) {
                if case .success = outcome {
                    outcome = Result { try Self.consume(result, connection: handle, context: context).affectedRows }
                } else {
                    PQclear(result)
                }
            }
            return try outcome.get()
        }
    }

    // MARK: - Wake-ups after commit

    /// Asks for `channel` to be notified once the current transaction commits: listeners
    /// (e.g. an outbox relay) learn that there is work. For channels whose work any listener
    /// can do (a queue in a table: outbox rows, due deliveries).
    ///
    /// If something in this process waits on the channel (the pool's `InProcessWakeUps`, e.g. an
    /// outbox relay's wake-up loop), it is woken directly and nothing goes to the server: it does
    /// the work, as a listener elsewhere would. Otherwise a NOTIFY is sent after the commit, in a
    /// transaction of its own, rather than inside the transaction: PostgreSQL serialises every
    /// committing transaction that has notified, through its WAL flush, which caps all writers of
    /// the database at one commit per flush. (Every NOTIFY also wakes every listening session of
    /// the database, whatever its channel.)
    ///
    /// With a `window`, no NOTIFY is sent if a connection of the same pool sent one on the channel
    /// less than `window` ago: for listeners that, once woken, wait longer than `window` before
    /// reading (as the outbox relay does), that earlier wake-up already covers this commit.
    public func notifyAfterCommit(_ channel: String, window: Duration = .zero) async throws {
        precondition(PostgresConfiguration.isPlainIdentifier(channel), "not a plain identifier: \(channel)")
        try await onQueue(cancellable: false) { _ in self.addWakeUp(channel, window: window) }
    }

    /// Delivers the wake-ups asked for since the last commit: in process where something here
    /// waits on the channel, by NOTIFY otherwise. Losing one costs only latency (listeners also poll), so the
    /// NOTIFY's commit does not wait for the WAL flush.
    fileprivate func sendWakeUps(handle: OpaquePointer) throws {
        guard !pendingWakeUps.isEmpty else { return }
        let channels = wakeUps.channelsToNotify(pendingWakeUps)
        pendingWakeUps.removeAll()
        guard !channels.isEmpty else { return }
        let notifications = channels.map { "NOTIFY \"\($0)\"" }.joined(separator: "; ")
        _ = try Self.consume(
            PQexec(handle, "BEGIN; SET LOCAL synchronous_commit TO off; \(notifications); COMMIT"), connection: handle, context: "sending wake-ups")
    }

    /// Ends the current transaction without its effects: held statements and wake-ups are
    /// dropped, and ROLLBACK goes to the server only if a transaction is open there. A failure
    /// leaves the connection in a transaction, so the pool drops it.
    func rollback() async {
        _ = try? await onQueue(cancellable: false) { handle in try self.rollback(handle: handle) }
    }

    fileprivate func rollback(handle: OpaquePointer) throws {
        deferredBegin = nil
        heldStatements.removeAll()
        pendingWakeUps.removeAll()
        guard PQtransactionStatus(handle) != PQTRANS_IDLE else { return }
        _ = try Self.consume(PQexec(handle, "ROLLBACK"), connection: handle, context: "ROLLBACK")
    }

    /// From a session, already on `queue`.
    fileprivate func deferBegin(_ begin: String) {
        deferredBegin = begin
    }

    /// From a session, already on `queue`.
    fileprivate func addWakeUp(_ channel: String, window: Duration) {
        pendingWakeUps[channel] = min(window, pendingWakeUps[channel] ?? window)
    }

    /// For the pool, in one hop when the connection comes back: whether it is still inside a
    /// transaction (then it is dropped), after sending the wake-ups of a transaction committed
    /// by hand (BEGIN … COMMIT through `query`).
    func settleForRelease() async -> (inTransaction: Bool, wakeUpError: (any Error)?) {
        (try? await onQueue(cancellable: false) { handle -> (Bool, (any Error)?) in
            // A transaction begun without a statement was never opened on the server; statements
            // still held belong to a transaction that did not commit.
            self.deferredBegin = nil
            self.heldStatements.removeAll()
            guard PQtransactionStatus(handle) == PQTRANS_IDLE else { return (true, nil) }
            do {
                try self.sendWakeUps(handle: handle)
                return (false, nil)
            } catch {
                return (false, error)
            }
        }) ?? (true, nil)
    }

    /// Runs a multi-statement script over the simple-query protocol. Only for SQL the code
    /// itself owns (migrations); anything carrying values goes through `query`.
    public func runScript(_ sql: String) async throws {
        try await onQueue(cancellable: true) { handle in
            try self.sendWaiting(handle: handle)
            _ = try Self.consume(PQexec(handle, sql), connection: handle, context: "running a migration script")
        }
    }

    /// Whether the connection can be handed out: open, not inside a transaction, and the server
    /// has not closed it while it sat idle (a restarted server leaves the socket readable at EOF).
    func isReusable() async -> Bool {
        (try? await onQueue(cancellable: false) { handle -> Bool in
            guard PQstatus(handle) == CONNECTION_OK else { return false }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            // Nothing should arrive on an idle pooled connection; if something did, it is most
            // likely the server saying goodbye (restart, admin termination). Don't reuse it.
            if poll(&descriptor, 1, 0) != 0 { return false }
            return PQtransactionStatus(handle) == PQTRANS_IDLE
        }) ?? false
    }

    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if let handle = self.handle { PQfinish(handle) }
                self.handle = nil
                continuation.resume()
            }
        }
    }

    // MARK: - Confinement

    private func onQueue<T: Sendable>(cancellable: Bool, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let statement = StatementCancellation()
        let run = { () async throws -> T in
            if DispatchQueue.getSpecific(key: Self.queueKey) == self.token {
                return try self.perform(statement, body).get()
            }
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                self.queue.async { continuation.resume(with: self.perform(statement, body)) }
            }
        }
        guard cancellable, let cancelHandle = CancelHandle(cancelHandle) else { return try await run() }
        return try await withTaskCancellationHandler(operation: run, onCancel: { statement.cancel(using: cancelHandle) })
    }

    /// On `queue`: `body` with the handle, unless the connection is closed or the statement was
    /// cancelled before it could start.
    private func perform<T>(_ statement: StatementCancellation, _ body: (OpaquePointer) throws -> T) -> Result<T, any Error> {
        guard let handle else { return .failure(PostgresError(kind: .connectionUnavailable, message: "connection is closed")) }
        guard statement.start() else { return .failure(PostgresError(kind: .queryCanceled, message: "cancelled before it was sent")) }
        defer { statement.finish() }
        return Result { try body(handle) }
    }

    /// Turns a `PGresult` into rows or a typed error, and frees it before returning.
    /// `context` is only built when something failed (it is on every statement's path).
    private static func consume(_ result: OpaquePointer?, connection: OpaquePointer, context: @autoclosure () -> String) throws -> PostgresRows {
        guard let result else {
            throw PostgresError(
                kind: PQstatus(connection) == CONNECTION_BAD ? .connectionUnavailable : .other,
                message: redactedMessage(connection), context: context())
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var rows: [[String?]] = []
            rows.reserveCapacity(rowCount)
            for r in 0..<Int32(rowCount) {
                var row: [String?] = []
                row.reserveCapacity(columnCount)
                for c in 0..<Int32(columnCount) {
                    if PQgetisnull(result, r, c) == 1 {
                        row.append(nil)
                    } else {
                        row.append(String(cString: PQgetvalue(result, r, c)))
                    }
                }
                rows.append(row)
            }
            return PostgresRows(columns: columns, values: rows, affectedRows: rowCount)
        default:
            throw error(from: result, connection: connection, context: context())
        }
    }

    private static func error(from result: OpaquePointer, connection: OpaquePointer, context: String) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            guard let value = PQresultErrorField(result, Int32(code)) else { return nil }
            return String(cString: value)
        }
        guard let state = field(UInt8(ascii: "C")) else {
            return PostgresError(
                kind: PQstatus(connection) == CONNECTION_BAD ? .connectionUnavailable : .other,
                message: redactedMessage(connection), context: context)
        }
        return PostgresError(
            kind: PostgresError.kind(forSQLState: state),
            sqlState: state,
            message: field(UInt8(ascii: "M")) ?? "unknown error",
            detail: field(UInt8(ascii: "D")),
            constraint: field(UInt8(ascii: "n")),
            table: field(UInt8(ascii: "t")),
            column: field(UInt8(ascii: "c")),
            context: context)
    }

    /// libpq's connection messages can quote connection parameters; keep only the first line
    /// and drop anything that looks like a password assignment.
    private static func redactedMessage(_ connection: OpaquePointer) -> String {
        let text = String(cString: PQerrorMessage(connection))
        let firstLine = text.split(separator: "\n").first.map(String.init) ?? "connection failed"
        return firstLine.contains("password=") ? "connection failed (details withheld)" : firstLine
    }
}

/// A connection as seen from code already running on its queue (see `withSession`). It is
/// only valid inside that closure and must not escape it.
public struct PostgresSession: ~Copyable {
    fileprivate let connection: PostgresConnection
    fileprivate let handle: OpaquePointer

    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresRows {
        try connection.execute(query, handle: handle)
    }

    /// See `PostgresConnection.execute`.
    public func execute(_ query: PostgresQuery) throws {
        try connection.hold(query, handle: handle)
    }

    /// See `PostgresConnection.begin`.
    func begin(_ begin: String) {
        connection.deferBegin(begin)
    }

    /// See `PostgresConnection.rollback`.
    func rollback() throws {
        try connection.rollback(handle: handle)
    }

    /// The schema of the connection (see `PostgresConnection.schema`).
    public var schema: String? { connection.schema }

    /// See `PostgresConnection.notifyAfterCommit`.
    public func notifyAfterCommit(_ channel: String, window: Duration = .zero) {
        precondition(PostgresConfiguration.isPlainIdentifier(channel), "not a plain identifier: \(channel)")
        connection.addWakeUp(channel, window: window)
    }

}

/// Runs the jobs of the tasks that prefer it on a connection's queue.
final class ConnectionExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// The cancel object outlives any statement (freed in the connection's deinit).
private struct CancelHandle: @unchecked Sendable {
    // PQcancel is explicitly thread-safe in libpq; the pointer is read-only here.
    let pointer: OpaquePointer
    init?(_ pointer: OpaquePointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer
    }
    func cancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

/// Where one call on the queue is, for a cancellation that can come at any time: before the call
/// starts it is simply not made; while it runs the server is asked to cancel it, again every
/// 100 ms while it still runs, because a request that reaches the server just before the
/// statement does cancels nothing. Requests stop once the call is over, so they never reach the
/// next user of the connection.
private final class StatementCancellation: Sendable {
    private enum Phase { case waiting, running, cancelled, finished }
    private let phase = Mutex(Phase.waiting)

    /// False if the call was cancelled before it started.
    func start() -> Bool {
        phase.withLock { phase in
            guard phase == .waiting else { return false }
            phase = .running
            return true
        }
    }

    func finish() {
        phase.withLock { $0 = .finished }
    }

    /// Called from the cancelled task's cancellation handler, often on the cooperative pool:
    /// the cancel requests themselves (PQcancel opens a connection to the server and waits for
    /// it) are made on a dispatch thread.
    func cancel(using handle: CancelHandle) {
        let running = phase.withLock { phase -> Bool in
            if phase == .waiting { phase = .cancelled }
            return phase == .running
        }
        if running { DispatchQueue.global().async { self.requestCancel(using: handle, attempt: 0) } }
    }

    private func requestCancel(using handle: CancelHandle, attempt: Int) {
        let running = phase.withLock { phase -> Bool in
            guard phase == .running else { return false }
            handle.cancel()  // under the lock, so it cannot reach the connection's next statement
            return true
        }
        guard running, attempt < 50 else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { self.requestCancel(using: handle, attempt: attempt + 1) }
    }
}

/// Builds NULL-terminated `const char *const *` keyword and value arrays whose storage lives for
/// the whole call (never `UnsafePointer(array)`).
private func withKeywordArrays<R>(_ pairs: [(String, String)], _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let keys = pairs.map { strdup($0.0) }
    let values = pairs.map { strdup($0.1) }
    defer {
        keys.forEach { free($0) }
        values.forEach { free($0) }
    }
    var keyPointers: [UnsafePointer<CChar>?] = keys.map { UnsafePointer($0) } + [nil]
    var valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
    return keyPointers.withUnsafeMutableBufferPointer { k in
        valuePointers.withUnsafeMutableBufferPointer { v in
            body(UnsafePointer(k.baseAddress!), UnsafePointer(v.baseAddress!))
        }
    }
}

private func withParameterArray<R>(_ parameters: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) -> R) -> R {
    if parameters.isEmpty { return body(nil, 0) }
    let copies = parameters.map { $0.map { strdup($0) } ?? nil }
    defer { copies.forEach { free($0) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        body(UnsafePointer(buffer.baseAddress!), Int32(parameters.count))
    }
}

/// Routes libpq notices (warnings the server sends on a connection) to the service's log
/// instead of libpq's default of printing them on stderr.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

let noticeReceiver: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> Void = { context, result in
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? "NOTICE"
    let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
    let metadata: Logger.Metadata = ["source": "postgresql", "severity": "\(severity)"]
    switch severity {
    case "WARNING": sink.logger.warning("\(message)", metadata: metadata)
    case "FATAL", "PANIC", "ERROR": sink.logger.info("\(message)", metadata: metadata)  // also surfaced as a typed error
    default: sink.logger.debug("\(message)", metadata: metadata)
    }
}
