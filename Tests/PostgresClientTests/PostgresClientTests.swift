import Foundation
import PostgresClient
import Synchronization
import TestSupport
import Testing

@Suite("PostgreSQL wrapper against a real server", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct PostgresClientTests {
    let logger = TestEnvironment.logger

    /// A pool on a schema of this test's own, dropped afterwards.
    func withSchema<T: Sendable>(_ body: @Sendable (PostgresConnectionPool, String) async throws -> T) async throws -> T {
        let schema = TestEnvironment.uniqueName("pgtest")
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: schema), logger: logger)
        try await pool.withConnection { try await $0.query("CREATE SCHEMA \(identifier: schema)") }
        do {
            let result = try await body(pool, schema)
            try await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
            await pool.close()
            return result
        } catch {
            _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
            await pool.close()
            throw error
        }
    }

    @Test("values survive a round trip through parameters and typed decoding")
    func roundTripTypes() async throws {
        try await withSchema { pool, _ in
            let id = UUID()
            let when = Date(timeIntervalSince1970: 1_790_000_000.123456)
            // Elements that begin with a combining mark: read by Character, each would merge with
            // the comma or quote before it.
            let tags = ["walking", "a,b", "quote\"d", "back\\slash", "{brace}", "\u{301}accent", "\u{301} spaced", "\u{20DD}"]
            let bytes = Data([0, 1, 2, 254, 255])
            let text = "Élodie's \"club\"; DROP TABLE x; --"
            let ids = [UUID(uuidString: "0A1B2C3D-4E5F-4789-8ABC-DEF012345678")!, UUID()]
            let row = try #require(
                try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT \(id)::uuid AS id, \(when)::timestamptz AS at, \(tags)::text[] AS tags, \(bytes)::bytea AS bytes,
                               \(text)::text AS text, \(42)::int AS n, \(Int64.max)::bigint AS big, \(true)::boolean AS flag,
                               \(2.5)::float8 AS ratio, \(String?.none)::text AS missing,
                               \(ids)::uuid[] AS ids, \(ids[0])::uuid::text AS id_text, 'not-a-uuid' AS bad_id
                        """
                    ).first
                })
            #expect(try row.decode("id", as: UUID.self) == id)
            let decodedDate = try row.decode("at", as: Date.self)
            #expect(abs(decodedDate.timeIntervalSince(when)) < 0.000_002)
            #expect(try row.decode("tags", as: [String].self) == tags)
            #expect(try row.decode("bytes", as: Data.self) == bytes)
            #expect(try row.decode("text", as: String.self) == text)
            #expect(try row.decode("n", as: Int.self) == 42)
            #expect(try row.decode("big", as: Int64.self) == Int64.max)
            #expect(try row.decode("flag", as: Bool.self))
            #expect(try row.decode("ratio", as: Double.self) == 2.5)
            #expect(try row.decode("missing", as: String?.self) == nil)
            #expect(throws: PostgresError.self) { try row.decode("missing", as: String.self) }
            #expect(try row.decode("ids", as: [UUID].self) == ids)
            #expect(try row.decode("id_text", as: String.self) == "0a1b2c3d-4e5f-4789-8abc-def012345678")
            #expect(throws: PostgresError.self) { try row.decode("bad_id", as: UUID.self) }
        }
    }

    @Test("COPY loads every value as INSERT would, NULLs and escapes included; a failing COPY is a typed error and loads nothing")
    func copyRows() async throws {
        try await withSchema { pool, _ in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE item (id uuid PRIMARY KEY, label text, tags text[], at timestamptz, n bigint)")
                let when = Date(timeIntervalSince1970: 1_790_000_000.25)
                let awkward = "tab\there\nnew line \\ back\\slash \"quoted\" \r end"
                let tags = ["a,b", "quote\"d", "back\\slash", "tab\t"]
                let ids = (0..<1_000).map { _ in UUID() }
                var rows = PostgresCopyRows()
                rows.append([ids[0], awkward, tags, when, Int64.max])
                rows.append([ids[1], nil, [String](), nil, nil])
                for id in ids.dropFirst(2) { rows.append([id, "row", ["x"], when, 1]) }
                #expect(rows.count == ids.count)
                let copied = try await connection.copy(into: "item", columns: ["id", "label", "tags", "at", "n"], rows: rows)
                #expect(copied == ids.count)
                let first = try #require(try await connection.query("SELECT label, tags, at, n FROM item WHERE id = \(ids[0])::uuid").first)
                #expect(try first.decode("label", as: String.self) == awkward)
                #expect(try first.decode("tags", as: [String].self) == tags)
                #expect(abs(try first.decode("at", as: Date.self).timeIntervalSince(when)) < 0.000_002)
                #expect(try first.decode("n", as: Int64.self) == Int64.max)
                let second = try #require(try await connection.query("SELECT label, at, n FROM item WHERE id = \(ids[1])::uuid").first)
                #expect(try second.decode("label", as: String?.self) == nil)
                #expect(try second.decode("n", as: Int64?.self) == nil)

                // A duplicate key fails the whole COPY with its SQLSTATE; the connection stays usable.
                var duplicate = PostgresCopyRows()
                duplicate.append([UUID(), "new", nil, nil, nil])
                duplicate.append([ids[5], "again", nil, nil, nil])
                await #expect(throws: PostgresError.self) {
                    try await connection.copy(into: "item", columns: ["id", "label", "tags", "at", "n"], rows: duplicate)
                }
                do {
                    try await connection.copy(into: "item", columns: ["id", "label", "tags", "at", "n"], rows: duplicate)
                } catch let error as PostgresError {
                    #expect(error.kind == .uniqueViolation)
                }
                let count = try await connection.query("SELECT count(*) AS n FROM item").first?.decode("n", as: Int.self)
                #expect(count == ids.count)
            }
        }
    }

    @Test("constraint failures are typed by SQLSTATE")
    func typedErrors() async throws {
        try await withSchema { pool, _ in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE parent (id int PRIMARY KEY, size int CHECK (size > 0))")
                try await connection.query("CREATE TABLE child (parent_id int REFERENCES parent (id))")
                try await connection.query("INSERT INTO parent VALUES (\(1), \(1))")
            }
            let unique = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { try await $0.query("INSERT INTO parent VALUES (\(1), \(1))") }
            }
            #expect(unique?.kind == .uniqueViolation)
            #expect(unique?.constraint == "parent_pkey")
            let check = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { try await $0.query("INSERT INTO parent VALUES (\(2), \(0))") }
            }
            #expect(check?.kind == .checkViolation)
            let foreign = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { try await $0.query("INSERT INTO child VALUES (\(9))") }
            }
            #expect(foreign?.kind == .foreignKeyViolation)
            let syntax = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { try await $0.query("SELEC 1") }
            }
            #expect(syntax?.sqlState == "42601")
            // The connection that failed is still usable.
            let count = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM parent").first?.decode("n", as: Int.self) }
            #expect(count == 1)
        }
    }

    /// A client that vanished without the server seeing it (a proxy dropping one side) must not
    /// keep its transaction's row locks for the two hours of TCP keepalive: the server ends a
    /// transaction left idle past the bound, and its locks with it.
    @Test("a transaction left idle past its bound is ended by the server, and its row locks freed")
    func idleTransactionEnded() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { try await $0.query("CREATE TABLE item (id int PRIMARY KEY)") }
            try await pool.withConnection { try await $0.query("INSERT INTO item VALUES (\(1))") }
            let shown = try await pool.withConnection {
                try await $0.query("SHOW idle_in_transaction_session_timeout").first?.decode("idle_in_transaction_session_timeout", as: String.self)
            }
            #expect(shown == "2min")
            var configuration = TestEnvironment.postgresConfiguration(schema: schema, poolSize: 1)
            configuration.idleInTransactionTimeoutMilliseconds = 500
            let idler = PostgresConnectionPool(configuration: configuration, logger: logger)
            await #expect(throws: PostgresError.self) {
                try await idler.transaction { connection in
                    try await connection.query("SELECT id FROM item WHERE id = \(1) FOR UPDATE")
                    try await Task.sleep(for: .seconds(2))
                    try await connection.query("SELECT 1")
                }
            }
            await idler.close()
            // The row is free again: another transaction locks it without waiting.
            let locked = try await pool.transaction { connection in
                try await connection.query("SET LOCAL lock_timeout = '1s'")
                return try await connection.query("SELECT id FROM item WHERE id = \(1) FOR UPDATE NOWAIT").count
            }
            #expect(locked == 1)
        }
    }

    @Test("a failed transaction leaves nothing behind")
    func rollback() async throws {
        try await withSchema { pool, _ in
            try await pool.withConnection { try await $0.query("CREATE TABLE item (id int PRIMARY KEY)") }
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.query("INSERT INTO item VALUES (\(1))")
                    try await connection.query("INSERT INTO item VALUES (\(1))")
                }
            }
            let count = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM item").first?.decode("n", as: Int.self) }
            #expect(count == 0)
        }
    }

    /// The BEGIN of a transaction goes out with its first statement (one round trip), in
    /// libpq's pipeline mode: whatever that first statement is, the transaction behaves as if
    /// BEGIN had been sent alone.
    @Test("a transaction's BEGIN travels with its first statement, whatever that statement is")
    func beginWithFirstStatement() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { try await $0.query("CREATE TABLE \(identifier: schema).note (id int PRIMARY KEY, body text)") }
            // The isolation level asked for is the transaction's, for both kinds of body.
            let level = try await pool.transaction(isolation: .serializable) {
                try await $0.query("SHOW transaction_isolation").first!.decode("transaction_isolation", as: String.self)
            }
            #expect(level == "serializable")
            let sessionLevel = try await pool.sessionTransaction(isolation: .repeatableRead) {
                try $0.query("SHOW transaction_isolation").first!.decode("transaction_isolation", as: String.self)
            }
            #expect(sessionLevel == "repeatable read")
            // A parameterised first statement new to the connection is prepared in the same pipeline,
            // and the prepared statement is reused afterwards.
            for id in 1...3 {
                try await pool.transaction { try await $0.query("INSERT INTO \(identifier: schema).note (id, body) VALUES (\(id), \("n\(id)"))") }
            }
            // A first statement that fails is a typed error; nothing of it stays, and the connection
            // serves the next transaction.
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { try await $0.query("INSERT INTO \(identifier: schema).note (id, body) VALUES (\(1), \("again"))") }
            }
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { try await $0.query("SELEC 1") }
            }
            // COPY cannot travel in a pipeline: BEGIN goes ahead of it, and a rollback undoes it.
            let rows = {
                var rows = PostgresCopyRows()
                rows.append([7, "copied"])
                return rows
            }()
            await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.copy(into: "note", columns: ["id", "body"], rows: rows)
                    try await connection.query("SELECT 1/0")
                }
            }
            // A transaction with no statement at all leaves nothing pending on its connection: what
            // the next lease of it writes is committed, as another session sees.
            try await pool.transaction { _ in }
            try await pool.withConnection { try await $0.query("INSERT INTO \(identifier: schema).note (id, body) VALUES (\(9), \("after"))") }
            let other = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: schema), logger: logger)
            let count = try await other.withConnection {
                try await $0.query("SELECT count(*) AS n FROM \(identifier: schema).note").first!.decode("n", as: Int.self)
            }
            await other.close()
            #expect(count == 4)
        }
    }

    @Test("statements whose rows are not needed travel with the next statement that needs an answer")
    func heldStatements() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { try await $0.query("CREATE TABLE \(identifier: schema).note (id int PRIMARY KEY, body text)") }
            let observer = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: schema), logger: logger)
            defer { Task { await observer.close() } }
            @Sendable func notes() async throws -> Int {
                try await observer.withConnection {
                    try await $0.query("SELECT count(*) AS n FROM \(identifier: schema).note").first!.decode("n", as: Int.self)
                }
            }
            // An INSERT that reached the server holds a lock on the table until the transaction ends.
            @Sendable func locksOnNote() async throws -> Int {
                try await observer.withConnection {
                    try await $0.query(
                        """
                        SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                        WHERE c.relname = 'note' AND c.relnamespace = \(schema)::regnamespace AND l.pid <> pg_backend_pid()
                        """
                    ).first!.decode("n", as: Int.self)
                }
            }
            let seen = try await pool.transaction { connection in
                try await connection.execute("INSERT INTO note (id, body) VALUES (\(1), \("one"))")
                try await connection.execute("INSERT INTO note (id, body) VALUES (\(2), \("two"))")
                #expect(try await locksOnNote() == 0)
                // The next statement goes after them, in the same round trip, and sees their rows.
                let seen = try await connection.query("SELECT count(*) AS n FROM note").first!.decode("n", as: Int.self)
                #expect(try await locksOnNote() > 0)
                try await connection.execute("INSERT INTO note (id, body) VALUES (\(3), \("three"))")
                return seen
            }
            #expect(seen == 2)
            #expect(try await notes() == 3)  // the last one went with the COMMIT

            // A held statement that fails is thrown by the statement that carried it, naming it, and
            // the whole transaction is undone.
            let failure = await #expect(throws: PostgresError.self) {
                try await pool.transaction { connection in
                    try await connection.execute("INSERT INTO note (id, body) VALUES (\(4), \("four"))")
                    try await connection.execute("INSERT INTO note (id, body) VALUES (\(1), \("one again"))")
                    try await connection.execute("INSERT INTO note (id, body) VALUES (\(5), \("five"))")
                }
            }
            #expect(failure?.kind == .uniqueViolation)
            #expect(failure?.context?.contains("INSERT INTO note") == true)
            #expect(try await notes() == 3)

            // A transaction that gives up never sends what it held.
            struct GaveUp: Error {}
            await #expect(throws: GaveUp.self) {
                try await pool.sessionTransaction { session in
                    try session.execute("SELEC 1")
                    throw GaveUp()
                }
            }
            // Sessions hold the same way; outside a transaction a statement runs at once.
            try await pool.sessionTransaction { session in
                try session.execute("INSERT INTO note (id, body) VALUES (\(6), \("six"))")
                try session.execute("INSERT INTO note (id, body) VALUES (\(7), \("seven"))")
            }
            try await pool.withConnection { connection in
                try await connection.execute("INSERT INTO note (id, body) VALUES (\(8), \("eight"))")
                #expect(try await notes() == 6)
            }
        }
    }

    /// Starts a unit that keeps `group`'s transaction busy for 300 ms (a group with one transaction
    /// at a time), so that units submitted meanwhile queue up and share the next one.
    func occupy(_ group: PostgresCommitGroup) async throws -> Task<Void, any Error> {
        let running = Task { try await group.run { session in _ = try session.query("SELECT pg_sleep(0.3)") } }
        try await Task.sleep(for: .milliseconds(100))
        return running
    }

    @Test("units submitted together share a transaction, each seeing the ones before it")
    func commitGroupShares() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE \(identifier: schema).tally (n int NOT NULL)")
                try await connection.query("INSERT INTO \(identifier: schema).tally VALUES (0)")
                try await connection.query("CREATE TABLE \(identifier: schema).unit (id int PRIMARY KEY, transaction_id bigint NOT NULL)")
            }
            let group = PostgresCommitGroup(pool: pool, maxUnits: 16, maxTransactions: 1)
            let tallies = try await withThrowingTaskGroup(of: Int.self) { tasks in
                for id in 0..<64 {
                    tasks.addTask {
                        try await group.run { session in
                            try session.execute("INSERT INTO unit VALUES (\(id), txid_current())")
                            return try session.query("UPDATE tally SET n = n + 1 RETURNING n").first!.decode("n", as: Int.self)
                        }
                    }
                }
                return try await tasks.reduce(into: [Int]()) { $0.append($1) }
            }
            // As if run one after another: every unit saw the tally its predecessors left.
            #expect(tallies.sorted() == Array(1...64))
            let transactions = try await pool.withConnection {
                try await $0.query("SELECT count(DISTINCT transaction_id) AS n FROM unit").first!.decode("n", as: Int.self)
            }
            #expect(transactions < 64, "\(transactions) transactions for 64 units")
        }
    }

    @Test("a unit that fails in a group fails alone; the others commit once each")
    func commitGroupIsolatesFailure() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE \(identifier: schema).unit (id int PRIMARY KEY)")
                try await connection.query("INSERT INTO \(identifier: schema).unit (id) VALUES (1000), (2000)")
            }
            struct Refused: Error {}
            let group = PostgresCommitGroup(pool: pool, maxUnits: 64, maxTransactions: 1)
            // The first unit keeps the only group transaction busy while the others queue up behind
            // it, so they all share the next one. There unit 7 throws, and units 1000 and 2000
            // collide with existing rows, one held (its failure surfaces at the next unit's
            // statement or the COMMIT), one answered at once.
            let blocker = try await occupy(group)
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { tasks in
                for id in Array(0..<40) + [1000, 2000] {
                    tasks.addTask {
                        do {
                            try await group.run { session in
                                if id == 7 { throw Refused() }
                                if id == 2000 {
                                    try session.query("INSERT INTO unit (id) VALUES (\(id))")
                                } else {
                                    try session.execute("INSERT INTO unit (id) VALUES (\(id))")
                                }
                            }
                            return (id, true)
                        } catch {
                            return (id, false)
                        }
                    }
                }
                return await tasks.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            try await blocker.value
            #expect(outcomes.filter { !$0.value }.keys.sorted() == [7, 1000, 2000])
            let stored = try await pool.withConnection {
                try await $0.query("SELECT id FROM unit ORDER BY id").map { try $0.decode("id", as: Int.self) }
            }
            #expect(stored == Array(0..<40).filter { $0 != 7 } + [1000, 2000])
        }
    }

    @Test("a group whose connection breaks fails every unit of it, and runs none of them again")
    func commitGroupLostConnection() async throws {
        try await withSchema { pool, schema in
            try await pool.withConnection { try await $0.query("CREATE TABLE \(identifier: schema).unit (id int PRIMARY KEY)") }
            let group = PostgresCommitGroup(pool: pool, maxUnits: 32, maxTransactions: 1)
            // The first unit keeps the only group transaction busy while the next twenty queue up
            // behind it, so they share the next one; unit 5 breaks that one's connection.
            let blocker = try await occupy(group)
            let failures = await withTaskGroup(of: PostgresError?.self) { tasks in
                for id in 0..<20 {
                    tasks.addTask {
                        do {
                            try await group.run { session in
                                try session.execute("INSERT INTO unit (id) VALUES (\(id))")
                                if id == 5 { _ = try session.query("SELECT pg_terminate_backend(pg_backend_pid())") }
                            }
                            return nil
                        } catch {
                            return error as? PostgresError
                        }
                    }
                }
                return await tasks.reduce(into: [PostgresError?]()) { $0.append($1) }
            }
            try await blocker.value
            #expect(failures.count == 20)
            #expect(failures.allSatisfy { $0?.kind == .connectionUnavailable }, "\(failures)")
            let stored = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM unit").first!.decode("n", as: Int.self) }
            #expect(stored == 0, "no unit of the broken group was run again")
        }
    }

    @Test("serialization failures are retried until one attempt commits")
    func serializationRetry() async throws {
        try await withSchema { pool, _ in
            try await pool.withConnection { connection in
                try await connection.query("CREATE TABLE counter (id int PRIMARY KEY, value int NOT NULL)")
                try await connection.query("INSERT INTO counter VALUES (1, 0)")
            }
            // Concurrent read-modify-write under SERIALIZABLE: conflicts abort with 40001 and are re-run.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await pool.transaction(isolation: .serializable, maxAttempts: 50) { connection in
                            let value = try await connection.query("SELECT value FROM counter WHERE id = 1").first!.decode("value", as: Int.self)
                            try await Task.sleep(for: .milliseconds(5))
                            try await connection.query("UPDATE counter SET value = \(value + 1) WHERE id = 1")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let value = try await pool.withConnection { try await $0.query("SELECT value FROM counter").first?.decode("value", as: Int.self) }
            #expect(value == 8)
        }
    }

    @Test("the pool never opens more connections than its size, and reuses them")
    func poolBound() async throws {
        try await withSchema { pool, _ in
            let backends = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.02)").first!.decode("pid", as: Int.self)
                        }
                    }
                }
                return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
            }
            #expect(backends.count <= pool.configuration.poolSize)
            #expect(backends.count >= 2, "concurrent callers got more than one connection")
        }
    }

    @Test("a cancelled task interrupts its running statement")
    func cancellation() async throws {
        try await withSchema { pool, _ in
            let start = ContinuousClock.now
            let task = Task { try await pool.withConnection { try await $0.query("SELECT pg_sleep(10)") } }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            let result = await task.result
            #expect(throws: PostgresError.self) { try result.get() }
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    @Test("a statement whose task is already cancelled is not sent at all")
    func cancelledBeforeSending() async throws {
        try await withSchema { pool, _ in
            try await pool.withConnection { connection in
                let start = ContinuousClock.now
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return try await connection.query("SELECT pg_sleep(10)")
                }
                let result = await task.result
                #expect(throws: PostgresError.self) { try result.get() }
                #expect(ContinuousClock.now - start < .seconds(5))
                // The connection is still fine for the next statement.
                let one = try await connection.query("SELECT 1 AS one").first?.decode("one", as: Int.self)
                #expect(one == 1)
            }
        }
    }

    @Test("migrations apply once under concurrency and refuse a history that differs")
    func migrations() async throws {
        let schema = TestEnvironment.uniqueName("migr")
        let migrations = [
            Migration(1, "create_referral", "CREATE TABLE referral (id uuid PRIMARY KEY); CREATE TABLE log (n int);"),
            Migration(2, "add_status", "ALTER TABLE referral ADD COLUMN status text; INSERT INTO log VALUES (2);"),
        ]
        // Two independent pools (separate sessions, as two processes would have) race.
        let pools = (0..<2).map { _ in PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger) }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for pool in pools {
                group.addTask { try await SchemaMigrator(schema: schema, migrations: migrations).migrate(pool, logger: logger) }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(applied.sorted { $0.count < $1.count } == [[], [1, 2]])
        let logRows = try await pools[0].withConnection {
            try await $0.query("SELECT count(*) AS n FROM \(identifier: schema).log").first?.decode("n", as: Int.self)
        }
        #expect(logRows == 1)

        let changed = [migrations[0], Migration(2, "add_status", "ALTER TABLE referral ADD COLUMN status varchar(20);")]
        let mismatch = await #expect(throws: PostgresError.self) {
            try await SchemaMigrator(schema: schema, migrations: changed).migrate(pools[0], logger: logger)
        }
        #expect(mismatch?.kind == .migrationHistoryMismatch)
        let older = await #expect(throws: PostgresError.self) {
            try await SchemaMigrator(schema: schema, migrations: [migrations[0]]).migrate(pools[0], logger: logger)
        }
        #expect(older?.kind == .migrationHistoryMismatch)

        try await pools[0].withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
        for pool in pools { await pool.close() }
    }

    /// A listener on `channel` counting its wake-ups, once connected (its first wake-up says so).
    func connectedListener(_ channel: String) async throws -> (PostgresListener, WakeUpCounter, Task<Void, Never>) {
        let listener = PostgresListener(configuration: TestEnvironment.postgresConfiguration(), channel: channel, logger: logger)
        listener.start()
        let counter = WakeUpCounter()
        let reader = Task { for await _ in listener.wakeUps { counter.count.add(1, ordering: .relaxed) } }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) >= 1 })
        return (listener, counter, reader)
    }

    @Test("LISTEN wakes up a waiter when another session notifies")
    func listenNotify() async throws {
        let channel = TestEnvironment.uniqueName("chan")
        let (listener, counter, reader) = try await connectedListener(channel)
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        try await pool.withConnection { try await $0.query("SELECT pg_notify(\(channel), 'x')") }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) >= 2 })
        reader.cancel()
        listener.stop()
        await pool.close()
    }

    @Test("a wake-up asked for in a transaction goes out after it commits, never for one that rolls back")
    func wakeUpsAfterCommit() async throws {
        let channel = TestEnvironment.uniqueName("chan")
        // Nothing in this process takes the pool's wake-ups: only the server's NOTIFY wakes it.
        let (listener, counter, reader) = try await connectedListener(channel)
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)

        // Inside the transaction nothing is sent yet; after the commit, once.
        try await pool.transaction { connection in
            try await connection.notifyAfterCommit(channel)
            try await connection.notifyAfterCommit(channel)
            try await Task.sleep(for: .milliseconds(300))
            #expect(counter.count.load(ordering: .relaxed) == 1, "nothing before the commit")
        }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) == 2 })

        // A rolled-back transaction (thrown error) sends nothing, then a session transaction sends one.
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await pool.transaction { connection in
                try await connection.notifyAfterCommit(channel)
                throw Abandon()
            }
        }
        try await pool.sessionTransaction { session in session.notifyAfterCommit(channel) }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) >= 3 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(counter.count.load(ordering: .relaxed) == 3, "the rolled-back transaction sent nothing")

        // Within a window of the last wake-up this process sent on the channel, commits send none;
        // without a window, or after it, they do.
        try await pool.transaction { try await $0.notifyAfterCommit(channel, window: .seconds(60)) }
        try await pool.transaction { try await $0.notifyAfterCommit(channel, window: .seconds(60)) }
        try await pool.sessionTransaction { $0.notifyAfterCommit(channel, window: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(counter.count.load(ordering: .relaxed) == 3, "the last wake-up was sent just now")
        try await pool.transaction { try await $0.notifyAfterCommit(channel) }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) == 4 })
        try await Task.sleep(for: .milliseconds(50))
        try await pool.transaction { try await $0.notifyAfterCommit(channel, window: .milliseconds(20)) }
        #expect(try await eventually(timeout: .seconds(5)) { counter.count.load(ordering: .relaxed) == 5 })
        reader.cancel()
        listener.stop()
        await pool.close()
    }

    @Test("a waiter in the same process is woken directly after commit, with no NOTIFY through the server")
    func wakeUpsInProcess() async throws {
        let channel = TestEnvironment.uniqueName("chan")
        let (remote, remoteCount, remoteReader) = try await connectedListener(channel)
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        let local = pool.inProcessWakeUps { ChannelWaiters() }
        #expect(pool.inProcessWakeUps { ChannelWaiters() } === local, "one receiver per pool")
        local.listen(to: channel)

        try await pool.transaction { connection in
            try await connection.notifyAfterCommit(channel, window: .seconds(60))
            try await Task.sleep(for: .milliseconds(200))
            #expect(local.wakeUps(channel) == 0, "nothing before the commit")
        }
        #expect(local.wakeUps(channel) == 1)
        // In process, the window does not hold wake-ups back: they cost no transaction.
        try await pool.sessionTransaction { $0.notifyAfterCommit(channel, window: .seconds(60)) }
        #expect(local.wakeUps(channel) == 2)
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await pool.transaction { connection in
                try await connection.notifyAfterCommit(channel)
                throw Abandon()
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(local.wakeUps(channel) == 2, "the rolled-back transaction woke no one")
        #expect(remoteCount.count.load(ordering: .relaxed) == 1, "no NOTIFY reached the server")

        // Once nobody here waits on the channel, the next commit notifies through the server again.
        local.stopListening(to: channel)
        try await pool.transaction { try await $0.notifyAfterCommit(channel) }
        #expect(try await eventually(timeout: .seconds(5)) { remoteCount.count.load(ordering: .relaxed) == 2 })
        remoteReader.cancel()
        remote.stop()
        await pool.close()
    }

    @Test("a lease waiting for a full pool ends when its task is cancelled, and the pool serves the next one")
    func cancelledLease() async throws {
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(poolSize: 1), logger: logger)
        let holding = Flag()
        let release = Flag()
        let holder = Task {
            try await pool.withConnection { _ in
                holding.set()
                while !release.isSet { try await Task.sleep(for: .milliseconds(10)) }
            }
        }
        try #require(try await eventually(timeout: .seconds(30)) { holding.isSet })
        let waiting = Task { try await pool.withConnection { try await $0.query("SELECT 1") } }
        try await Task.sleep(for: .milliseconds(200))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        release.set()
        try await holder.value
        try await pool.ping()  // the cancelled waiter did not take the connection with it
        await pool.close()
    }

    @Test("the pool recovers by itself after the server restarts, and fails fast while it is down")
    func recoveryAfterRestart() async throws {
        let server = try await ScratchPostgresServer()
        defer { server.destroy() }
        let pool = PostgresConnectionPool(configuration: server.configuration(), logger: logger)
        try await pool.ping()

        try await server.stop()
        let down = await #expect(throws: PostgresError.self) { try await pool.ping() }
        #expect(down?.kind == .connectionUnavailable)

        try await server.start()
        try await pool.ping()  // the stale connection is dropped, a new one opened

        try await server.restart()
        // Pooled connections were closed by the server; callers never see that.
        for _ in 0..<5 { try await pool.ping() }
        await pool.close()
    }
}

final class WakeUpCounter: Sendable {
    let count = Atomic<Int>(0)
}

/// Counts the wake-ups a pool hands over in process, for the channels it listens to.
final class ChannelWaiters: InProcessWakeUps {
    private let counts = Mutex<[String: Int]>([:])

    func listen(to channel: String) { counts.withLock { $0[channel] = 0 } }
    func stopListening(to channel: String) { _ = counts.withLock { $0.removeValue(forKey: channel) } }
    func wakeUps(_ channel: String) -> Int? { counts.withLock { $0[channel] } }

    func wake(_ channel: String) -> Bool {
        counts.withLock { counts in
            guard let count = counts[channel] else { return false }
            counts[channel] = count + 1
            return true
        }
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
