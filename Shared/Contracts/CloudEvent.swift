import Foundation
import WireFormats

/// The envelope of every Passerelle event: CloudEvents 1.0 in Kafka binary mode. The context
/// attributes travel as `ce_*` record headers and the body is the JSON `data`.
public struct CloudEvent: Sendable, Equatable {
    public static let specVersion = "1.0"
    public static let jsonContentType = "application/json"

    public var id: UUID
    /// The producing service, e.g. `/passerelle/intake`.
    public var source: String
    public var type: String
    /// The aggregate the event is about: a referral id (a client id on the clients topic).
    public var subject: String
    public var time: Date
    /// JSON bytes; `nil` for a tombstone on a compacted topic.
    public var data: [UInt8]?

    public init(id: UUID = UUID.random(), source: String, type: String, subject: String, time: Date = Date(), data: [UInt8]?) {
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
        self.data = data
    }

    /// Builds the envelope of a typed payload.
    public init<Payload: EventPayload>(_ payload: Payload, source: String, id: UUID = UUID.random(), time: Date = Date()) throws {
        self.init(id: id, source: source, type: Payload.eventType, subject: payload.subject, time: time, data: try EventCoding.encode(payload))
    }

    /// The Kafka headers of binary mode.
    public var headers: [(key: String, value: String)] {
        [
            ("ce_specversion", Self.specVersion),
            ("ce_id", UUIDText.format(id)),
            ("ce_source", source),
            ("ce_type", type),
            ("ce_subject", subject),
            ("ce_time", EventCoding.timestamp(time)),
            ("content-type", Self.jsonContentType),
        ]
    }

    /// Reads the envelope back from record headers; says which attribute is missing or wrong.
    public init(headers: [String: String], data: [UInt8]?) throws(EnvelopeError) {
        func required(_ key: String) throws(EnvelopeError) -> String {
            guard let value = headers[key], !value.isEmpty else { throw .missingAttribute(key) }
            return value
        }
        guard try required("ce_specversion") == Self.specVersion else { throw .unsupportedSpecVersion(headers["ce_specversion"] ?? "") }
        guard let id = UUIDText.parse(try required("ce_id")) else { throw .invalidAttribute("ce_id", headers["ce_id"] ?? "") }
        guard let time = EventCoding.parseTimestamp(try required("ce_time")) else { throw .invalidAttribute("ce_time", headers["ce_time"] ?? "") }
        if data != nil, let contentType = headers["content-type"], !contentType.hasPrefix(Self.jsonContentType) {
            throw .invalidAttribute("content-type", contentType)
        }
        self.init(id: id, source: try required("ce_source"), type: try required("ce_type"), subject: try required("ce_subject"), time: time, data: data)
    }

    /// The `type` of a tombstone: on the compacted clients topic it erases the client whose id
    /// is the key (and the subject).
    public static let tombstoneType = "passerelle.tombstone"

    /// The envelope of a tombstone written without CloudEvents headers (by a tool rather than
    /// an outbox): its id is derived from where it sits, so a redelivery is recognised.
    public static func tombstone(key: String, topic: String, partition: Int32, offset: Int64, time: Date) -> CloudEvent {
        var bytes = [UInt8](repeating: 0, count: 16)
        // Two FNV-1a hashes of the position fill the 16 bytes; a version-8 (custom) UUID.
        for (half, seed) in [(0, UInt64(0xcbf2_9ce4_8422_2325)), (8, UInt64(0x8422_2325_cbf2_9ce4))] {
            var hash = seed
            for byte in "\(topic)/\(partition)/\(offset)".utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
            for index in 0..<8 { bytes[half + index] = UInt8(truncatingIfNeeded: hash >> (8 * UInt64(index))) }
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let id = UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13],
                bytes[14], bytes[15]
            ))
        return CloudEvent(id: id, source: "kafka:\(topic)", type: tombstoneType, subject: key, time: time, data: nil)
    }

    /// Decodes `data` as the payload its `type` names.
    public func decode<Payload: EventPayload>(_ type: Payload.Type) throws -> Payload {
        guard self.type == Payload.eventType else { throw EnvelopeError.unexpectedType(self.type, expected: Payload.eventType) }
        guard let data else { throw EnvelopeError.missingData(self.type) }
        return try EventCoding.decoder.decode(Payload.self, from: Data(data))
    }
}

public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingAttribute(String)
    case invalidAttribute(String, String)
    case unsupportedSpecVersion(String)
    case unexpectedType(String, expected: String)
    case missingData(String)

    public var description: String {
        switch self {
        case .missingAttribute(let key): return "the CloudEvents attribute \(key) is missing"
        case .invalidAttribute(let key, let value): return "the CloudEvents attribute \(key) has an invalid value \"\(value.prefix(60))\""
        case .unsupportedSpecVersion(let version): return "CloudEvents spec version \"\(version)\" is not supported"
        case .unexpectedType(let type, let expected): return "event type \(type) is not \(expected)"
        case .missingData(let type): return "event \(type) has no data"
        }
    }
}

/// A versioned event body. Consumers ignore fields they do not know; a breaking change is a
/// new type (`…v2`).
public protocol EventPayload: Codable, Sendable, Equatable {
    static var eventType: String { get }
    static var topic: TopicName { get }
    /// The record key and CloudEvents subject: the referral id, or the client id on the
    /// clients topic.
    var subject: String { get }
}

/// The JSON rules of every event: camelCase keys, ISO-8601 UTC timestamps with milliseconds,
/// sorted keys (stable bytes for tests and signatures).
public enum EventCoding {
    /// Writes the same bytes as `JSONEncoder` with these rules, in one pass (see `StreamingJSONEncoder`).
    public static let encoder = JSONCoding.events.encoder

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTimestamp(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an ISO-8601 timestamp")
            }
            return date
        }
        return decoder
    }()

    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        try encoder.encode(value)
    }

    public static func timestamp(_ date: Date) -> String {
        JSONCoding.events.text(date)
    }

    /// An RFC 3339 date-time. The common shapes are read without Foundation's parser (a
    /// replay reads hundreds of thousands); it still reads whatever else ISO 8601 allows.
    public static func parseTimestamp(_ text: String) -> Date? {
        JSONCoding.parseDate(text)
    }
}

extension KeyedDecodingContainer {
    // Synthesised `Decodable` conformances in this module pick these over the generic
    // `decode(_:forKey:)`: Foundation parses a UUID with `sscanf`, the costliest step of
    // decoding an event. Same errors as Foundation's for a string that is not a UUID.
    func decode(_ type: UUID.Type, forKey key: Key) throws -> UUID {
        let text = try decode(String.self, forKey: key)
        guard let uuid = UUIDText.parse(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "Attempted to decode UUID from invalid UUID string.")
        }
        return uuid
    }

    func decodeIfPresent(_ type: UUID.Type, forKey key: Key) throws -> UUID? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decode(UUID.self, forKey: key)
    }
}
