import Foundation

extension String {
    /// `trimmingCharacters(in:)` for a set of white space (`.whitespaces`,
    /// `.whitespacesAndNewlines`), without Foundation's work (a copy through `NSString`) when
    /// neither end is in the set, as in almost every field.
    public func trimmingWhitespace(_ set: CharacterSet = .whitespacesAndNewlines) -> String {
        guard let first = unicodeScalars.first, let last = unicodeScalars.last else { return self }
        // Visible ASCII is in neither set; anything else is looked up.
        func outside(_ scalar: Unicode.Scalar) -> Bool { (0x21..<0x7F).contains(scalar.value) || !set.contains(scalar) }
        if outside(first) && outside(last) { return self }
        return trimmingCharacters(in: set)
    }
}
