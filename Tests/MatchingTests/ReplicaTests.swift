import Contracts
import Domain
import Foundation
import KafkaClient
import Logging
import PostgresClient
import TestSupport
import Testing

@testable import MatchingService

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The built `passerelle-matching` executable run as separate processes on a schema, topic
/// prefix and consumer group of their own, on 127.0.0.1.
struct MatchingProcesses {
    let id = UUID().uuidString.prefix(8).lowercased()
    var schema: String { "matching_replicas_\(id)" }
    var prefix: String { "replicas-\(id)." }
    var group: String { "passerelle-matching-replicas-\(id)" }

    /// Built beside the test bundle (whatever the build folder), else in the default one.
    static var executable: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("passerelle-matching")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return TestEnvironment.repositoryRoot.appendingPathComponent(".build/debug/passerelle-matching")
    }

    func environment(port: Int) -> [String: String] {
        let url = TestEnvironment.postgresURL
        var environment = ProcessInfo.processInfo.environment.filter { $0.key == "PATH" || $0.key == "LD_LIBRARY_PATH" || $0.key == "HOME" }
        environment.merge([
            "PASSERELLE_DB_HOST": url.host ?? "127.0.0.1", "PASSERELLE_DB_PORT": String(url.port ?? 5432), "PASSERELLE_DB_NAME": String(url.path.dropFirst()),
            "PASSERELLE_DB_USER": url.user ?? "postgres", "PASSERELLE_DB_PASSWORD": url.password ?? "", "PASSERELLE_DB_SSLMODE": "disable",
            "PASSERELLE_DB_SCHEMA": schema, "PASSERELLE_DB_POOL_SIZE": "4",
            "PASSERELLE_KAFKA_BOOTSTRAP": TestEnvironment.kafkaBootstrap, "PASSERELLE_TOPIC_PREFIX": prefix, "PASSERELLE_CONSUMER_GROUP": group,
            // Short group timeouts so a killed member's partitions move on quickly.
            "PASSERELLE_KAFKA_PROPERTY_SESSION_TIMEOUT_MS": "6000", "PASSERELLE_KAFKA_PROPERTY_MAX_POLL_INTERVAL_MS": "10000",
            "PASSERELLE_JWT_HS256_SECRET": "replica-tests-secret-0123456789-abcdefgh", "PASSERELLE_HTTP_HOST": "127.0.0.1",
            "PASSERELLE_JWT_ISSUER": "passerelle-replica-tests", "PASSERELLE_JWT_AUDIENCE": "passerelle",
            "PASSERELLE_HTTP_PORT": String(port), "PASSERELLE_LOG_LEVEL": "warning",
        ]) { $1 }
        return environment
    }

    /// Runs a subcommand to its end and returns what it printed.
    func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(arguments, executable: Self.executable, environment: environment(port: 0))
    }

    /// Starts `serve`; returns its process id and HTTP port.
    func serve(log: String) throws -> (pid: Int32, port: Int) {
        let port = TestEnvironment.freePort()
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["serve"]
        process.environment = environment(port: port)
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return (process.processIdentifier, port)
    }

    static func get(_ url: String) async -> String? {
        guard let (data, response) = try? await URLSession.shared.data(from: URL(string: url)!),
            (response as? HTTPURLResponse)?.statusCode == 200
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Events this process handled, from its /metrics.
    static func processed(port: Int) async -> Int {
        guard let text = await get("http://127.0.0.1:\(port)/metrics") else { return 0 }
        return text.split(separator: "\n").filter { $0.hasPrefix("passerelle_events_processed_total") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0) { $0 + Int($1) }
    }

    static func wait(for pid: Int32, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            // Foundation's Process may reap the child itself: then there is nothing to wait for.
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid || (waited == -1 && errno == ECHILD) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

@Suite("Matching as separate processes", .enabled(if: TestEnvironment.integrationEnabled), .serialized, .timeLimit(.minutes(3)))
struct ReplicaTests {
    static var built: Bool { FileManager.default.isExecutableFile(atPath: MatchingProcesses.executable.path) }

    @Test("import-hsds and export-hsds: a directory in, the same catalogue out and back")
    func commandLine() async throws {
        try #require(Self.built, "build the executable first (swift build)")
        let processes = MatchingProcesses()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hsds-cli-\(processes.id)")
        let exported = folder.appendingPathComponent("export")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (file, text) in HSDSSample.tables { try Data(text.utf8).write(to: folder.appendingPathComponent(file)) }

        let imported = try await processes.run(["import-hsds", folder.path])
        #expect(imported.status == 0, "\(imported.output)")
        #expect(
            imported.output.contains(
                """
                imported 6 resources (6 new, 0 updated) of 9 services; 5 with a need category, 1 uncategorised; 7 rows skipped, 3 to review
                """), "\(imported.output)")
        #expect(imported.output.contains("to review services.csv row 7: uncategorised: no term maps to a need category (terms: Astrology)"))
        let rules = try await processes.run(["import-hsds", folder.path, "--show-rules"])
        #expect(
            rules.output.contains(
                #"categorised services.csv row 2 (s1): social-isolation, physical-activity by Open Eligibility and common directory terms 2.0.0 term "Walking Groups""#
            ), "\(rules.output)")
        let out = try await processes.run(["export-hsds", exported.path])
        #expect(out.status == 0 && out.output.contains("exported 6 resources"), "\(out.output)")
        #expect(FileManager.default.fileExists(atPath: exported.appendingPathComponent("datapackage.json").path))
        let again = try await processes.run(["import-hsds", exported.path])
        #expect(
            again.output.contains("imported 6 resources (0 new, 6 updated) of 6 services; 5 with a need category, 1 uncategorised; 0 rows skipped"),
            "\(again.output)")
        // The same as a zip data package and as HSDS 3 JSON.
        for file in ["catalogue.zip", "services.json"] {
            let path = folder.appendingPathComponent(file).path
            let written = try await processes.run(["export-hsds", path])
            #expect(written.status == 0 && FileManager.default.fileExists(atPath: path), "\(written.output)")
            let read = try await processes.run(["import-hsds", path])
            #expect(
                read.output.contains("imported 6 resources (0 new, 6 updated) of 6 services; 5 with a need category, 1 uncategorised; 0 rows skipped"),
                "\(file): \(read.output)")
        }
        let notAPackage = try await processes.run(["import-hsds", folder.appendingPathComponent("services.csv").path])
        #expect(notAPackage.status != 0 && notAPackage.output.contains("neither a folder, a zip data package nor an HSDS JSON file"), "\(notAPackage.output)")
        let badMapping = try await processes.run(["import-hsds", folder.path, "--mapping", folder.appendingPathComponent("services.csv").path])
        #expect(badMapping.status != 0 && badMapping.output.contains("taxonomy mapping"), "\(badMapping.output)")

        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: processes.schema), logger: TestEnvironment.logger)
        let count = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM community_resource").first!.decode("n", as: Int.self) }
        #expect(count == 6)
        _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: processes.schema) CASCADE") }
        await pool.close()
    }

    @Test("two replicas share the partitions; one killed mid-stream, the other finishes: no referral lost or assigned twice")
    func killOneReplica() async throws {
        try #require(Self.built, "build the executable first (swift build)")
        let processes = MatchingProcesses()
        let total = 240
        let site = "ottawa-west-chc"
        #expect(try await processes.run(["create-topics"]).status == 0)
        let migrated = try await processes.run(["migrate"])
        #expect(migrated.status == 0, "\(migrated.output)")

        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: processes.schema), logger: TestEnvironment.logger)
        let store = CatalogueStore(pool: pool)
        try await pool.withConnection { connection in
            for number in 0..<3 {
                try await store.save(
                    try LinkWorker(id: UUID(), name: "Worker \(number)", site: site, languages: ["fr", "en"], caseloadCapacity: 10_000), on: connection)
            }
            var data = SyntheticCatalogue(seed: 11)
            for resource in data.resources(300) { try await store.save(resource, on: connection) }
        }
        func count(_ sql: String) async throws -> Int {
            try await pool.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql)).first!.decode("n", as: Int.self) }
        }

        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("replicas-\(processes.id)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let first = try processes.serve(log: logs.appendingPathComponent("a.log").path)
        let second = try processes.serve(log: logs.appendingPathComponent("b.log").path)
        var running = [first.pid, second.pid]
        defer {
            for pid in running {
                kill(pid, SIGKILL)
                _ = waitpid(pid, nil, 0)
            }
        }
        for replica in [first, second] {
            let ready = try await eventually(timeout: .seconds(30)) { await MatchingProcesses.get("http://127.0.0.1:\(replica.port)/health/ready") != nil }
            try #require(ready, "replica on port \(replica.port) did not become ready; see \(logs.path)")
        }

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: TestEnvironment.kafkaConfiguration), logger: TestEnvironment.logger)
        let topic = TopicNames(prefix: processes.prefix).name(.referrals)
        var data = SyntheticCatalogue(seed: 12)
        let referrals = (0..<total).map { _ in UUID() }
        func send(_ range: Range<Int>) async throws {
            var records: [KafkaRecord] = []
            for index in range {
                let request = data.request()
                let event = try CloudEvent(
                    ReferralReceivedV1(
                        referralID: referrals[index], referralVersion: 1, clientID: UUID(), site: site, referrerID: "dr", referrerRole: "physician",
                        needs: request.needs, interests: request.interests, supportLevel: request.supportLevel.rawValue, priority: "routine",
                        preferredLanguage: request.language, postalArea: request.postalArea, coordinates: request.coordinates,
                        ageBand: request.ageBand!.rawValue, accessibilityNeeds: request.accessibilityNeeds, preferredChannel: "sms",
                        consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: Date()), source: "/passerelle/intake")
                records.append(
                    KafkaRecord(
                        topic: topic, key: Array(referrals[index].uuidString.lowercased().utf8), value: event.data,
                        headers: event.headers.map { KafkaHeader(key: $0.key, value: Array($0.value.utf8)) }))
            }
            for result in try await producer.send(records) { _ = try result.get() }
        }

        // Small batches until both replicas have handled some (the group has settled), then
        // a burst, and the first is killed without warning while its share is in flight.
        var sent = 0
        var shared = false
        while sent < total / 2 {
            try await send(sent..<(sent + 10))
            sent += 10
            let (a, b) = (await MatchingProcesses.processed(port: first.port), await MatchingProcesses.processed(port: second.port))
            if a >= 5 && b >= 5 {
                shared = true
                break
            }
            try await Task.sleep(for: .milliseconds(sent < 60 ? 200 : 1000))
        }
        #expect(shared, "both replicas of the group handled referrals")
        try await send(sent..<(sent + 40))
        sent += 40
        try await Task.sleep(for: .milliseconds(150))
        let handledByFirst = await MatchingProcesses.processed(port: first.port)
        kill(first.pid, SIGKILL)
        _ = waitpid(first.pid, nil, 0)
        running.removeAll { $0 == first.pid }
        try await send(sent..<total)

        let finished = try await eventually(timeout: .seconds(100), interval: .milliseconds(250)) {
            try await count("SELECT count(*) AS n FROM assignment") == total
        }
        #expect(finished, "every referral assigned after the kill; see \(logs.path)")
        #expect(handledByFirst >= 5)
        #expect(try await count("SELECT count(*) AS n FROM assignment") == total)
        #expect(try await count("SELECT coalesce(sum(current_caseload), 0)::int AS n FROM link_worker") == total, "each referral counted once in a caseload")
        #expect(try await count("SELECT count(*) AS n FROM processed_events WHERE event_type = 'passerelle.referral.received.v1'") == total)
        #expect(try await count("SELECT count(*) AS n FROM outbox WHERE event_type = 'passerelle.referral.assigned.v1'") == total)
        #expect(try await count("SELECT count(DISTINCT referral_id)::int AS n FROM referral_match") <= total)

        // What reached the topic: every assignment at least once; a re-sent one is counted.
        let relayed = try await eventually(timeout: .seconds(30)) { try await count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 0 }
        #expect(relayed)
        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("replica-reader")),
            topics: [TopicNames(prefix: processes.prefix).name(.matching)], logger: TestEnvironment.logger)
        let published = try await count("SELECT count(*) AS n FROM outbox")
        let collected = Task {
            var assigned: [String: Int] = [:]
            var seen = 0
            for await message in consumer.messages {
                seen += 1
                if message.headers.contains(where: { $0.key == "ce_type" && $0.value == Array(ReferralAssignedV1.eventType.utf8) }),
                    let key = message.key
                {
                    assigned[String(decoding: key, as: UTF8.self), default: 0] += 1
                }
                if seen >= published && assigned.count == total { break }
            }
            return assigned
        }
        let timer = Task {
            try await Task.sleep(for: .seconds(30))
            consumer.stopDelivering()
        }
        let assigned = await collected.value
        timer.cancel()
        await consumer.close()
        #expect(assigned.count == total, "every assignment published")
        let duplicates = assigned.values.reduce(0) { $0 + $1 - 1 }
        print(
            "replica kill: \(total) referrals, first replica handled \(handledByFirst) before the kill, \(duplicates) assignment events published twice (redelivery)"
        )

        kill(second.pid, SIGTERM)
        #expect(await MatchingProcesses.wait(for: second.pid, timeout: .seconds(20)), "the survivor stops on SIGTERM")
        running.removeAll()
        await producer.close()
        _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: processes.schema) CASCADE") }
        await pool.close()
        try? FileManager.default.removeItem(at: logs)
    }
}
