import Foundation

/// Working days for follow-up clocks: Monday to Friday except a site's public holidays. The
/// holidays are rules, not a list of dates, so the calendar never runs out.
public struct WorkingCalendar: Sendable, Equatable {
    public enum HolidayRule: String, Codable, Sendable, CaseIterable {
        /// Ontario's statutory holidays (Employment Standards Act, 2000): New Year's Day, Family
        /// Day, Good Friday, Victoria Day, Canada Day, Labour Day, Thanksgiving, Christmas Day and
        /// Boxing Day; one that falls on a weekend is observed on the next working day.
        case ontario
        /// No holidays: weekdays only.
        case none
    }

    public var rule: HolidayRule
    /// The site's time zone: a day is a working day in the place the work happens.
    public var timeZone: TimeZone

    public init(rule: HolidayRule = .ontario, timeZone: TimeZone = TimeZone(identifier: "America/Toronto")!) {
        self.rule = rule
        self.timeZone = timeZone
    }

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    public func isWorkingDay(_ date: Date) -> Bool {
        let calendar = self.calendar
        let weekday = calendar.component(.weekday, from: date)
        guard weekday != 1 && weekday != 7 else { return false }
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        return !observedHolidays(in: day.year!).contains(MonthDay(month: day.month!, day: day.day!))
    }

    /// The end of the `days`-th working day after `start` (the day of `start` itself does not
    /// count): what "within N working days" means for a due step.
    public func addingWorkingDays(_ days: Int, to start: Date) -> Date {
        let calendar = self.calendar
        var day = calendar.startOfDay(for: start)
        var counted = 0
        while counted < days {
            day = calendar.date(byAdding: .day, value: 1, to: day)!
            if isWorkingDay(day) { counted += 1 }
        }
        return calendar.date(byAdding: .day, value: 1, to: day)!
    }

    /// The working days between two instants, counting each whole working day after `start`'s
    /// day up to and including `end`'s day.
    public func workingDays(from start: Date, to end: Date) -> Int {
        let calendar = self.calendar
        var day = calendar.startOfDay(for: start)
        let last = calendar.startOfDay(for: end)
        var count = 0
        while day < last {
            day = calendar.date(byAdding: .day, value: 1, to: day)!
            if isWorkingDay(day) { count += 1 }
        }
        return count
    }

    struct MonthDay: Hashable {
        var month: Int
        var day: Int
    }

    /// The days off in `year`, moved off weekends where the rule says so.
    func observedHolidays(in year: Int) -> Set<MonthDay> {
        switch rule {
        case .none: return []
        case .ontario:
            let calendar = self.calendar
            func date(_ month: Int, _ day: Int) -> Date { calendar.date(from: DateComponents(year: year, month: month, day: day, hour: 12))! }
            func monthDay(_ date: Date) -> MonthDay {
                let parts = calendar.dateComponents([.month, .day], from: date)
                return MonthDay(month: parts.month!, day: parts.day!)
            }
            /// The `n`-th `weekday` (1 = Sunday) of a month.
            func nth(_ n: Int, _ weekday: Int, of month: Int) -> MonthDay {
                var day = date(month, 1)
                while calendar.component(.weekday, from: day) != weekday { day = calendar.date(byAdding: .day, value: 1, to: day)! }
                return monthDay(calendar.date(byAdding: .day, value: 7 * (n - 1), to: day)!)
            }
            let easter = Self.easterSunday(year)
            let goodFriday = monthDay(calendar.date(byAdding: .day, value: -2, to: date(easter.month, easter.day))!)
            // Victoria Day: the Monday before May 25.
            var victoria = date(5, 24)
            while calendar.component(.weekday, from: victoria) != 2 { victoria = calendar.date(byAdding: .day, value: -1, to: victoria)! }
            var days: Set<MonthDay> = [
                nth(3, 2, of: 2), goodFriday, monthDay(victoria), nth(1, 2, of: 9), nth(2, 2, of: 10),
            ]
            // Fixed dates: a Saturday or Sunday holiday is observed on the following Monday (and
            // Boxing Day after a weekend Christmas on the Tuesday).
            var taken = days
            for (month, day) in [(1, 1), (7, 1), (12, 25), (12, 26)] {
                var observed = date(month, day)
                while !(2...6).contains(calendar.component(.weekday, from: observed)) || taken.contains(monthDay(observed)) {
                    observed = calendar.date(byAdding: .day, value: 1, to: observed)!
                }
                taken.insert(monthDay(observed))
                days.insert(monthDay(observed))
            }
            return days
        }
    }

    /// Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm).
    static func easterSunday(_ year: Int) -> MonthDay {
        let a = year % 19
        let b = year / 100
        let c = year % 100
        let d = b / 4
        let e = b % 4
        let f = (b + 8) / 25
        let g = (b - f + 1) / 3
        let h = (19 * a + b - d - g + 15) % 30
        let i = c / 4
        let k = c % 4
        let l = (32 + 2 * e + 2 * i - h - k) % 7
        let m = (a + 11 * h + 22 * l) / 451
        let month = (h + l - 7 * m + 114) / 31
        let day = ((h + l - 7 * m + 114) % 31) + 1
        return MonthDay(month: month, day: day)
    }
}
