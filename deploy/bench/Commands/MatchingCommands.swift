import ArgumentParser
import Contracts
import Domain
import Foundation
import KafkaClient
import MatchingService
import PostgresClient
import ServiceRuntime
import WireFormats

/// `passerelle-bench rank`: times ranking one referral against made-up catalogues
/// of the given sizes, in memory (what a replica does per referral once its catalogue is
/// loaded; the capacity check and the writes are measured by the throughput benchmark).
struct RankCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "rank", abstract: "Time matching one referral against synthetic catalogues (no database needed).")
    }
    @Option(help: "Catalogue sizes, comma-separated.") var sizes: String = "1000,10000,100000"
    @Option(help: "Referrals timed per size.") var referrals: Int = 2000
    @Option(help: "Seed of the made-up data.") var seed: UInt64 = 42
    init() {}

    func run() throws {
        let sizes = self.sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }), referrals > 0 else { throw ValidationError("sizes and referrals must be positive") }
        let ranker = MatchRanker()
        for size in sizes {
            var data = SyntheticCatalogue(seed: seed)
            let snapshot = CatalogueSnapshot(version: 1, resources: data.resources(size))
            let requests = (0..<referrals).map { _ in data.request() }
            var sink = 0
            for request in requests.prefix(200) { sink &+= rankOne(request, snapshot, ranker) }  // warm up
            var micros: [Double] = []
            micros.reserveCapacity(requests.count)
            for request in requests {
                let start = ContinuousClock.now
                sink &+= rankOne(request, snapshot, ranker)
                let elapsed = ContinuousClock.now - start
                micros.append(Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
            }
            micros.sort()
            func percentile(_ p: Double) -> Double { micros[min(micros.count - 1, Int((Double(micros.count) * p).rounded(.up)) - 1)] }
            print(
                String(
                    format: "RESULT resources=%d referrals=%d p50_us=%.1f p99_us=%.1f max_us=%.1f matched=%d",
                    size, requests.count, percentile(0.5), percentile(0.99), micros.last!, sink))
        }
    }

    /// What `Matchmaker.rank` does in memory: the best candidates, then reasons for the top N.
    private func rankOne(_ request: MatchRequest, _ snapshot: CatalogueSnapshot, _ ranker: MatchRanker) -> Int {
        let best = snapshot.best(request, ranker: ranker, limit: ranker.weights.topN + 8)
        var kept = 0
        for candidate in best where kept < ranker.weights.topN {
            let resource = snapshot.resources[candidate.position]
            guard resource.capacity.hasRoom || resource.capacity.waitlistAllowed else { continue }
            _ = ranker.explain(resource, for: request)
            kept += 1
        }
        return kept
    }
}

/// `passerelle-bench feed-matching`: what matching's throughput benchmark needs against a
/// running stack, on matching's configured schema and topic prefix (PASSERELLE_* as for the service): `--resources N` loads a made-up catalogue
/// and link workers for eight sites; `--referrals N` sends N referral.received events and
/// waits until every one is assigned, then prints the rate.
struct MatchingFeedCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "feed-matching", abstract: "Load a synthetic catalogue or send synthetic referrals and time their matching (benchmarks).")
    }
    @Option(help: "Synthetic resources to load.") var resources: Int = 0
    @Option(help: "Referrals to send and wait for.") var referrals: Int = 0
    @Option(help: "Seconds to wait for the referrals to be assigned.") var timeout: Int = 300
    @Option(help: "Seed of the made-up data.") var seed: UInt64 = 42
    init() {}

    static let sites = (1...8).map { "bench-site-\($0)" }

    func run() async throws {
        let settings = try ServiceCommand<MatchingService>.settings()
        let logger = ServiceCommand<MatchingService>.logger(settings)
        let resources = resources
        let referrals = referrals
        let seed = seed
        let timeout = timeout
        try await MatchingService.withMigratedPool(settings) { pool in
            var data = SyntheticCatalogue(seed: seed)
            if resources > 0 {
                let catalogue = data.resources(resources)
                let workers = try Self.sites.flatMap { site in
                    try (1...2).map {
                        try LinkWorker(id: UUID.random(), name: "\(site) worker \($0)", site: site, languages: ["fr", "en"], caseloadCapacity: 1_000_000)
                    }
                }
                try await pool.sessionTransaction { session in
                    for resource in catalogue { try CatalogueStore.save(resource, on: session) }
                    for worker in workers {
                        try session.query(
                            """
                            INSERT INTO link_worker (id, name, site, languages, caseload_capacity) VALUES
                            (\(worker.id)::uuid, \(worker.name), \(worker.site), \(worker.languages)::text[], \(worker.caseloadCapacity))
                            """)
                    }
                }
                print("loaded \(resources) resources and \(workers.count) link workers")
            }
            guard referrals > 0 else { return }
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: settings.kafka), logger: logger)
            let topic = settings.topics.name(.referrals)
            let before = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM assignment").first!.decode("n", as: Int.self) }
            var records: [KafkaRecord] = []
            for index in 0..<referrals {
                let request = data.request()
                let id = UUID.random()
                let event = try CloudEvent(
                    ReferralReceivedV1(
                        referralID: id, referralVersion: 1, clientID: UUID.random(), site: Self.sites[index % Self.sites.count], referrerID: "bench",
                        referrerRole: "physician", needs: request.needs, interests: request.interests, supportLevel: request.supportLevel.rawValue,
                        priority: "routine", preferredLanguage: request.language, postalArea: request.postalArea, coordinates: request.coordinates,
                        ageBand: request.ageBand?.rawValue ?? "45-64", accessibilityNeeds: request.accessibilityNeeds, preferredChannel: "sms",
                        consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: Date()), source: "/passerelle/bench")
                records.append(
                    KafkaRecord(
                        topic: topic, key: Array(id.uuidString.lowercased().utf8), value: event.data,
                        headers: event.headers.map { KafkaHeader(key: $0.key, value: Array($0.value.utf8)) }))
            }
            let start = ContinuousClock.now
            for batch in stride(from: 0, to: records.count, by: 500) {
                for result in try await producer.send(Array(records[batch..<min(batch + 500, records.count)])) { _ = try result.get() }
            }
            let deadline = start + .seconds(timeout)
            var done = before
            while done < before + referrals && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                done = try await pool.withConnection { try await $0.query("SELECT count(*) AS n FROM assignment").first!.decode("n", as: Int.self) }
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            await producer.close()
            guard done >= before + referrals else {
                throw ValidationError("only \(done - before) of \(referrals) referrals were assigned within \(timeout) s")
            }
            print(String(format: "RESULT referrals=%d seconds=%.3f rate=%.1f", referrals, seconds, Double(referrals) / seconds))
        }
    }
}
