import Foundation

/// The one JSON policy: where JSON goes decides how it is written and read. Each place has one
/// named coding with one date style, so code says `JSONCoding.api` instead of configuring a coder:
///
/// - `api`: HTTP bodies of the Passerelle APIs — sorted keys, `/` unescaped, whole-second
///   ISO 8601 UTC dates (`2026-12-07T10:00:00Z`); dates read as any RFC 3339 date-time.
/// - `events`: event bodies (CloudEvents `data`) — sorted keys, ISO 8601 UTC with milliseconds.
/// - `stored`: jsonb and text columns — sorted keys, whole-second ISO 8601 dates, `/` escaped as
///   `JSONEncoder` writes it, so rows stay byte for byte what earlier versions stored.
public struct JSONCoding: Sendable {
    public let encoder: StreamingJSONEncoder
    private let formatDate: @Sendable (Date) -> String

    init(escapingSlashes: Bool, dates: @escaping @Sendable (Date) -> String) {
        self.encoder = StreamingJSONEncoder(escapingSlashes: escapingSlashes, dates: .text(dates))
        self.formatDate = dates
    }

    public static let api = JSONCoding(escapingSlashes: false) { UTCTimestamp.wholeSeconds($0) }
    public static let events = JSONCoding(escapingSlashes: false) { UTCTimestamp.iso8601($0) }
    public static let stored = JSONCoding(escapingSlashes: true) { UTCTimestamp.wholeSeconds($0) }

    public func encode(_ value: some Encodable) throws -> [UInt8] {
        try encoder.encode(value)
    }

    public func encodeText(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// How this place writes a date on its own (e.g. in a query parameter or a header).
    public func text(_ date: Date) -> String {
        formatDate(date)
    }

    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder().decode(type, from: data)
    }

    public func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try decoder().decode(type, from: Data(text.utf8))
    }

    /// A decoder reading dates as RFC 3339 date-times, with or without fractions of a second.
    public func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Self.parseDate(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an RFC 3339 date-time")
            }
            return date
        }
        return decoder
    }

    /// An RFC 3339 date-time. The common shapes are read without Foundation's parser (a replay
    /// reads hundreds of thousands); it still reads whatever else ISO 8601 allows.
    public static func parseDate(_ text: String) -> Date? {
        if text.utf8.count > 10, let date = UTCTimestamp.parse(text) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}
