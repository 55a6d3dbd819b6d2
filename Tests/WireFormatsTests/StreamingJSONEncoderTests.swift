import Foundation
import Testing

@testable import WireFormats

@Suite("Streaming JSON encoder")
struct StreamingJSONEncoderTests {
    static let iso8601 = StreamingJSONEncoder(dates: .text { UTCTimestamp.iso8601($0) })

    /// Whether the value was written in one pass (rather than handed to `JSONEncoder`).
    static func streamed<T: Encodable>(_ value: T) throws -> Bool {
        let writer = JSONStreamWriter(escapingSlashes: false, dates: .deferredToDate)
        try writer.encodeRoot(value)
        return !writer.needsTree
    }

    /// Bytes from both encoders, as text for readable failures.
    static func both<T: Encodable>(_ value: T, _ encoder: StreamingJSONEncoder = iso8601) throws -> (ours: String, foundation: String) {
        (
            String(decoding: try encoder.encode(value), as: UTF8.self),
            String(decoding: try encoder.foundationEncoder.encode(value), as: UTF8.self)
        )
    }

    enum Channel: String, Codable { case sms, email }
    enum Outcome: Codable, Equatable {
        case connected(resource: UUID, sessions: Int)
        case declined(String)
        case unreachable
    }

    struct Everything: Codable {
        var id = UUID()
        var zebra = "last key, declared first"
        var name = "Ana \"Q\" O'Brien / Ã©lan \\ tab\tline\nfeed\r bell\u{7} unit\u{1F} nul\u{0} del\u{7F} é 漢字 🧶"
        var empty = ""
        var flag = true
        var other = false
        var int = Int.min
        var int8 = Int8.max
        var int16 = Int16.min
        var int32 = Int32.max
        var int64 = Int64.min
        var uint = UInt.max
        var uint8 = UInt8.max
        var uint16 = UInt16.max
        var uint32 = UInt32.max
        var uint64 = UInt64.max
        var doubles: [Double] = [
            0, -0.0, 1, -1.5, 0.1, 1.0 / 3, 45.4001, -75.7312, 1e-7, 1e21, 123_456_789_012_345_680, .pi, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
        ]
        var floats: [Float] = [0, 2.5, 0.1, 3e-9, 16_777_216]
        var when = Date(timeIntervalSince1970: 1_795_000_000.123)
        var dates: [Date] = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -1.5)]
        var bytes = Data([0, 1, 2, 250, 251, 252, 253, 254, 255])
        var link = URL(string: "https://example.org/a/b?c=d&e=f")!
        var amount = Decimal(string: "12345.678")!
        var tags = ["b", "a", "c"]
        var numbers = [3, 1, 2]
        var nothing: String? = nil
        var something: Int? = 7
        var optionals: [String?] = ["x", nil]
        var channel = Channel.sms
        var outcomes: [Outcome] = [.connected(resource: UUID(), sessions: 3), .declined("too far"), .unreachable]
        var nested = Nested()
        var dictionary = ["zeta": 1, "alpha": 2, "Beta": 3, "éclair": 4, "a": 5, "aa": 6, "": 7]
        var byNumber = [3: "three", 1: "one"]
        var matrix = [[1, 2], [], [3]]
        var objects = [Nested(), Nested(level: 2, children: [Nested(level: 3, children: [])])]
        var emptyObject = EmptyObject()
        var emptyArray: [Int] = []
        var emptyDictionary: [String: Int] = [:]
    }

    struct Nested: Codable {
        var level = 1
        var children: [Nested] = []
        var map = ["y": [1], "x": []]
    }

    struct EmptyObject: Codable {}

    @Test("writes the bytes JSONEncoder writes with sorted keys, for every kind of value")
    func matchesFoundation() throws {
        let value = Everything()
        let (ours, foundation) = try Self.both(value)
        #expect(ours == foundation)
        #expect(try Self.streamed(value))

        // Slashes escaped or not, dates as Date's own number.
        for encoder in [StreamingJSONEncoder(escapingSlashes: true), StreamingJSONEncoder(escapingSlashes: false)] {
            let (ours, foundation) = try Self.both(value, encoder)
            #expect(ours == foundation)
            #expect(ours.contains("\\/") == encoder.escapingSlashes)
        }
        // Top-level fragments and collections.
        #expect(try Self.both("a/b\"c").ours == Self.both("a/b\"c").foundation)
        #expect(try Self.both(42).ours == "42")
        #expect(try Self.both([value, value]).ours == Self.both([value, value]).foundation)
        #expect(try Self.both(["k": value]).ours == Self.both(["k": value]).foundation)
        #expect(try Self.both(Optional<Int>.none).ours == "null")
    }

    @Test("an object of string members is what a [String: String] encodes to")
    func stringMembers() throws {
        let members = [
            ("ce_type", "passerelle.referral.received.v1"), ("ce_source", "/passerelle/intake"), ("content-type", "application/json"),
            ("ce_id", "a\"b\\c\n"), ("", "empty key"), ("é", "accent"),
        ]
        let dictionary = Dictionary(uniqueKeysWithValues: members)
        for encoder in [Self.iso8601, StreamingJSONEncoder(escapingSlashes: true)] {
            #expect(
                String(decoding: encoder.encodeObject(members.map { (key: $0.0, value: $0.1) }), as: UTF8.self)
                    == String(decoding: try encoder.foundationEncoder.encode(dictionary), as: UTF8.self))
        }
        #expect(Self.iso8601.encodeObject([]) == Array("{}".utf8))
    }

    @Test("random strings, keys and numbers come out as JSONEncoder writes them")
    func randomValues() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ019 _-/\\\"\n\t\u{1}\u{1F}é漢🧶")
        func text() -> String { String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        for _ in 0..<300 {
            var dictionary: [String: [Double]] = [:]
            for _ in 0..<Int.random(in: 0...8, using: &generator) {
                dictionary[text()] =
                    (0..<Int.random(in: 0...3, using: &generator)).map { _ in
                        Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator))
                    }.filter(\.isFinite) + [Double(Int.random(in: -1_000_000...1_000_000, using: &generator)) / 1000]
            }
            let (ours, foundation) = try Self.both(dictionary)
            #expect(ours == foundation)
            #expect(try Self.streamed(dictionary))
        }
    }

    /// Encodes through its containers in ways one pass cannot follow.
    struct Irregular: Encodable {
        enum Keys: String, CodingKey { case b, a, c }
        enum Mode { case interleaved, superEncoder, sameKeyTwice, reopened }
        let mode: Mode
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            switch mode {
            case .interleaved:
                // Writes into a nested container after its parent has moved on.
                var first = container.nestedContainer(keyedBy: Keys.self, forKey: .b)
                var second = container.nestedUnkeyedContainer(forKey: .a)
                try first.encode(1, forKey: .c)
                try second.encode(2)
                try first.encode(3, forKey: .a)
            case .superEncoder:
                try container.encode("x", forKey: .c)
                var parent = container.superEncoder().singleValueContainer()
                try parent.encode(9)
            case .sameKeyTwice:
                try container.encode(1, forKey: .a)
                try container.encode(2, forKey: .b)
                try container.encode(3, forKey: .a)
            case .reopened:
                try container.encode(1, forKey: .b)
                var again = encoder.container(keyedBy: Keys.self)
                try again.encode(2, forKey: .a)
            }
        }
    }

    @Test("containers used out of order, a super-encoder or a repeated key give JSONEncoder's result")
    func irregularUseFallsBack() throws {
        for mode in [Irregular.Mode.interleaved, .superEncoder, .sameKeyTwice, .reopened] {
            let (ours, foundation) = try Self.both(Irregular(mode: mode))
            #expect(ours == foundation, "\(mode)")
            #expect(try Self.streamed(Irregular(mode: mode)) == (mode == .reopened), "\(mode)")
        }
        #expect(try Self.both(Irregular(mode: .sameKeyTwice)).ours == #"{"a":3,"b":2}"#)
        #expect(try Self.both(Irregular(mode: .reopened)).ours == #"{"a":2,"b":1}"#)
    }

    struct Silent: Encodable { func encode(to encoder: any Encoder) throws {} }
    struct Floating: Encodable { var values: [Double] }

    @Test("fails where JSONEncoder fails: a top-level value that encodes nothing, a number JSON cannot hold")
    func errors() throws {
        #expect(throws: EncodingError.self) { try Self.iso8601.encode(Silent()) }
        #expect(throws: EncodingError.self) { try Self.iso8601.foundationEncoder.encode(Silent()) }
        // Inside another value, it is an empty object for both.
        #expect(try Self.both(["quiet": Silent()]).ours == #"{"quiet":{}}"#)
        #expect(try Self.both(["quiet": Silent()]).foundation == #"{"quiet":{}}"#)
        for bad in [Double.nan, .infinity, -.infinity] {
            do {
                _ = try Self.iso8601.encode(Floating(values: [1, bad]))
                Issue.record("\(bad) was encoded")
            } catch EncodingError.invalidValue(_, let context) {
                #expect(context.codingPath.map(\.stringValue) == ["values", "Index 1"])
            }
        }
    }
}
