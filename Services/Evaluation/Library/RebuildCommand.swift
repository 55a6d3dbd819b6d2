import ArgumentParser
import Foundation
import PostgresClient
import ServiceRuntime

/// `passerelle-evaluation rebuild`: rebuilds the pathway projection from the beginning of the
/// topics into fresh tables and swaps them in (see `ProjectionRebuild`). Safe while the service
/// runs: its consumer waits during the swap and then carries on from where the rebuild ended.
struct RebuildCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "rebuild",
            abstract: "Rebuild the pathway projection from the beginning of the topics and swap it in.",
            discussion: """
                Reads every event of the referrals, matching and notifications topics with a new consumer group, applies \
                them as the live consumer does, then in one transaction writes fresh tables and puts them in place. \
                Outcome measures and service use are kept. Prints what was read and how fast.
                """)
    }

    func run() async throws {
        let settings = try ServiceCommand<EvaluationService>.settings()
        let logger = ServiceCommand<EvaluationService>.logger(settings)
        var database = settings.postgres
        database.poolSize = max(2, database.poolSize)  // the fresh tables load beside the swapping transaction
        let pool = PostgresConnectionPool(configuration: database, logger: logger)
        do {
            let schema = settings.postgres.schema ?? EvaluationService.name
            let pending = try await SchemaMigrator(schema: schema, migrations: EvaluationService.migrations).pending(pool)
            guard pending.isEmpty else {
                throw ValidationError("the schema \(schema) is missing migrations \(pending): run `passerelle-evaluation migrate` first")
            }
            let summary = try await ProjectionRebuild(settings: settings, pool: pool, logger: logger).run()
            print(
                "rebuilt \(summary.pathways) pathways and \(summary.unmetNeeds) unmet needs from \(summary.events) events "
                    + "(\(summary.skipped) unreadable) in \(String(format: "%.2f", summary.seconds)) s: \(Int(summary.eventsPerSecond)) events/s "
                    + "(reading \(String(format: "%.2f", summary.readingSeconds)) s, swapping in \(String(format: "%.2f", summary.seconds - summary.readingSeconds)) s)"
            )
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
    }
}
