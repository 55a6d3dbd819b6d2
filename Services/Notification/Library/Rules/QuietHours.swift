import Foundation

/// A daily window, in a site's time zone, when clients are not messaged (e.g. 20:00–08:00).
/// A message that falls in it is deferred to the window's end, never dropped.
public struct QuietHours: Sendable, Equatable {
    /// Minutes after local midnight.
    public var start: Int
    public var end: Int
    public var timeZone: TimeZone

    public init(start: Int, end: Int, timeZone: TimeZone) {
        self.start = start
        self.end = end
        self.timeZone = timeZone
    }

    /// Parses "HH:MM-HH:MM".
    public init?(_ text: String, timeZone: TimeZone) {
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let start = Self.minutes(parts[0]), let end = Self.minutes(parts[1]) else { return nil }
        self.init(start: start, end: end, timeZone: timeZone)
    }

    static func minutes(_ text: String) -> Int? {
        let fields = text.split(separator: ":")
        guard fields.count == 2, let hours = Int(fields[0]), let minutes = Int(fields[1]), (0..<24).contains(hours), (0..<60).contains(minutes) else {
            return nil
        }
        return hours * 60 + minutes
    }

    /// The earliest moment at or after `date` outside the window.
    public func earliestDelivery(at date: Date) -> Date {
        guard start != end else { return date }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let now = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let inside = start < end ? (now >= start && now < end) : (now >= start || now < end)
        guard inside else { return date }
        let wait = (end - now + 24 * 60) % (24 * 60)
        // Time zones are offset by whole minutes, so the local minute starts at a UTC minute.
        // (A daylight-saving change inside the window shifts the end by that hour; acceptable.)
        let minute = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60)
        return minute.addingTimeInterval(Double(wait) * 60)
    }
}
