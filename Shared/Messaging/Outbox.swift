import Contracts
import Foundation
import PostgresClient
import WireFormats

/// Writes events into the outbox inside the caller's transaction, so a state change and its
/// event commit (or roll back) together. The relay publishes them afterwards.
///
/// Ordering: writers lock the aggregate's row before appending its event, so for one key the
/// outbox ids follow commit order and the relay publishes them in that order.
public struct Outbox: Sendable {
    public let topics: TopicNames
    /// The CloudEvents `source` of this service, e.g. `/passerelle/intake`.
    public let source: String
    /// Notified after a commit that appended events (`MessagingSchema.channel`), so the relay
    /// publishes at once; nil leaves the relay to its polling.
    public let wakeUpChannel: String?

    /// A relay reads the outbox `OutboxRelay.coalescingDelay` (longer) after a wake-up, so one
    /// wake-up a process sent this recently covers its later commits too.
    public static let wakeUpWindow = Duration.milliseconds(4)

    public init(topics: TopicNames, source: String, wakeUpChannel: String?) {
        self.topics = topics
        self.source = source
        self.wakeUpChannel = wakeUpChannel
    }

    /// Appends a typed event; returns its envelope.
    @discardableResult
    public func append<Payload: EventPayload>(_ payload: Payload, on session: borrowing PostgresSession, id: UUID = UUID.random(), time: Date = Date()) throws
        -> CloudEvent
    {
        let event = try CloudEvent(payload, source: source, id: id, time: time)
        try append(event, topic: topics.name(Payload.topic), key: payload.subject, on: session)
        return event
    }

    /// Appends a tombstone for `key` on a compacted topic (erasure).
    public func appendTombstone(topic: TopicName, key: String, on session: borrowing PostgresSession) throws {
        let event = CloudEvent(source: source, type: CloudEvent.tombstoneType, subject: key, data: nil)
        try append(event, topic: topics.name(topic), key: key, on: session)
    }

    public func append(_ event: CloudEvent, topic: String, key: String, on session: borrowing PostgresSession) throws {
        let headerJSON = String(decoding: EventCoding.encoder.encodeObject(event.headers), as: UTF8.self)
        let payload = event.data.map { String(decoding: $0, as: UTF8.self) }
        try session.execute(
            """
            INSERT INTO outbox (event_id, event_type, topic, record_key, headers, payload)
            VALUES (\(event.id)::uuid, \(event.type), \(topic), \(key), \(headerJSON)::jsonb, \(payload))
            """)
        if let wakeUpChannel { session.notifyAfterCommit(wakeUpChannel, window: Self.wakeUpWindow) }
    }

    // The same from async code holding a connection.

    @discardableResult
    public func append<Payload: EventPayload>(_ payload: Payload, on connection: PostgresConnection, id: UUID = UUID.random(), time: Date = Date()) async throws
        -> CloudEvent
    {
        try await connection.withSession { try self.append(payload, on: $0, id: id, time: time) }
    }

    public func appendTombstone(topic: TopicName, key: String, on connection: PostgresConnection) async throws {
        try await connection.withSession { try self.appendTombstone(topic: topic, key: key, on: $0) }
    }

    public func append(_ event: CloudEvent, topic: String, key: String, on connection: PostgresConnection) async throws {
        try await connection.withSession { try self.append(event, topic: topic, key: key, on: $0) }
    }
}
