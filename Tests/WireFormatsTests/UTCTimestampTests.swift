import Foundation
import Testing
import WireFormats

@Suite("UTC timestamps as text")
struct UTCTimestampTests {
    /// Instants spread over four centuries, including leap days and the ends of months and years.
    static let instants: [Date] = {
        var generator = SystemRandomNumberGenerator()
        var dates = (0..<2_000).map { _ in
            Date(
                timeIntervalSince1970: Double(Int64.random(in: -2_208_988_800...7_258_118_400, using: &generator)) + Double.random(in: 0..<1, using: &generator)
            )
        }
        let utc = { (text: String) in try! Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) }
        dates += [
            "2000-02-29T23:59:59.999Z", "1900-02-28T00:00:00.000Z", "2024-12-31T23:59:59.500Z", "1970-01-01T00:00:00.000Z",
            "1969-12-31T23:59:59.001Z", "2100-03-01T12:00:00.250Z", "2000-12-20T22:49:26.582Z",
        ].map(utc)
        return dates
    }()

    @Test("formats events' timestamps in Foundation's ISO-8601 shape, to the nearest millisecond")
    func iso8601MatchesFoundation() throws {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!)
        for date in Self.instants {
            let ours = UTCTimestamp.iso8601(date)
            // Half a millisecond, plus the Double's own spacing for instants a century out (~1 µs).
            #expect(abs(try style.parse(ours).timeIntervalSince(date)) <= 0.000_5 + 2e-6, "\(ours) for \(date.timeIntervalSince1970)")
            #expect(ours.utf8.count == 24 && ours.hasSuffix("Z") && Array(ours.utf8)[10] == UInt8(ascii: "T"))
        }
        let exact = try style.parse("2026-11-23T09:50:30.123Z")
        #expect(UTCTimestamp.iso8601(exact) == "2026-11-23T09:50:30.123Z")
    }

    @Test("writes the APIs' whole-second dates exactly as date.formatted(.iso8601) does, the fraction dropped")
    func wholeSecondsMatchFoundation() {
        // Around 1970, the last second of 9999 and the first of 10000, the first of year 1, and the
        // first second of 1583 and the last of 1582 (the Julian calendar's, which Foundation writes).
        let edges = [
            -0.5, 1.9, 0, -86_400.2, 253_402_300_799.9, 253_402_300_800, -62_135_596_800, -62_135_596_801, -12_212_553_600,
            -12_212_553_601,
        ]
        for date in Self.instants + edges.map(Date.init(timeIntervalSince1970:)) {
            #expect(UTCTimestamp.wholeSeconds(date) == date.formatted(.iso8601), "for \(date.timeIntervalSince1970)")
        }
    }

    @Test("an instant read back from PostgreSQL's text is written out the same, however the Double rounds")
    func stableThroughText() throws {
        for text in ["2026-11-23 09:50:30.123456+00", "1999-12-31 23:59:59.999999+00", "2026-01-01 00:00:00.000001+00"] {
            let date = try #require(UTCTimestamp.parse(text))
            #expect(UTCTimestamp.postgres(date) == text)
        }
    }

    @Test("reads back what it writes, to the precision written")
    func roundTrips() {
        for date in Self.instants {
            let events = UTCTimestamp.parse(UTCTimestamp.iso8601(date))
            let postgres = UTCTimestamp.parse(UTCTimestamp.postgres(date))
            #expect(events.map { abs($0.timeIntervalSince(date)) < 0.001 } == true)
            #expect(postgres.map { abs($0.timeIntervalSince(date)) < 0.000_002_5 } == true)  // half a microsecond plus the Double's spacing
        }
    }

    @Test("reads what Foundation writes and agrees with Foundation's parser")
    func parsesLikeFoundation() throws {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for date in Self.instants {
            let text = date.formatted(style)
            // The same instant; the two parsers may round its Double differently in the last bit
            // (seen about once in a few thousand dates far from the reference date).
            let ours = try #require(UTCTimestamp.parse(text), "\(text)")
            let foundations = try style.parse(text)
            #expect(abs(ours.timeIntervalSince(foundations)) < 0.000_001, "\(text)")
        }
    }

    @Test("PostgreSQL's forms: microseconds, offsets, no fraction, a plain date")
    func postgresForms() throws {
        let base = try #require(UTCTimestamp.parse("2026-11-23T09:50:30Z"))
        #expect(UTCTimestamp.postgres(base) == "2026-11-23 09:50:30.000000+00")
        #expect(UTCTimestamp.parse("2026-11-23 09:50:30+00") == base)
        #expect(UTCTimestamp.parse("2026-11-23 15:20:30+05:30") == base)
        #expect(UTCTimestamp.parse("2026-11-23 04:50:30-0500") == base)
        #expect(UTCTimestamp.parse("2026-11-23 10:50:30+01") == base)
        #expect(abs((UTCTimestamp.parse("2026-11-23 09:50:30.123456+00")?.timeIntervalSince(base) ?? 0) - 0.123456) < 1e-7)
        #expect(UTCTimestamp.parse("2026-11-23") == UTCTimestamp.parse("2026-11-23T00:00:00Z"))
        #expect(UTCTimestamp.postgres(Date(timeIntervalSince1970: -0.25)) == "1969-12-31 23:59:59.750000+00")
    }

    @Test(
        "refuses what is not a valid instant",
        arguments: [
            "", "2026", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31", "2026-11-23T24:00:00Z",
            "2026-11-23T09:60:00Z", "2026-11-23T09:50:30", "2026-11-23T09:50:30.Z", "2026-11-23T09:50:30Zjunk",
            "2026-11-23X09:50:30Z", "2026-11-23T09:50:30+5", "20261123T095030Z", "2026-1-23T09:50:30Z", "２０２６-11-23",
        ])
    func refuses(_ text: String) {
        #expect(UTCTimestamp.parse(text) == nil)
    }
}

@Suite("UUIDs as text")
struct UUIDTextTests {
    @Test("formats and parses as Foundation does, in either case")
    func matchesFoundation() {
        for _ in 0..<1_000 {
            let uuid = UUID()
            #expect(UUIDText.format(uuid) == uuid.uuidString.lowercased())
            #expect(UUIDText.parse(uuid.uuidString) == uuid)
            #expect(UUIDText.parse(uuid.uuidString.lowercased()) == uuid)
        }
    }

    @Test(
        "refuses what is not a hyphenated UUID",
        arguments: [
            "", "not-a-uuid", "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5bd9cb469fa16570867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950g", "0f8fad5b_d9cb-469f-a165-70867728950e", "{0f8fad5b-d9cb-469f-a165-70867728950e}",
        ])
    func refuses(_ text: String) {
        #expect(UUIDText.parse(text) == nil)
    }
}
