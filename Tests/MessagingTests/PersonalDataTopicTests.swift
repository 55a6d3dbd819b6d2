import Contracts
import Foundation
import KafkaClient
import Messaging
import PostgresClient
import Synchronization
import TestSupport
import Testing

@Suite(
    "A topic of personal data: dead-letter copies keep identifiers only, tombstones erase", .enabled(if: TestEnvironment.integrationEnabled),
    .timeLimit(.minutes(2)))
struct PersonalDataTopicTests {
    @Test("a profile that cannot be handled reaches the dead-letter topic without its body, its error without the address it quotes")
    func deadLetterWithholdsTheBody() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        let client = UUID().uuidString.lowercased()
        let event = CloudEvent(
            source: "/passerelle/intake", type: "passerelle.client.profile.v1", subject: client,
            data: Array(#"{"givenName": "Élodie", "email": "elodie.gagnon@example.org", "phone": "+1 613 555 0142"}"#.utf8))
        try await fixture.pool.transaction { try await fixture.outbox.append(event, topic: fixture.topic, key: client, on: $0) }
        // A header-less tombstone (written by a tool): an erasure, not a poison message.
        try await fixture.producer.send(topic: fixture.topic, key: Array("tombstone-key".utf8), value: nil)
        try await fixture.relay().publishBatch()
        let group = TestEnvironment.uniqueName("consumer")
        let tombstones = TombstoneLog()
        let consumer = IdempotentConsumer(
            name: group, topics: [fixture.topic], configuration: TestEnvironment.consumerConfiguration(group: group), pool: fixture.pool,
            producer: fixture.producer, gate: fixture.gate, maxAttempts: 1, personalDataTopics: [fixture.topic], logger: fixture.logger
        ) { consumed, _ in
            if consumed.event.type == CloudEvent.tombstoneType {
                tombstones.append(consumed.key ?? "")
                return
            }
            throw PermanentEventFailure("duplicate key value: Key (email)=(elodie.gagnon@example.org) already exists; phone +1 613 555 0142")
        }
        try await withRunning([consumer]) {
            let done = try await eventually { tombstones.keys == ["tombstone-key"] }
            #expect(done, "the tombstone reached its handler")
        }
        let dead = try await fixture.readAll(fixture.topic + ".dlq", expected: 1)
        #expect(dead.count == 1, "only the profile is dead-lettered")
        let copy = try #require(dead.first)
        #expect(copy.value == nil, "no body")
        #expect(copy.keyText == client && copy.header("ce_id") != nil && copy.header("ce_type") == "passerelle.client.profile.v1")
        let error = try #require(copy.header("dlq_error"))
        #expect(!error.contains("elodie") && !error.contains("555 0142") && error.contains("<address>"), "\(error)")
        await fixture.tearDown()
    }
}

final class TombstoneLog: Sendable {
    private let seen = Mutex<[String]>([])
    func append(_ key: String) { seen.withLock { $0.append(key) } }
    var keys: [String] { seen.withLock { $0 } }
}
