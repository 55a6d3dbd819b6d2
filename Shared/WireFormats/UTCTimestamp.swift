import Foundation

/// Instants as ISO-8601 text in UTC, formatted and parsed with integer arithmetic instead of
/// `Calendar` and Foundation's format styles, which cost more than decoding the rest of an
/// event when a whole topic is replayed. Civil dates follow the proleptic Gregorian calendar
/// (days from and to 1970-01-01 as in Howard Hinnant's `chrono`-compatible algorithms).
public enum UTCTimestamp {
    /// `2026-11-23T09:50:30.123Z`: milliseconds, the precision events carry.
    public static func iso8601(_ date: Date) -> String {
        format(date, fractionDigits: 3, dateTimeSeparator: UInt8(ascii: "T"), zone: "Z")
    }

    /// `2026-11-23T09:50:30Z`: whole seconds, as the APIs write dates; the same text as
    /// `date.formatted(.iso8601)` (the fraction dropped, not rounded), at a fraction of its cost.
    public static func wholeSeconds(_ date: Date) -> String {
        format(date, fractionDigits: 0, dateTimeSeparator: UInt8(ascii: "T"), zone: "Z")
    }

    /// `2026-11-23 09:50:30.123456+00`: microseconds, the precision `timestamptz` stores.
    public static func postgres(_ date: Date) -> String {
        format(date, fractionDigits: 6, dateTimeSeparator: UInt8(ascii: " "), zone: "+00")
    }

    /// Parses `YYYY-MM-DD` (midnight UTC), or that followed by `T` or a space, `hh:mm:ss`, a
    /// fraction of any length and a zone (`Z`, `±hh`, `±hh:mm` or `±hhmm`), as RFC 3339 and
    /// PostgreSQL write them. Nil for anything else, including out-of-range fields such as a
    /// 30th of February.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// The UTC calendar date of an instant.
    public static func civilDate(_ date: Date) -> (year: Int, month: Int, day: Int) {
        let (days, _) = floorDivision(Int(date.timeIntervalSince1970.rounded(.down)), 86_400)
        return civil(fromDays: days)
    }

    // MARK: - Formatting

    private static func format(_ date: Date, fractionDigits: Int, dateTimeSeparator: UInt8, zone: StaticString) -> String {
        let scale = fractionDigits == 0 ? 1 : fractionDigits == 3 ? 1_000 : 1_000_000
        // Rounded to the nearest tick: a value read back from text (…123456) is rarely exact as a
        // Double (…123455.99…), and truncating it would move it a tick earlier on every round trip.
        // Whole seconds are truncated, as Foundation's ISO 8601 style does.
        let scaled = date.timeIntervalSince1970 * Double(scale)
        let ticks = Int(fractionDigits == 0 ? scaled.rounded(.down) : scaled.rounded())
        let (seconds, fraction) = floorDivision(ticks, scale)
        let (days, secondOfDay) = floorDivision(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        // Before year 1 (never a real record's date) the four-digit form does not apply.
        // Whole seconds must be Foundation's text exactly, and Foundation's calendar is Julian
        // before the Gregorian reform (1582) and wider after 9999: those years are its to write.
        guard year >= 1, fractionDigits > 0 || (1583...9999).contains(year) else { return date.formatted(.iso8601) }
        let capacity = 20 + fractionDigits + zone.utf8CodeUnitCount + max(0, String(year).utf8.count - 4)
        return String(unsafeUninitializedCapacity: capacity) { out in
            var position = 0
            func put(_ value: Int, width: Int) {
                var digits = width
                var remaining = value
                // Wider values (years past 9999) keep all their digits.
                while remaining >= power(10, digits) { digits += 1 }
                for index in stride(from: position + digits - 1, through: position, by: -1) {
                    out[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                    remaining /= 10
                }
                position += digits
            }
            func put(_ byte: UInt8) {
                out[position] = byte
                position += 1
            }
            put(year, width: 4)
            put(UInt8(ascii: "-"))
            put(month, width: 2)
            put(UInt8(ascii: "-"))
            put(day, width: 2)
            put(dateTimeSeparator)
            put(secondOfDay / 3_600, width: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay / 60 % 60, width: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay % 60, width: 2)
            if fractionDigits > 0 {
                put(UInt8(ascii: "."))
                put(fraction, width: fractionDigits)
            }
            zone.withUTF8Buffer { for byte in $0 { put(byte) } }
            return position
        }
    }

    private static func power(_ base: Int, _ exponent: Int) -> Int {
        var result = 1
        for _ in 0..<exponent { result *= base }
        return result
    }

    // MARK: - Parsing

    private static func parse(utf8: UnsafeBufferPointer<UInt8>) -> Date? {
        let count = utf8.count
        func number(_ from: Int, _ length: Int) -> Int? {
            guard from + length <= count else { return nil }
            var value = 0
            for index in from..<(from + length) {
                let digit = utf8[index] &- UInt8(ascii: "0")
                guard digit <= 9 else { return nil }
                value = value * 10 + Int(digit)
            }
            return value
        }
        guard count >= 10, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var secondOfDay = 0
        var fraction = 0.0
        var offset = 0
        var index = 10
        if count > 10 {
            guard utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: " "), count >= 19,
                utf8[13] == UInt8(ascii: ":"), utf8[16] == UInt8(ascii: ":"),
                let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
                hour < 24, minute < 60, second < 60
            else { return nil }
            secondOfDay = hour * 3_600 + minute * 60 + second
            index = 19
            if index < count, utf8[index] == UInt8(ascii: ".") {
                index += 1
                var digits = 0
                var value = 0
                while index < count, utf8[index] &- UInt8(ascii: "0") <= 9 {
                    // Beyond nanoseconds a Date cannot tell the difference; further digits are read and ignored.
                    if digits < 9 {
                        value = value * 10 + Int(utf8[index] - UInt8(ascii: "0"))
                        digits += 1
                    }
                    index += 1
                }
                guard digits > 0 else { return nil }
                fraction = Double(value) / Double(power(10, digits))
            }
            guard index < count else { return nil }
            do {
                switch utf8[index] {
                case UInt8(ascii: "Z"):
                    index += 1
                case UInt8(ascii: "+"), UInt8(ascii: "-"):
                    let sign = utf8[index] == UInt8(ascii: "-") ? -1 : 1
                    guard let hours = number(index + 1, 2), hours < 24 else { return nil }
                    index += 3
                    var minutes = 0
                    if index < count {
                        if utf8[index] == UInt8(ascii: ":") { index += 1 }
                        guard let parsed = number(index, 2), parsed < 60 else { return nil }
                        minutes = parsed
                        index += 2
                    }
                    offset = sign * (hours * 3_600 + minutes * 60)
                default:
                    return nil
                }
            }
            guard index == count else { return nil }
        }
        let seconds = days(fromYear: year, month: month, day: day) * 86_400 + secondOfDay - offset
        // Counted from 2001 as Date stores it, so the result is the very Double Foundation's parser gives.
        return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + fraction)
    }

    // MARK: - Civil calendar

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func days(fromYear year: Int, month: Int, day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date `days` after 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivision(_ value: Int, _ divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }
}
