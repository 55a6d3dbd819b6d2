import Foundation
import Hummingbird
import ServiceRuntime

/// PostgreSQL stores no NUL character in text or jsonb, and JSON's `\uD800`-style escapes can
/// name a surrogate that has no partner and so no character at all. Both are refused here as a
/// 422 that points at the field, before anything reaches the database (where they were a 500).
enum StorableText {
    static let detail = "must not contain NUL (U+0000) or an unpaired surrogate"

    /// The field error for a path or query value (`pointer` such as `?language`) that cannot be stored.
    static func problem(_ value: String, at pointer: String) -> ProblemDetails.FieldError? {
        value.unicodeScalars.contains("\u{0}") ? .init(pointer: pointer, detail: detail) : nil
    }

    /// Every string and object key in a parsed JSON value that holds a NUL, as JSON pointers under `base`.
    static func problems(in value: Any, at base: String = "") -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        func walk(_ value: Any, _ pointer: String) {
            switch value {
            case let text as String:
                if text.unicodeScalars.contains("\u{0}") { errors.append(.init(pointer: pointer, detail: detail)) }
            case let array as [Any]:
                for (index, element) in array.enumerated() { walk(element, "\(pointer)/\(index)") }
            case let object as [String: Any]:
                for (key, element) in object.sorted(by: { $0.key < $1.key }) {
                    let escaped = key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                    if key.unicodeScalars.contains("\u{0}") { errors.append(.init(pointer: "\(pointer)/\(escaped)", detail: "a member name " + detail)) }
                    walk(element, "\(pointer)/\(escaped)")
                }
            default: break
            }
        }
        walk(value, base)
        return errors
    }

    /// The JSON text with each escape of an unpaired surrogate turned into `\u0000`, so that it
    /// parses and the NUL check then finds the field (the parser would otherwise refuse the whole
    /// body without saying where). Text without such escapes comes back unchanged.
    static func markingUnpairedSurrogates(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var output: [UInt8]?
        func hex(_ at: Int) -> Int? {
            guard at + 4 <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[at..<at + 4] {
                guard let digit = Int(String(UnicodeScalar(byte)), radix: 16) else { return nil }
                value = value * 16 + digit
            }
            return value
        }
        func escapedUnit(_ at: Int) -> Int? {
            guard at + 6 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else { return nil }
            return hex(at + 2)
        }
        var inString = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if !inString {
                if byte == UInt8(ascii: "\"") { inString = true }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = false
                index += 1
            } else if byte == UInt8(ascii: "\\") {
                guard let unit = escapedUnit(index) else {
                    index += 2
                    continue
                }
                if (0xD800...0xDBFF).contains(unit), let low = escapedUnit(index + 6), (0xDC00...0xDFFF).contains(low) {
                    index += 12
                    continue
                }
                if (0xD800...0xDFFF).contains(unit) {
                    if output == nil { output = bytes }
                    output!.replaceSubrange(index + 2..<index + 6, with: Array("0000".utf8))
                }
                index += 6
            } else {
                index += 1
            }
        }
        return output.map { Data($0) } ?? data
    }
}

extension Request {
    /// Decodes a JSON body as `decodeJSON` does, refusing with a 422 that points at it any text of
    /// the value PostgreSQL cannot store. Members the type does not read are ignored, whatever they hold.
    func decodeStorableJSON<T: Codable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        return try StorableText.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

extension StorableText {
    /// The value, once what it holds is known to be storable: an unpaired surrogate becomes a NUL
    /// for the decoder, and the value's own JSON (so only the members it has) is searched for NULs.
    static func decode<T: Codable>(_ type: T.Type, from data: Data) throws -> T {
        let value = try JSONDecoder().decode(T.self, from: markingUnpairedSurrogates(data))
        try requireStorable(value)
        return value
    }

    /// 422 if any string of the value's JSON holds a NUL, at its pointer.
    static func requireStorable(_ value: some Encodable) throws {
        let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value), options: [.fragmentsAllowed])
        let errors = problems(in: object)
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
    }

}
