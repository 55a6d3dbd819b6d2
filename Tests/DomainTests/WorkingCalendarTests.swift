import Domain
import Foundation
import Testing

@Suite("Working days: weekends and Ontario's statutory holidays")
struct WorkingCalendarTests {
    static let toronto = TimeZone(identifier: "America/Toronto")!

    func day(_ text: String, hour: Int = 12) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.toronto
        let parts = text.split(separator: "-").map { Int($0)! }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: hour))!
    }

    @Test(
        "each statutory holiday (and its observed day) is off; the days around it are not",
        arguments: [
            // 2026: Easter is 5 April; Boxing Day is a Saturday, observed Monday the 28th.
            ("2026-01-01", false), ("2026-01-02", true), ("2026-02-16", false), ("2026-02-17", true), ("2026-04-03", false), ("2026-04-06", true),
            ("2026-05-18", false), ("2026-05-19", true), ("2026-07-01", false), ("2026-09-07", false), ("2026-10-12", false), ("2026-12-25", false),
            ("2026-12-28", false), ("2026-12-29", true), ("2026-12-24", true),
            // 2027: Christmas on a Saturday, Boxing Day on a Sunday: Monday and Tuesday are off.
            ("2027-12-27", false), ("2027-12-28", false), ("2027-12-29", true), ("2027-03-26", false),
            // 2022: New Year's Day on a Saturday, observed Monday 3 January.
            ("2022-01-03", false), ("2022-01-04", true),
            // Weekends.
            ("2026-12-05", false), ("2026-12-06", false), ("2026-12-07", true),
        ])
    func holidays(date: String, working: Bool) {
        #expect(WorkingCalendar().isWorkingDay(day(date)) == working, "\(date)")
    }

    @Test("N working days after a moment end at midnight after the N-th working day, skipping holidays and weekends")
    func addingWorkingDays() {
        let calendar = WorkingCalendar()
        // Accepted on Thursday 24 December 2026: Friday 25, the weekend and Monday 28 are off.
        #expect(calendar.addingWorkingDays(2, to: day("2026-12-24", hour: 16)) == day("2026-12-31", hour: 0))
        // Accepted on a Monday: due at the end of Wednesday.
        #expect(calendar.addingWorkingDays(2, to: day("2026-12-07", hour: 9)) == day("2026-12-10", hour: 0))
        #expect(calendar.workingDays(from: day("2026-12-24"), to: day("2026-12-30")) == 2)
        // Without holidays, only the weekend is skipped.
        #expect(WorkingCalendar(rule: .none).addingWorkingDays(2, to: day("2026-12-24", hour: 16)) == day("2026-12-29", hour: 0))
    }
}
