import Testing

@testable import EvaluationService

@Suite("Small-cell suppression")
struct SuppressionTests {
    let suppression = SmallCellSuppression(threshold: 5)

    /// No row or column of the grid may hold exactly one hidden value.
    func assertNoLoneSuppression(_ hidden: [[Bool]]) {
        for row in hidden where row.count > 1 { #expect(row.filter { $0 }.count != 1, "row \(row)") }
        for column in 0..<(hidden.first?.count ?? 0) where hidden.count > 1 {
            #expect(hidden.map { $0[column] }.filter { $0 }.count != 1, "column \(column)")
        }
    }

    @Test("nothing is hidden when every cell counts five clients or more")
    func nothingSmall() {
        #expect(suppression.suppressed([[5, 7, 12]]) == [[false, false, false]])
    }

    @Test("a small cell is hidden with its smallest neighbour, so the total cannot give it away")
    func listWithTotal() {
        // 12 + 3 + 9 = 24: hiding 3 alone, 24 - 12 - 9 would tell it.
        let hidden = suppression.suppressed([[12], [3], [9], [24]])
        #expect(hidden == [[false], [true], [true], [false]])
        assertNoLoneSuppression(hidden)
    }

    @Test("two small cells in a line protect each other")
    func twoSmall() {
        #expect(suppression.suppressed([[2, 3, 20, 25]]) == [[true, true, false, false]])
    }

    @Test("zero is under five")
    func zero() {
        #expect(suppression.suppressed([[0, 10, 8, 18]]) == [[true, false, true, false]])
    }

    @Test("in a grid, complements are found along rows and columns until no line holds one hidden cell")
    func grid() {
        //              75+  45-64  all
        let counts = [
            [3, 10, 13],  // loneliness
            [12, 8, 20],  // housing
            [15, 18, 33],
        ]  // all
        let hidden = suppression.suppressed(counts)
        #expect(hidden[0][0])
        // The row needs a second hidden cell (10 before the total), the column too (12).
        #expect(hidden[0][1])
        #expect(hidden[1][0])
        // …and that makes the other line of each need one more.
        #expect(hidden[1][1])
        #expect(!hidden[2][2])
        assertNoLoneSuppression(hidden)
    }

    @Test("a small total is hidden, and a cell of its line with it")
    func smallTotal() {
        let hidden = suppression.suppressed([[2, 1, 3]])
        #expect(hidden == [[true, true, true]])
    }
}

@Suite("Confidence intervals")
struct StudentTTests {
    @Test("the 97.5th percentile of t falls towards 1.96")
    func quantiles() {
        #expect(StudentT.quantile975(degreesOfFreedom: 1) == 12.706)
        #expect(StudentT.quantile975(degreesOfFreedom: 9) == 2.262)
        #expect(StudentT.quantile975(degreesOfFreedom: 1000) == 1.960)
    }
}
