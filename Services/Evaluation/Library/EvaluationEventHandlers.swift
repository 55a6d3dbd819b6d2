import Messaging

extension EvaluationService {
    /// What each consumed event does: the pathway projection folds it into the referral's row
    /// (a pure reducer, PathwayRecord, and the store it writes) and, when the client consented,
    /// publishes the de-identified change to the analyst stream.
    static func eventHandlers(stream: AnalystStream?) -> EventHandlers {
        PathwayProjection.handlers(stream: stream)
    }
}
