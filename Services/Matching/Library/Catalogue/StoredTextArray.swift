import Domain
import Foundation
import PostgresClient

/// Whether a list of texts stored in a `text[]` column reads back as it was written. The shared
/// reader of PostgreSQL's array text takes it apart by Swift characters, and a character can
/// span a delimiter: an element that starts with a combining mark (or ends with a prepending
/// one) fuses with the brace, quote or comma beside it, and the array no longer reads. Such a
/// value once stored would fail every read of the resource, and the catalogue matching loads,
/// so it is refused before it is stored.
enum StoredTextArray {
    /// What is refused, said for a person.
    static let detail = "starts with a combining mark or ends with a prepending one, which the catalogue cannot store and read back"

    static func readsBack(_ elements: [String]) -> Bool {
        elements.isEmpty || [String](postgresText: "{" + elements.map(literal).joined(separator: ",") + "}") == elements
    }

    /// The indices of the elements that do not read back on their own.
    static func unreadable(_ elements: [String]) -> [Int] {
        let single = elements.indices.filter { !readsBack([elements[$0]]) }
        // Neighbours cannot fuse across a comma, so this is a backstop.
        return single.isEmpty && !readsBack(elements) ? Array(elements.indices) : single
    }

    /// The resource's text lists that would not read back, as JSON pointers.
    static func problems(_ resource: CommunityResource) -> [String] {
        let lists: [(String, [String])] = [
            ("/languages", resource.languages), ("/tags", resource.tags), ("/accessibility", resource.accessibility),
            ("/eligibility/areas", resource.eligibility.areas),
        ]
        return lists.flatMap { pointer, elements in unreadable(elements).map { "\(pointer)/\($0)" } }
    }

    /// An element as PostgreSQL's `array_out` writes it: quoted (with `"` and `\` escaped) when
    /// empty, NULL, or holding a brace, quote, comma, backslash or white space.
    static func literal(_ element: String) -> String {
        let special: Set<Unicode.Scalar> = ["{", "}", "\"", ",", "\\", " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]
        guard element.isEmpty || element.lowercased() == "null" || element.unicodeScalars.contains(where: special.contains) else { return element }
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in element.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { quoted.append("\\") }
            quoted.append(scalar)
        }
        quoted.append("\"")
        return String(quoted)
    }
}
