import Testing

@testable import EvaluationService

@Suite("Small-cell suppression")
struct SuppressionTests {
    let suppression = SmallCellSuppression(threshold: 5)

    /// No line of `lines` may hold exactly one hidden value.
    func assertNoLoneSuppression(_ hidden: [[Bool]], lines: [[(Int, Int)]]) {
        for line in lines { #expect(line.filter { hidden[$0.0][$0.1] }.count != 1, "line \(line)") }
    }

    @Test("nothing is hidden when every cell counts five clients or more")
    func nothingSmall() {
        #expect(suppression.suppressed([[5, 7, 12]], hasTotalsRow: false) == [[false, false, false]])
    }

    @Test("a small item of a partition is hidden with its smallest neighbour, so the total cannot give it away")
    func listWithTotal() {
        // 12 + 3 + 9 = 24: hiding 3 alone, 24 - 12 - 9 would tell it.
        let hidden = suppression.suppressed([[12], [3], [9], [24]], hasTotalsRow: true, partitions: [[0, 1, 2]])
        #expect(hidden == [[false], [true], [true], [false]])
    }

    @Test("items that do not add up to the total (a referral has several needs) need no complement")
    func notAPartition() {
        #expect(suppression.suppressed([[12], [3], [9], [20]], hasTotalsRow: true) == [[false], [true], [false], [false]])
    }

    @Test("two small cells in a line protect each other")
    func twoSmall() {
        #expect(suppression.suppressed([[2, 3, 20, 25]], hasTotalsRow: false) == [[true, true, false, false]])
    }

    @Test("zero is shown, and never taken as a complement: it protects nothing")
    func zero() {
        #expect(suppression.suppressed([[0, 10, 8, 18]], hasTotalsRow: false) == [[false, false, false, false]])
        #expect(suppression.suppressed([[0, 3, 8, 11]], hasTotalsRow: false) == [[false, true, true, false]])
    }

    @Test("in a grid, complements are found along rows and partition columns until no line holds one hidden cell")
    func grid() {
        //              75+  45-64  all
        let counts = [
            [3, 10, 13],  // signposting
            [12, 8, 20],  // light
            [15, 18, 33],  // all
        ]
        let hidden = suppression.suppressed(counts, hasTotalsRow: true, partitions: [[0, 1]])
        #expect(hidden[0][0])
        // The row needs a second hidden cell (10), the column too (12)…
        #expect(hidden[0][1])
        #expect(hidden[1][0])
        // …and that makes the other line of each need one more.
        #expect(hidden[1][1])
        #expect(hidden[2] == [false, false, false])
        #expect(hidden.map { $0[2] } == [false, false, false])
        assertNoLoneSuppression(hidden, lines: [[(0, 0), (0, 1), (0, 2)], [(1, 0), (1, 1), (1, 2)], [(0, 0), (1, 0), (2, 0)], [(0, 1), (1, 1), (2, 1)]])
    }

    @Test("the margins are suppressed as the reports that show them alone are, whatever the breakdown")
    func consistentMargins() {
        // Without a breakdown: 3 and its complement 20 are hidden, the total shown.
        let alone = suppression.suppressed([[3], [20], [23]], hasTotalsRow: true, partitions: [[0, 1]])
        #expect(alone == [[true], [true], [false]])
        // Broken down two ways: the last column (the same figures) is hidden the same way, and
        // the complements inside never touch a margin.
        for counts in [[[1, 2, 3], [10, 10, 20], [11, 12, 23]], [[3, 0, 3], [6, 14, 20], [9, 14, 23]]] {
            let hidden = suppression.suppressed(counts, hasTotalsRow: true, partitions: [[0, 1]])
            #expect(hidden.map { $0[2] } == [true, true, false], "\(counts)")
            #expect(hidden[2][2] == false)
        }
        // The group totals alone: 4 is hidden with the smallest other group, never the total.
        let groups = suppression.suppressed([[4, 7, 6, 17]], hasTotalsRow: true)
        #expect(groups == [[true, false, true, false]])
    }

    @Test("a hidden margin hides its whole row or column, zeros included")
    func hiddenMarginHidesItsLine() {
        //              yes  no  all
        let counts = [
            [0, 3, 3],  // dropped:failed
            [7, 9, 16],  // open
            [7, 12, 19],  // all
        ]
        let hidden = suppression.suppressed(counts, hasTotalsRow: true, partitions: [[0, 1]])
        // 3 is small and 16 protects it in the report without a breakdown, so both rows go, the
        // zero too: shown, it would tie the hidden total to the one cell left beside it.
        #expect(hidden == [[true, true, true], [true, true, true], [false, false, false]])
    }

    @Test("an item that counts everyone repeats the group totals' pattern")
    func wholeItems() {
        let counts = [[3, 9, 12], [1, 6, 7], [3, 9, 12]]
        let hidden = suppression.suppressed(counts, hasTotalsRow: true, wholeItems: [0])
        #expect(hidden[0] == hidden[2])
        #expect(hidden[2] == [true, true, false])
    }

    @Test("a small total is hidden, and a cell of its line with it")
    func smallTotal() {
        #expect(suppression.suppressed([[2, 1, 3]], hasTotalsRow: false) == [[true, true, true]])
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
