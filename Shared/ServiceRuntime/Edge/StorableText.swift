import Foundation
import Hummingbird
import WireFormats

/// PostgreSQL stores no NUL character in text or jsonb, and JSON's `\uD800`-style escapes can
/// name a surrogate that has no partner and so no character at all. Both are refused at the edge
/// as a 422 that points at the field, before anything reaches the database (where they were a 500).
public enum StorableText {
    public static let detail = "must not contain NUL (U+0000) or an unpaired surrogate"

    /// The field error for a path or query value (`pointer` such as `?language`) that cannot be stored.
    public static func problem(_ value: String, at pointer: String) -> ProblemDetails.FieldError? {
        value.unicodeScalars.contains("\u{0}") ? .init(pointer: pointer, detail: detail) : nil
    }

    /// Refuses path or query values that cannot be stored, all at once.
    public static func require(_ values: [(pointer: String, value: String?)]) throws(ProblemDetails) {
        let errors = values.compactMap { entry in entry.value.flatMap { problem($0, at: entry.pointer) } }
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
    }

    /// `data` if no string or member name anywhere in it holds unstorable text; 422 at each one
    /// that does; a body that is not JSON is left to the caller's decoder, whose error becomes a
    /// 400 with a pointer. For uploads whose every member may be stored.
    public static func checked(_ data: Data) throws(ProblemDetails) -> Data {
        // The common case costs one pass over the bytes: nothing to look for, nothing parsed twice.
        guard mayHoldUnstorableEscape(data) else { return data }
        let marked = markingUnpairedSurrogates(data)
        guard let value = try? JSONSerialization.jsonObject(with: marked, options: [.fragmentsAllowed]) else { return data }
        let errors = problems(in: value)
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
        return data
    }

    /// Decodes `data` with `coding`, refusing (422, at its pointer) any text of the decoded value
    /// PostgreSQL cannot store. Members the type does not read are ignored, whatever they hold:
    /// an unpaired surrogate becomes a NUL for the decoder, and the value's own JSON is searched.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, coding: JSONCoding = .api) throws -> T {
        guard mayHoldUnstorableEscape(data) else { return try coding.decode(T.self, from: data) }
        let value = try coding.decode(T.self, from: markingUnpairedSurrogates(data))
        let errors: [ProblemDetails.FieldError]
        if let encodable = value as? any Encodable {
            // The value's own JSON names its members exactly as the body did.
            errors = problems(in: try JSONSerialization.jsonObject(with: Data(try coding.encode(encodable)), options: [.fragmentsAllowed]))
        } else {
            errors = problems(reflecting: value)
        }
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
        return value
    }

    /// The strings of a decoded value that hold a NUL, found by reflection (for types that only
    /// decode): property names stand for member names, as synthesised `Codable` spells them.
    static func problems(reflecting value: Any, at pointer: String = "") -> [ProblemDetails.FieldError] {
        if let text = value as? String {
            return text.unicodeScalars.contains("\u{0}") ? [.init(pointer: pointer, detail: detail)] : []
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { problems(reflecting: $0.value, at: pointer) } ?? []
        case .collection, .set:
            return mirror.children.enumerated().flatMap { index, child in problems(reflecting: child.value, at: "\(pointer)/\(index)") }
        case .dictionary:
            return mirror.children.flatMap { child -> [ProblemDetails.FieldError] in
                let pair = Mirror(reflecting: child.value).children.map(\.value)
                guard pair.count == 2, let key = pair[0] as? String else { return [] }
                if key.unicodeScalars.contains("\u{0}") { return [.init(pointer: pointer, detail: "a member name " + detail)] }
                let escaped = key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                return problems(reflecting: pair[1], at: "\(pointer)/\(escaped)")
            }
        case .struct, .class:
            return mirror.children.flatMap { child in child.label.map { problems(reflecting: child.value, at: "\(pointer)/\($0)") } ?? [] }
        default:
            return []
        }
    }

    /// Whether the text has a `\u0000` or a `\uD800`–`\uDFFF` escape anywhere (an escaped
    /// backslash before `u` may make this a false alarm, which the full check then clears).
    /// Refuses a decoded value with 422 at each member holding a NUL, by the value's own JSON.
    public static func require(encodable value: some Encodable) throws {
        let errors = problems(in: try JSONSerialization.jsonObject(with: Data(try JSONCoding.api.encode(value)), options: [.fragmentsAllowed]))
        if !errors.isEmpty { throw ProblemDetails.validation(errors) }
    }

    public static func mayHoldUnstorableEscape(_ data: Data) -> Bool {
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            guard bytes.count >= 6 else { return false }
            var index = 0
            while index + 5 < bytes.count {
                if bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] | 0x20 == UInt8(ascii: "u") {
                    let first = bytes[index + 2]
                    let second = bytes[index + 3] | 0x20
                    if first == UInt8(ascii: "0") && bytes[index + 3] == UInt8(ascii: "0") && bytes[index + 4] == UInt8(ascii: "0")
                        && bytes[index + 5] == UInt8(ascii: "0")
                    {
                        return true
                    }
                    if first | 0x20 == UInt8(ascii: "d") && (UInt8(ascii: "8")...UInt8(ascii: "9")).contains(second) { return true }
                    if first | 0x20 == UInt8(ascii: "d") && (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(second) { return true }
                }
                index += 1
            }
            return false
        }
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
                    // A name holding a NUL cannot be pointed at without one: point at its object.
                    if key.unicodeScalars.contains("\u{0}") { errors.append(.init(pointer: pointer, detail: "a member name " + detail)) }
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
    public static func markingUnpairedSurrogates(_ data: Data) -> Data {
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
    /// The JSON body, once nothing anywhere in it is text PostgreSQL cannot store (422 otherwise),
    /// for routes that keep the body as it came. Bodies over the upload limit are 413.
    public func storableJSONBody(context: some RequestContext) async throws -> Data {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        return try StorableText.checked(Data(buffer.readableBytesView))
    }
}
