/// Small-cell suppression for published tables of client counts.
///
/// Primary: a cell counting fewer than `threshold` clients (zero included) is suppressed.
/// Complementary: a published table is a grid whose every row and every column ends with its
/// total. In any such line, one suppressed value could be recovered by subtracting the others
/// from the total (or adding up the cells, for a suppressed total), so no line may hold exactly
/// one suppressed value: the smallest other value of the line is suppressed with it, cells
/// before totals, until every line holds none or at least two.
public struct SmallCellSuppression: Sendable {
    public var threshold: Int

    public init(threshold: Int = 5) {
        self.threshold = threshold
    }

    /// `counts[row][column]`, the last row holding the column totals and the last column the
    /// row totals (a single column is a list with its total last). Returns which values to hide.
    public func suppressed(_ counts: [[Int]]) -> [[Bool]] {
        var hidden = counts.map { row in row.map { $0 < threshold } }
        guard let width = counts.first?.count, width > 0, counts.allSatisfy({ $0.count == width }) else { return hidden }
        let height = counts.count
        let rows = (0..<height).map { r in (0..<width).map { (r, $0) } }
        let columns = (0..<width).map { c in (0..<height).map { ($0, c) } }
        // Lines of one value have nothing to subtract from; a table that is one row or one
        // column has only that line.
        let lines = (rows + columns).filter { $0.count > 1 }
        var changed = true
        while changed {
            changed = false
            for line in lines {
                let hiddenInLine = line.filter { hidden[$0.0][$0.1] }
                guard hiddenInLine.count == 1 else { continue }
                let isTotal: ((Int, Int)) -> Bool = { $0.0 == height - 1 || $0.1 == width - 1 }
                let candidates = line.filter { !hidden[$0.0][$0.1] }
                guard
                    let complement = candidates.min(by: { a, b in
                        (isTotal(a) ? 1 : 0, counts[a.0][a.1]) < (isTotal(b) ? 1 : 0, counts[b.0][b.1])
                    })
                else { continue }
                hidden[complement.0][complement.1] = true
                changed = true
            }
        }
        return hidden
    }
}
