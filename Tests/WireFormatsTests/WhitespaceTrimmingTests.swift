import Foundation
import Testing
import WireFormats

@Suite("Trimming white space")
struct WhitespaceTrimmingTests {
    @Test("trims as Foundation does, for both white-space sets, and leaves untrimmed text as it is")
    func matchesFoundation() {
        let samples = ["", " ", "a b", " \u{2003}a b\n", "\t\u{A0}x\u{3000}", "\u{2028}y\u{85}", "é ", "\r\n", "z\u{200B}", "\u{200B}z", "\u{FEFF}a\u{FEFF}"]
        for text in samples {
            for set in [CharacterSet.whitespaces, .whitespacesAndNewlines] {
                #expect(text.trimmingWhitespace(set) == text.trimmingCharacters(in: set), "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
        #expect(" \u{2003}a b\n".trimmingWhitespace() == "a b")
        #expect(" \u{2003}a b\n".trimmingWhitespace(.whitespaces) == "a b\n")
    }
}
