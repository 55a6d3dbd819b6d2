import Foundation
import Testing
import WireFormats

/// Each place JSON goes has one date style and one slash rule; these are the bytes it writes.
@Suite("JSON policy: api, events and stored")
struct JSONCodingTests {
    struct Stamped: Codable, Equatable {
        var at: Date
        var link: String
    }

    let value = Stamped(at: Date(timeIntervalSince1970: 1_796_000_000.25), link: "a/b")

    @Test("api writes whole-second dates and plain slashes; events keep milliseconds; stored escapes slashes")
    func writes() throws {
        #expect(try JSONCoding.api.encodeText(value) == #"{"at":"2026-11-30T00:53:20Z","link":"a/b"}"#)
        #expect(try JSONCoding.events.encodeText(value) == #"{"at":"2026-11-30T00:53:20.250Z","link":"a/b"}"#)
        #expect(try JSONCoding.stored.encodeText(value) == #"{"at":"2026-11-30T00:53:20Z","link":"a\/b"}"#)
    }

    @Test("every coding reads what any of them wrote, and refuses a date that is not RFC 3339")
    func reads() throws {
        for writer in [JSONCoding.api, .events, .stored] {
            let text = try writer.encodeText(value)
            let read = try JSONCoding.api.decode(Stamped.self, from: text)
            #expect(abs(read.at.timeIntervalSince(value.at)) < 1)
            #expect(read.link == "a/b")
        }
        #expect(
            try JSONCoding.events.decode(Stamped.self, from: #"{"at":"2026-11-30T00:53:20.250+02:00","link":""}"#).at
                == Date(timeIntervalSince1970: 1_796_000_000.25 - 7200))
        #expect(throws: DecodingError.self) { try JSONCoding.api.decode(Stamped.self, from: #"{"at":"yesterday","link":""}"#) }
        #expect(throws: DecodingError.self) { try JSONCoding.api.decode(Stamped.self, from: #"{"at":1796000000,"link":""}"#) }
    }
}
