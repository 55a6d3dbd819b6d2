/// A PostgreSQL failure, typed by SQLSTATE class so callers can react (retry, 409, 503) without
/// string matching. Descriptions never include connection parameters (libpq can echo them).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Could not connect, or the connection broke (server restart, network): try again later.
        case connectionUnavailable
        case uniqueViolation
        case foreignKeyViolation
        case checkViolation
        case notNullViolation
        case serializationFailure
        case deadlockDetected
        case queryCanceled
        case invalidInput
        case migrationHistoryMismatch
        case protocolViolation
        case other
    }

    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var constraint: String?
    public var table: String?
    public var column: String?
    /// What we were doing, e.g. the first words of the statement.
    public var context: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, context: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
        self.table = table
        self.column = column
        self.context = context
    }

    static func kind(forSQLState state: String) -> Kind {
        switch state {
        case "23505": return .uniqueViolation
        case "23503": return .foreignKeyViolation
        case "23514": return .checkViolation
        case "23502": return .notNullViolation
        case "40001": return .serializationFailure
        case "40P01": return .deadlockDetected
        case "57014": return .queryCanceled
        case "22P02", "22007", "22008", "22003", "22023": return .invalidInput
        default:
            // Class 08 (connection exception) and 57P01..57P03 (admin shutdown, crash, cannot connect now).
            if state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03" { return .connectionUnavailable }
            return .other
        }
    }

    /// Failures that a fresh attempt of the whole transaction can cure.
    public var isTransientTransactionFailure: Bool {
        kind == .serializationFailure || kind == .deadlockDetected
    }

    public var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let constraint { text += " (constraint \(constraint))" }
        if let context { text += " while \(context)" }
        return text
    }
}
