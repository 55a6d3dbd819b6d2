import ArgumentParser
import Contracts
import Domain
import EvaluationService
import Foundation
import KafkaClient
import ServiceRuntime
import WireFormats

/// `passerelle-bench seed-evaluation-events --pathways N`: publishes N scripted referral pathways
/// (received, accepted, contacted, connected, most completed; a share without evaluation
/// consent, a few unmet needs) to the topics, for benchmarks of the rebuild. Not for deployments.
struct EvaluationSeedCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "seed-evaluation-events", abstract: "Publish scripted pathways to the topics, for the evaluation rebuild benchmark.")
    }

    @Option(help: "Pathways to publish.") var pathways: Int = 10_000
    @Option(help: "Records per producer batch.") var batch: Int = 5_000

    init() {}

    func run() async throws {
        let settings = try ServiceCommand<EvaluationService>.settings()
        let logger = ServiceCommand<EvaluationService>.logger(settings)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: settings.kafka, lingerMilliseconds: 20), logger: logger)
        let sites = ["ottawa-west-chc", "ottawa-east-chc", "gatineau-clsc"]
        let needs = ["loneliness", "social-isolation", "housing", "food-security", "mental-wellbeing", "physical-activity"]
        let ageBands = ["18-24", "25-44", "45-64", "65-74", "75+"]
        let t0 = Date(timeIntervalSince1970: 1_780_000_000)
        var records: [KafkaRecord] = []
        var published = 0
        func add(_ payload: some EventPayload) throws {
            let event = try CloudEvent(payload, source: "/passerelle/bench")
            records.append(
                KafkaRecord(
                    topic: settings.topics.name(type(of: payload).topic), key: Array(payload.subject.utf8), value: event.data,
                    headers: event.headers.map { KafkaHeader(key: $0.key, text: $0.value) }))
        }
        func flush() async throws {
            for result in try await producer.send(records) { _ = try result.get() }
            published += records.count
            records.removeAll(keepingCapacity: true)
        }
        for i in 0..<pathways {
            let referral = UUID.random()
            let site = sites[i % sites.count]
            let start = t0.addingTimeInterval(Double(i) * 60)
            func hours(_ h: Double) -> Date { start.addingTimeInterval(h * 3600) }
            func status(_ version: Int, _ from: String, _ to: String, _ h: Double, outcome: String? = nil) -> ReferralStatusChangedV1 {
                ReferralStatusChangedV1(
                    referralID: referral, referralVersion: version, site: site, from: from, to: to, action: to,
                    actorRole: "link-worker", actorID: "lw-\(i % 40)", reason: nil, outcome: outcome, changedAt: hours(h))
            }
            try add(
                ReferralReceivedV1(
                    referralID: referral, referralVersion: 1, clientID: UUID.random(), site: site, referrerID: "dr-\(i % 55)", referrerRole: "physician",
                    needs: [needs[i % needs.count], needs[(i / 7) % needs.count]], interests: ["walking"],
                    supportLevel: ["light", "medium", "holistic"][i % 3],
                    priority: "routine", preferredLanguage: i % 3 == 0 ? "en" : "fr", postalArea: "K\(i % 9)A", coordinates: nil,
                    ageBand: ageBands[i % ageBands.count], accessibilityNeeds: [], preferredChannel: "sms",
                    consent: Consent(contact: true, shareWithPartners: false, evaluationUse: i % 5 != 0), receivedAt: start))
            try add(status(2, "received", "accepted", 2 + Double(i % 24)))
            try add(status(3, "accepted", "in-progress", 26 + Double(i % 72)))
            let connection = UUID.random()
            let resource = UUID.random()
            try add(
                ConnectionProposedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource,
                    resourceKind: "health-champion-group", categories: [needs[i % needs.count]], proposedAt: hours(100)))
            try add(
                ConnectionChangedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource,
                    from: "accepted", to: "enrolled", reason: nil, changedAt: hours(120 + Double(i % 100))))
            if i % 10 == 0 {
                try add(
                    NeedUnmetV1(
                        referralID: referral, referralVersion: 3, site: site, categories: ["housing"], reason: "none nearby",
                        area: "K\(i % 9)A", recordedAt: hours(100)))
            }
            if i % 4 != 0 { try add(status(4, "in-progress", "completed", 600, outcome: "connected")) }
            if records.count >= batch { try await flush() }
        }
        try await flush()
        await producer.close()
        print("published \(published) events for \(pathways) pathways")
    }
}
