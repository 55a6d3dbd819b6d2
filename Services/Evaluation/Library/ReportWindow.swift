import Foundation
import ServiceRuntime

/// The period a report covers: whole calendar months of the network's time zone, and only
/// months that are over. A bound inside a month is snapped outwards to the month's edge (`from`
/// back to the first of its month, `to` on to the first of the next), and the end stops at the
/// start of the current month. Two windows therefore differ by whole months or not at all, and
/// a figure cannot change between two requests because a referral arrived in between.
struct ReportWindow: Sendable, Equatable {
    static let variable = "PASSERELLE_NETWORK_TIME_ZONE"

    /// The first instant counted; nil when every month up to `to` is.
    var from: Date?
    /// The first instant not counted: the start of a month.
    var to: Date

    /// Whether no month is left (the period asked for has not ended yet).
    var isEmpty: Bool { from.map { $0 >= to } ?? false }

    init(from: Date?, to: Date?, now: Date, zone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        func monthStart(_ date: Date) -> Date {
            calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? date
        }
        func nextMonthStart(_ date: Date) -> Date {
            let start = monthStart(date)
            return start == date ? start : calendar.date(byAdding: .month, value: 1, to: start) ?? start
        }
        let current = monthStart(now)
        self.from = from.map(monthStart)
        self.to = min(to.map(nextMonthStart) ?? current, current)
    }

    /// The zone months are counted in (`PASSERELLE_NETWORK_TIME_ZONE`, America/Toronto by default).
    static func zone(in environment: Environment) throws(ConfigurationError) -> TimeZone {
        let name = environment.string(variable, default: "America/Toronto")
        guard let zone = TimeZone(identifier: name) else { throw ConfigurationError(variable: variable, problem: "\"\(name)\" is not a time zone") }
        return zone
    }
}
