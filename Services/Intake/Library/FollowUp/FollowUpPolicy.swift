import Domain
import Foundation
import PostgresClient
import ServiceRuntime

/// A site's follow-up clocks: how soon a link worker must first contact a client after
/// accepting the referral, when follow-ups fall due, how long a referral may stay on hold, and
/// when an overdue step is escalated to the site's coordinator. Sites without a policy of their
/// own use `standard`.
struct FollowUpPolicy: Codable, Sendable, Equatable {
    /// Working days after acceptance; the message to clients promises two.
    var firstContactWorkingDays: Int
    /// Weeks after the work started (in progress) at which a follow-up contact falls due.
    var followUpWeeks: [Int]
    /// Calendar days a referral may stay on hold before its review is due.
    var maxHoldDays: Int
    /// Working days after a step fell due at which the coordinator is told.
    var escalateAfterWorkingDays: Int
    var holidays: WorkingCalendar.HolidayRule
    var timeZone: String

    static let standard = FollowUpPolicy(
        firstContactWorkingDays: 2, followUpWeeks: [6, 12], maxHoldDays: 30, escalateAfterWorkingDays: 3, holidays: .ontario, timeZone: "America/Toronto")

    /// The zones of the places Passerelle's networks work in; each is a working-day calendar.
    static let timeZones = [
        "America/St_Johns", "America/Halifax", "America/Moncton", "America/Toronto", "America/Winnipeg", "America/Regina", "America/Edmonton",
        "America/Vancouver", "America/Whitehorse", "America/Yellowknife", "America/Iqaluit",
    ]

    var calendar: WorkingCalendar {
        WorkingCalendar(rule: holidays, timeZone: TimeZone(identifier: timeZone) ?? TimeZone(identifier: "America/Toronto")!)
    }

    /// When a follow-up step falls due and when it is escalated.
    func due(_ step: FollowUpStep, from start: Date) -> (due: Date, escalate: Date) {
        let calendar = self.calendar
        let due: Date
        switch step {
        case .firstContact: due = calendar.addingWorkingDays(firstContactWorkingDays, to: start)
        case .followUp(let weeks): due = start.addingTimeInterval(TimeInterval(weeks * 7 * 86_400))
        case .holdReview: due = start.addingTimeInterval(TimeInterval(maxHoldDays * 86_400))
        }
        return (due, calendar.addingWorkingDays(escalateAfterWorkingDays, to: due))
    }

    static func read(site: String, on session: borrowing PostgresSession) throws -> FollowUpPolicy {
        guard
            let row = try session.query(
                """
                SELECT first_contact_working_days, follow_up_weeks, max_hold_days, escalate_after_working_days, holidays, time_zone
                FROM follow_up_policy WHERE site = \(site)
                """
            ).first
        else { return .standard }
        return FollowUpPolicy(
            firstContactWorkingDays: try row.decode("first_contact_working_days"), followUpWeeks: try row.decode("follow_up_weeks"),
            maxHoldDays: try row.decode("max_hold_days"), escalateAfterWorkingDays: try row.decode("escalate_after_working_days"),
            holidays: WorkingCalendar.HolidayRule(rawValue: try row.decode("holidays")) ?? .ontario, timeZone: try row.decode("time_zone"))
    }
}

/// `PUT /v1/sites/{site}/follow-up-policy`: every member optional when decoded, so each missing
/// or wrong one is a 422 at its pointer.
struct FollowUpPolicyRequest: Decodable, Sendable {
    var firstContactWorkingDays: Int?
    var followUpWeeks: [Int]?
    var maxHoldDays: Int?
    var escalateAfterWorkingDays: Int?
    var holidays: String?
    var timeZone: String?

    func validated() throws(ProblemDetails) -> FollowUpPolicy {
        var errors: [ProblemDetails.FieldError] = []
        func within(_ value: Int?, _ range: ClosedRange<Int>, _ pointer: String) -> Int? {
            guard let value else {
                errors.append(.init(pointer: pointer, detail: "is required"))
                return nil
            }
            guard range.contains(value) else {
                errors.append(.init(pointer: pointer, detail: "must be \(range.lowerBound) to \(range.upperBound)"))
                return nil
            }
            return value
        }
        let firstContact = within(firstContactWorkingDays, 1...30, "/firstContactWorkingDays")
        let hold = within(maxHoldDays, 1...365, "/maxHoldDays")
        let escalate = within(escalateAfterWorkingDays, 1...30, "/escalateAfterWorkingDays")
        let weeks = (followUpWeeks ?? []).sorted()
        if weeks.count > 4 || weeks.contains(where: { !(1...104).contains($0) }) || Set(weeks).count != weeks.count {
            errors.append(.init(pointer: "/followUpWeeks", detail: "at most 4 distinct weeks from 1 to 104"))
        }
        let rule = WorkingCalendar.HolidayRule(rawValue: holidays ?? WorkingCalendar.HolidayRule.ontario.rawValue)
        if rule == nil {
            errors.append(.init(pointer: "/holidays", detail: "must be one of \(WorkingCalendar.HolidayRule.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        let zone = timeZone ?? FollowUpPolicy.standard.timeZone
        if !FollowUpPolicy.timeZones.contains(zone) {
            errors.append(.init(pointer: "/timeZone", detail: "must be one of \(FollowUpPolicy.timeZones.joined(separator: ", "))"))
        }
        guard errors.isEmpty, let firstContact, let hold, let escalate, let rule else { throw ProblemDetails.validation(errors) }
        return FollowUpPolicy(
            firstContactWorkingDays: firstContact, followUpWeeks: weeks, maxHoldDays: hold, escalateAfterWorkingDays: escalate, holidays: rule, timeZone: zone)
    }
}
