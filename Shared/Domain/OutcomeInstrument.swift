/// A validated questionnaire scored server-side.
public struct OutcomeInstrument: Sendable, Equatable {
    public let code: String
    public let itemCount: Int
    public let itemRange: ClosedRange<Int>
    /// Maps item answers (already validated) to the instrument's scores.
    let scoring: @Sendable ([Int]) -> [String: Double]

    public static func == (lhs: OutcomeInstrument, rhs: OutcomeInstrument) -> Bool { lhs.code == rhs.code }

    /// ONS personal wellbeing: life satisfaction, worthwhile, happiness, anxiety (each 0–10,
    /// reported per item; for anxiety lower is better).
    public static let ons4 = OutcomeInstrument(code: "ons4", itemCount: 4, itemRange: 0...10) { items in
        ["life-satisfaction": Double(items[0]), "worthwhile": Double(items[1]), "happiness": Double(items[2]), "anxiety": Double(items[3])]
    }

    /// UCLA 3-item loneliness scale: three items 1–3, total 3–9 (higher is lonelier).
    public static let ucla3 = OutcomeInstrument(code: "ucla3", itemCount: 3, itemRange: 1...3) { items in
        ["total": Double(items.reduce(0, +))]
    }

    /// SWEMWBS: seven items 1–5; the raw total (7–35) is converted to a metric score with the
    /// published Rasch conversion table. Item wording is licensed and is not shipped.
    public static let swemwbs = OutcomeInstrument(code: "swemwbs", itemCount: 7, itemRange: 1...5) { items in
        let raw = items.reduce(0, +)
        return ["raw": Double(raw), "metric": swemwbsMetric[raw - 7]]
    }

    /// Metric scores for raw totals 7...35.
    static let swemwbsMetric: [Double] = [
        7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98, 18.59, 19.25,
        19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31, 30.70, 32.55, 35.00,
    ]

    public static let all: [OutcomeInstrument] = [.ons4, .ucla3, .swemwbs]

    /// Validates completeness and ranges (every problem, not the first) and scores.
    public func score(_ answers: [Int?]) -> Result<[String: Double], OutcomeValidationError> {
        var problems: [OutcomeValidationError.Problem] = []
        if answers.count != itemCount {
            problems.append(.init(item: nil, message: "\(code) has \(itemCount) items, got \(answers.count)"))
        }
        for (index, answer) in answers.enumerated() {
            guard let answer else {
                problems.append(.init(item: index, message: "item \(index + 1) is unanswered"))
                continue
            }
            if !itemRange.contains(answer) {
                problems.append(
                    .init(item: index, message: "item \(index + 1) must be between \(itemRange.lowerBound) and \(itemRange.upperBound), got \(answer)"))
            }
        }
        guard problems.isEmpty else { return .failure(OutcomeValidationError(problems: problems)) }
        return .success(scoring(answers.map { $0! }))
    }
}

public struct OutcomeValidationError: Error, Sendable, Equatable {
    public struct Problem: Sendable, Equatable {
        /// Zero-based item index, or nil for the whole answer set.
        public var item: Int?
        public var message: String
    }
    public var problems: [Problem]
}
