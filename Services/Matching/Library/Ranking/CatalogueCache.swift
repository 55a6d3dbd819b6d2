import Domain
import Foundation
import Logging
import PostgresClient
import Synchronization

/// Keeps this replica's in-memory catalogue current. Any change to a resource bumps
/// `catalogue_version` in its own transaction (a trigger) and notifies channel
/// `catalogue_<schema>` at commit. The notification starts a reload in the background; and
/// before each match `current(on:)` compares the committed version with the snapshot's, so a
/// replica never matches against a catalogue older than what was committed when it asked.
final class CatalogueCache: Sendable {
    let pool: PostgresConnectionPool
    let logger: Logger
    private let snapshot = Mutex<CatalogueSnapshot?>(nil)
    /// The reload under way, shared by everyone who needs it (one load at a time).
    private let loading = Mutex<Task<CatalogueSnapshot, any Error>?>(nil)
    private let listener: PostgresListener?

    init(pool: PostgresConnectionPool, logger: Logger, listen: Bool = true) {
        self.pool = pool
        self.logger = logger
        let schema = pool.configuration.schema ?? "matching"
        // Every replica must hear of a catalogue change, whichever made it: only through the server.
        listener =
            listen
            ? PostgresListener(configuration: pool.configuration, channel: "catalogue_\(schema)", logger: logger) : nil
        guard let listener else { return }
        listener.start()
        let wakeUps = listener.wakeUps
        Task { [weak self] in
            for await _ in wakeUps {
                guard let self else { return }
                do { _ = try await self.reload() } catch { self.logger.debug("catalogue reload after a notification failed", metadata: ["error": "\(error)"]) }
            }
        }
    }

    deinit { listener?.stop() }

    /// The version of the catalogue held in memory, if any.
    var loadedVersion: Int64? { snapshot.withLock { $0?.version } }

    /// The catalogue as committed now, read within the caller's transaction.
    func current(on connection: PostgresConnection) async throws -> CatalogueSnapshot {
        try await current(version: try await Self.version(on: connection), on: connection)
    }

    /// The same, for a caller that read `catalogue_version` itself in its transaction.
    func current(version: Int64, on connection: PostgresConnection) async throws -> CatalogueSnapshot {
        if let snapshot = snapshot.withLock({ $0 }), snapshot.version == version { return snapshot }
        let loaded = try await reload()
        if loaded.version >= version { return loaded }
        // The caller's own transaction changed the catalogue: read it there, uncached.
        return try await Self.load(on: connection)
    }

    /// Loads the catalogue again (joining a load already under way).
    func reload() async throws -> CatalogueSnapshot {
        let task = loading.withLock { current -> Task<CatalogueSnapshot, any Error> in
            if let current { return current }
            let task = Task { [pool] in
                try await pool.transaction(isolation: .repeatableRead) { try await Self.load(on: $0) }
            }
            current = task
            return task
        }
        do {
            let loaded = try await task.value
            finish(task, with: loaded)
            return loaded
        } catch {
            finish(task, with: nil)
            throw error
        }
    }

    private func finish(_ task: Task<CatalogueSnapshot, any Error>, with loaded: CatalogueSnapshot?) {
        loading.withLock { if $0 == task { $0 = nil } }
        guard let loaded else { return }
        snapshot.withLock { if ($0?.version ?? .min) < loaded.version { $0 = loaded } }
    }

    static func version(on connection: PostgresConnection) async throws -> Int64 {
        guard let row = try await connection.query("SELECT version FROM catalogue_version").first else {
            throw PostgresError(kind: .protocolViolation, message: "catalogue_version has no row")
        }
        return try row.decode("version")
    }

    static func load(on connection: PostgresConnection) async throws -> CatalogueSnapshot {
        let version = try await version(on: connection)
        // Uncategorised resources (imports leave them for review) are never candidates: not even loaded.
        let resources = try await connection.query(
            PostgresQuery(
                unsafeSQL: "SELECT \(CatalogueStore.resourceColumns) FROM community_resource WHERE active AND cardinality(categories) > 0")
        ).map(CatalogueStore.resource)
        return CatalogueSnapshot(version: version, resources: resources)
    }
}
