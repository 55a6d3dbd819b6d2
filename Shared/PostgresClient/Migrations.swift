import Logging

/// One schema change, written in SQL and embedded in the code that needs it (nothing to ship
/// beside the binary). Versions are applied in increasing order, once.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(_ version: Int, _ name: String, _ sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// FNV-1a over the SQL: detects an applied migration whose text changed since.
    var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Brings one schema up to date. Runs in a single transaction under an advisory lock keyed by
/// the schema name, so replicas starting together apply each migration exactly once, and
/// refuses to touch a schema whose applied history is not a prefix of the code's.
public struct SchemaMigrator: Sendable {
    public let schema: String
    public let migrations: [Migration]

    public init(schema: String, migrations: [Migration]) {
        precondition(PostgresConfiguration.isPlainIdentifier(schema), "schema must be a plain identifier")
        precondition(zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version }, "migrations must be ordered by version")
        self.schema = schema
        self.migrations = migrations
    }

    /// Versions the code has and the schema has not applied yet (without taking the lock).
    public func pending(_ pool: PostgresConnectionPool) async throws -> [Int] {
        let schema = schema
        let applied: Set<Int> = try await pool.withConnection { connection in
            let exists =
                try await connection.query("SELECT to_regclass(\(schema + "._migrations")) IS NOT NULL AS present").first?.decode("present", as: Bool.self)
                ?? false
            guard exists else { return [] }
            return Set(try await connection.query("SELECT version FROM \(identifier: schema)._migrations").map { try $0.decode("version", as: Int.self) })
        }
        return migrations.map(\.version).filter { !applied.contains($0) }
    }

    /// Returns the versions applied by this call (empty when already up to date).
    @discardableResult
    public func migrate(_ pool: PostgresConnectionPool, logger: Logger) async throws -> [Int] {
        let schema = schema
        let migrations = migrations
        let applied = try await pool.transaction { connection in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("passerelle.migrations." + schema)))")
            // CREATE SCHEMA needs database-level CREATE even with IF NOT EXISTS; service roles
            // get an existing schema from the init script, so only create what is missing.
            if try await connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)").isEmpty {
                try await connection.query("CREATE SCHEMA \(identifier: schema)")
            }
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS \(identifier: schema)._migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let history = try await connection.query("SELECT version, name, checksum FROM \(identifier: schema)._migrations ORDER BY version")
            var index = 0
            for row in history {
                let version: Int = try row.decode("version")
                let checksum: String = try row.decode("checksum")
                guard index < migrations.count, migrations[index].version == version, migrations[index].checksum == checksum else {
                    throw PostgresError(
                        kind: .migrationHistoryMismatch,
                        message:
                            "schema \(schema) has migration \(version) (\(try row.decode("name", as: String.self))) applied, which differs from this build's migrations; refusing to migrate",
                        context: "checking migration history")
                }
                index += 1
            }
            var newlyApplied: [Int] = []
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \"\(schema)\""))
            for migration in migrations[index...] {
                do {
                    try await connection.runScript(migration.sql)
                } catch var error as PostgresError {
                    error.context = "applying migration \(migration.version) \(migration.name) to \(schema)"
                    throw error
                }
                try await connection.query(
                    """
                    INSERT INTO \(identifier: schema)._migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """)
                newlyApplied.append(migration.version)
            }
            return newlyApplied
        }
        if !applied.isEmpty {
            logger.info("migrated schema", metadata: ["schema": "\(schema)", "versions": "\(applied)"])
        }
        return applied
    }
}
