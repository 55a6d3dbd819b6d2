import Foundation
import Hummingbird
import ServiceRuntime

/// The strings of a JSON body (values and member names) that PostgreSQL cannot store: a NUL
/// character (libpq would cut a parameter at it and `jsonb` refuses `\u0000`), or a UTF-16
/// surrogate escape without its pair (`\ud800`), which no UTF-8 text can hold. Found on the bytes,
/// so the refusal can point at each place before anything is decoded or written.
enum UnstorableText {
    enum Segment: Sendable, Equatable {
        case member(String)
        case index(Int)
    }

    struct Finding: Sendable, Equatable {
        /// Where the string is; for a member name, the object holding it.
        var path: [Segment]
        var inMemberName: Bool
        /// An unpaired surrogate (else a NUL character): no decoder can read the body at all.
        var unpairedSurrogate = false
        var detail: String

        /// RFC 6901: `/client/givenName`.
        var pointer: String {
            path.map { segment in
                switch segment {
                case .index(let index): "/\(index)"
                case .member(let name): "/" + name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                }
            }.joined()
        }
    }

    /// Every unstorable string of `body`; none when the body is not JSON (its decoding reports that).
    static func findings(in body: Data) -> [Finding] {
        // JSON spells both only as `\u` escapes: most bodies have neither and are not scanned.
        guard mayHoldEscape(body) else { return [] }
        var scanner = Scanner(bytes: [UInt8](body))
        return scanner.document() ? scanner.findings : []
    }

    /// Whether a `\u0000` or `\uD800`–`\uDFFF` escape may be present (a cheap over-approximation).
    private static func mayHoldEscape(_ body: Data) -> Bool {
        let bytes = [UInt8](body)
        guard bytes.count >= 6 else { return false }
        for index in 0..<(bytes.count - 5) where bytes[index] == UInt8(ascii: "\\") && bytes[index + 1] == UInt8(ascii: "u") {
            let first = bytes[index + 2], second = bytes[index + 3]
            if first == UInt8(ascii: "0") && second == UInt8(ascii: "0") && bytes[index + 4] == UInt8(ascii: "0") && bytes[index + 5] == UInt8(ascii: "0") { return true }
            if (first | 0x20) == UInt8(ascii: "d") && [UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "c"), UInt8(ascii: "d"), UInt8(ascii: "e"), UInt8(ascii: "f")].contains(second | 0x20) {
                return true
            }
        }
        return false
    }

    /// A recursive-descent walk of the JSON text that decodes only what it needs: member names
    /// (for the path) and the escapes of every string.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var path: [Segment] = []
        var findings: [Finding] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func document() -> Bool {
            guard value(depth: 0) else { return false }
            skipWhitespace()
            return position == bytes.count
        }

        private mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        private mutating func value(depth: Int) -> Bool {
            // Deeper than any body of ours; the decoder refuses what is left.
            guard depth < 512 else { return false }
            skipWhitespace()
            guard position < bytes.count else { return false }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return true }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let name = string(memberName: true) else { return false }
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return false }
                    position += 1
                    path.append(.member(name))
                    defer { path.removeLast() }
                    guard value(depth: depth + 1) else { return false }
                    skipWhitespace()
                    guard position < bytes.count else { return false }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return true }
                    return false
                }
            case UInt8(ascii: "["):
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return true }
                var index = 0
                while true {
                    path.append(.index(index))
                    defer { path.removeLast() }
                    guard value(depth: depth + 1) else { return false }
                    skipWhitespace()
                    guard position < bytes.count else { return false }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; index += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return true }
                    return false
                }
            case UInt8(ascii: "\""):
                return string(memberName: false) != nil
            default:
                // A number, true, false or null: the decoder judges it.
                let start = position
                while position < bytes.count, !",]} \t\n\r".utf8.contains(bytes[position]) { position += 1 }
                return position > start
            }
        }

        /// Reads a string at `position` (its opening quote); returns its text (NUL and lone
        /// surrogates shown as U+FFFD) and records what cannot be stored.
        private mutating func string(memberName: Bool) -> String? {
            position += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            var nul = false, lone = false
            var pendingHigh: UInt16?
            func flushRaw() {
                if !raw.isEmpty { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
            }
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    if pendingHigh != nil { lone = true; scalars.append("\u{FFFD}") }
                    flushRaw()
                    if nul || lone {
                        let what = nul && lone ? "a NUL character and an unpaired UTF-16 surrogate" : nul ? "a NUL character" : "an unpaired UTF-16 surrogate"
                        findings.append(Finding(
                            path: path, inMemberName: memberName, unpairedSurrogate: lone,
                            detail: memberName ? "has a member name with \(what), which cannot be stored" : "contains \(what), which cannot be stored"))
                    }
                    return String(scalars)
                }
                if byte == UInt8(ascii: "\\") {
                    guard position + 1 < bytes.count else { return nil }
                    let escape = bytes[position + 1]
                    if escape == UInt8(ascii: "u") {
                        guard position + 5 < bytes.count, let unit = UInt16(String(decoding: bytes[(position + 2)...(position + 5)], as: UTF8.self), radix: 16) else { return nil }
                        position += 6
                        flushRaw()
                        switch unit {
                        case 0xD800...0xDBFF:
                            if pendingHigh != nil { lone = true; scalars.append("\u{FFFD}") }
                            pendingHigh = unit
                        case 0xDC00...0xDFFF:
                            if let high = pendingHigh {
                                pendingHigh = nil
                                scalars.append(Unicode.Scalar(0x10000 + (UInt32(high - 0xD800) << 10) + UInt32(unit - 0xDC00))!)
                            } else {
                                lone = true
                                scalars.append("\u{FFFD}")
                            }
                        default:
                            if pendingHigh != nil { lone = true; pendingHigh = nil; scalars.append("\u{FFFD}") }
                            if unit == 0 { nul = true; scalars.append("\u{FFFD}") } else { scalars.append(Unicode.Scalar(unit)!) }
                        }
                        continue
                    }
                    if pendingHigh != nil { lone = true; pendingHigh = nil; scalars.append("\u{FFFD}") }
                    switch escape {
                    case UInt8(ascii: "n"): raw.append(0x0A)
                    case UInt8(ascii: "t"): raw.append(0x09)
                    case UInt8(ascii: "r"): raw.append(0x0D)
                    case UInt8(ascii: "b"): raw.append(0x08)
                    case UInt8(ascii: "f"): raw.append(0x0C)
                    default: raw.append(escape)  // \" \\ \/
                    }
                    position += 2
                    continue
                }
                if pendingHigh != nil { lone = true; pendingHigh = nil; scalars.append("\u{FFFD}") }
                if byte == 0 { nul = true }
                raw.append(byte)
                position += 1
            }
            return nil
        }
    }
}

extension UnstorableText {
    /// The strings of a decoded body that hold a NUL character, by JSON pointer: only what the
    /// body type reads (unknown members are ignored, NUL or not). Property names are the JSON
    /// member names, as synthesised `Codable` spells them.
    static func nulFindings(in value: Any, path: [Segment] = []) -> [Finding] {
        if let text = value as? String {
            return text.unicodeScalars.contains("\u{0}") ? [Finding(path: path, inMemberName: false, detail: "contains a NUL character, which cannot be stored")] : []
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { nulFindings(in: $0.value, path: path) } ?? []
        case .collection:
            return mirror.children.enumerated().flatMap { index, child in nulFindings(in: child.value, path: path + [.index(index)]) }
        case .dictionary:
            return mirror.children.flatMap { child -> [Finding] in
                let pair = Mirror(reflecting: child.value).children.map(\.value)
                guard pair.count == 2, let key = pair[0] as? String else { return [] }
                if key.unicodeScalars.contains("\u{0}") {
                    return [Finding(path: path, inMemberName: true, detail: "has a member name with a NUL character, which cannot be stored")]
                }
                return nulFindings(in: pair[1], path: path + [.member(key)])
            }
        case .struct, .class:
            return mirror.children.flatMap { child in child.label.map { nulFindings(in: child.value, path: path + [.member($0)]) } ?? [] }
        default:
            return []
        }
    }
}

extension Request {
    /// `decodeJSON`, refusing (422, a pointer for each) text PostgreSQL cannot store: an unpaired
    /// surrogate anywhere (nothing could read the body), a NUL character in what the body type reads.
    func decodeStorableJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        let findings = UnstorableText.findings(in: data)
        let unpaired = findings.filter(\.unpairedSurrogate)
        guard unpaired.isEmpty else { throw ProblemDetails.validation(unpaired.map { .init(pointer: $0.pointer, detail: $0.detail) }) }
        let value = try JSONDecoder().decode(T.self, from: data)
        if !findings.isEmpty {
            let nul = UnstorableText.nulFindings(in: value)
            guard nul.isEmpty else { throw ProblemDetails.validation(nul.map { .init(pointer: $0.pointer, detail: $0.detail) }) }
        }
        return value
    }
}
