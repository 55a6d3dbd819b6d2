import WireFormats

/// A request body's checks: each failed field is collected at its JSON pointer, so one 422 names
/// every mistake at once. The rules for text, required members and code lists are written here
/// once for every service's bodies.
public struct FieldChecks: Sendable {
    public private(set) var errors: [ProblemDetails.FieldError] = []

    public init() {}

    public mutating func fail(_ pointer: String, _ detail: String) {
        errors.append(.init(pointer: pointer, detail: detail))
    }

    public mutating func required<T>(_ value: T?, at pointer: String) -> T? {
        if value == nil { fail(pointer, "is required") }
        return value
    }

    /// The text trimmed; blank is none, an error when `required`. The limit counts code points
    /// of the text as sent, as the contract's `maxLength` does.
    public mutating func text(_ value: String?, at pointer: String, max: Int, required isRequired: Bool = true) -> String? {
        if let value, value.unicodeScalars.count > max {
            fail(pointer, "must be at most \(max) characters")
            return nil
        }
        guard let trimmed = value?.trimmingWhitespace(), !trimmed.isEmpty else {
            if isRequired { fail(pointer, "is required") }
            return nil
        }
        return trimmed
    }

    /// One of `E`'s cases by raw value; `fallback` when absent (required if there is none).
    public mutating func choice<E: RawRepresentable & CaseIterable>(_ value: String?, _ type: E.Type, at pointer: String, fallback: E? = nil) -> E?
    where E.RawValue == String {
        guard let value else {
            if fallback == nil { fail(pointer, "is required") }
            return fallback
        }
        guard let parsed = E(rawValue: value) else {
            fail(pointer, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return parsed
    }

    /// Throws the 422 that names every failed field, if one failed.
    public func check() throws(ProblemDetails) {
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
    }
}
