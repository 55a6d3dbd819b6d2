/// Small-cell suppression: one rule for every report, applied to the underlying cells.
///
/// **The underlying cells.** Every count a report publishes is a sum of cells of one site and one
/// calendar month (its *atoms*): a report over several months or sites adds atoms up. A figure is
/// shown only when every atom it adds up is shown in that atom's own table, so whatever a user
/// gets by adding and subtracting reports over different windows or sites, they could already
/// read in the reports of single months and sites. A figure derived from others (a number of
/// closures, a completion rate) is shown only when every figure it is made of is.
///
/// **One atom's table** is items × groups, with the group totals as a last row (the clients of
/// each group: the same line in every report over the same population) and the item totals as a
/// last column (the report without a breakdown):
/// 1. Primary: a cell counting 1 to `threshold - 1` clients is hidden. Zero is shown: it names
///    nobody, and a zero that looked hidden could be learnt elsewhere and give its partner away.
/// 2. The margins are protected on their own, so each is the same in every report that shows
///    it: in the group totals, and among the items of a partition of the population (support
///    levels; the funnel's final stages), a line holding exactly one hidden value gets a second
///    one — its smallest non-zero other cell, never the total.
/// 3. Items that count the whole population (the funnel's `received`) repeat the group totals'
///    pattern.
/// 4. A hidden margin hides its whole row or column, zeros included (a zero shown beside it
///    would pin it to the few cells it leaves).
/// 5. Inside, every row (groups adding up to the item's total) and every column of a partition
///    (items adding up to the group's total) that holds exactly one hidden value gets a second,
///    its smallest non-zero cell that is not a margin, until no line holds exactly one.
public struct SmallCellSuppression: Sendable {
    public var threshold: Int

    public init(threshold: Int = 5) {
        self.threshold = threshold
    }

    /// Whether a count is suppressed on its own.
    public func isSmall(_ count: Int) -> Bool { count > 0 && count < threshold }

    /// One atom's table: `counts[item][group]`, the last column holding the item totals; when
    /// `hasTotalsRow`, the last row holds the group totals. `partitions` lists the items (row
    /// indices) that add up to the totals row; `wholeItems` the items equal to it.
    public func suppressed(_ counts: [[Int]], hasTotalsRow: Bool, partitions: [[Int]] = [], wholeItems: Set<Int> = []) -> [[Bool]] {
        var hidden = counts.map { $0.map(isSmall) }
        guard let width = counts.first?.count, width > 0, counts.allSatisfy({ $0.count == width }) else { return hidden }
        let totals = width - 1
        let itemRows = hasTotalsRow ? counts.count - 1 : counts.count
        typealias Cell = (row: Int, column: Int)
        /// Gives a line holding exactly one hidden value a second: the smallest non-zero of `open`.
        func protect(_ line: [Cell], open: [Cell]) -> Bool {
            guard line.filter({ hidden[$0.row][$0.column] }).count == 1 else { return false }
            let candidates = open.filter { !hidden[$0.row][$0.column] && counts[$0.row][$0.column] > 0 }
            guard let complement = candidates.min(by: { (counts[$0.row][$0.column], $0.row, $0.column) < (counts[$1.row][$1.column], $1.row, $1.column) })
            else { return false }
            hidden[complement.row][complement.column] = true
            return true
        }
        // 2. The margins, each on its own values only.
        if hasTotalsRow && totals > 0 {
            let groups = (0..<totals).map { Cell(itemRows, $0) }
            _ = protect(groups + [Cell(itemRows, totals)], open: groups)
        }
        if hasTotalsRow {
            for partition in partitions {
                let items = partition.map { Cell($0, totals) }
                _ = protect(items + [Cell(itemRows, totals)], open: items)
            }
        }
        // 3. Items equal to the whole population.
        if hasTotalsRow {
            for item in wholeItems where item < itemRows { hidden[item] = hidden[itemRows] }
        }
        guard totals > 0 else { return hidden }
        // 4. A hidden margin hides its whole line, zeros included: a zero shown beside it would
        // pin it to the few cells it leaves.
        for item in 0..<itemRows where hidden[item][totals] {
            for group in 0..<totals { hidden[item][group] = true }
        }
        if hasTotalsRow {
            for group in 0..<totals where hidden[itemRows][group] {
                for item in 0..<itemRows { hidden[item][group] = true }
            }
        }
        // 5. Inside the table, margins fixed.
        let inner: (Cell) -> Bool = { !wholeItems.contains($0.row) }
        var lines: [(line: [Cell], open: [Cell])] = []
        for item in 0..<itemRows where !wholeItems.contains(item) {
            let cells = (0..<totals).map { Cell(item, $0) }
            lines.append((cells + [Cell(item, totals)], cells))
        }
        if hasTotalsRow {
            for partition in partitions {
                for group in 0..<totals {
                    let cells = partition.map { Cell($0, group) }
                    lines.append((cells + [Cell(itemRows, group)], cells.filter(inner)))
                }
            }
        }
        var changed = true
        while changed {
            changed = false
            for (line, open) in lines where protect(line, open: open) { changed = true }
        }
        return hidden
    }
}
