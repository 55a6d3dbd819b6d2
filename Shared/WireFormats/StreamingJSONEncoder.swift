import Foundation

/// Encodes `Encodable` values as compact JSON with sorted keys, writing bytes as it goes.
///
/// Foundation's `JSONEncoder` first builds a tree of values (an object is a dictionary, so
/// every key is hashed), then sorts each object's keys and writes the tree out: the largest
/// single cost of writing a referral and its events. This encoder writes each value where it
/// belongs and sorts an object's members in place once the object is complete. Its output is
/// byte for byte what `JSONEncoder` writes with `.sortedKeys` and the same slash and date
/// options (same number formats, same string escapes, `Date`, `Data`, `URL` and `Decimal`
/// handled the same way), which the tests check.
///
/// A value whose `encode(to:)` writes into a container after starting another one, asks for
/// a super-encoder, or writes one key twice is not written in one pass: it is handed to
/// `JSONEncoder` as it is, so the result is the same in every case.
public struct StreamingJSONEncoder: Sendable {
    public enum DateEncoding: Sendable {
        /// `Date`'s own `Encodable`: seconds since 2001-01-01 as a number (`JSONEncoder`'s default).
        case deferredToDate
        /// A string made by the function, e.g. `UTCTimestamp.iso8601`.
        case text(@Sendable (Date) -> String)
    }

    /// Writes `/` as `\/` (`JSONEncoder` does unless told `.withoutEscapingSlashes`).
    public var escapingSlashes: Bool
    public var dates: DateEncoding

    public init(escapingSlashes: Bool = false, dates: DateEncoding = .deferredToDate) {
        self.escapingSlashes = escapingSlashes
        self.dates = dates
    }

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = JSONStreamWriter(escapingSlashes: escapingSlashes, dates: dates)
        try writer.encodeRoot(value)
        guard !writer.needsTree else { return Array(try foundationEncoder.encode(value)) }
        return writer.bytes
    }

    /// An object of string members (record headers, say) without going through `Encodable`:
    /// what `encode` writes for a `[String: String]` with unique keys.
    public func encodeObject(_ members: [(key: String, value: String)]) -> [UInt8] {
        let writer = JSONStreamWriter(escapingSlashes: escapingSlashes, dates: dates)
        writer.write(members: members.sorted { JSONStreamWriter.precedes($0.key, $1.key) })
        return writer.bytes
    }

    /// The `JSONEncoder` that writes the same bytes.
    public var foundationEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
        switch dates {
        case .deferredToDate:
            encoder.dateEncodingStrategy = .deferredToDate
        case .text(let format):
            encoder.dateEncodingStrategy = .custom { date, encoder in
                var container = encoder.singleValueContainer()
                try container.encode(format(date))
            }
        }
        return encoder
    }
}

/// The one-pass writer behind `StreamingJSONEncoder`; used for a single `encode` call.
///
/// Every container is a frame on a stack. A keyed frame records where each member starts
/// (on one stack shared by all frames, since an inner object is complete before its parent
/// writes again) and, when it closes, rewrites its members in key order: the same bytes in
/// another order, so the positions its parent recorded stay right.
final class JSONStreamWriter: Encoder {
    // The writer's state is only touched by one `encode` call, and never while one of its own
    // accesses is under way (a value's `encode(to:)` runs between them), so the run-time
    // exclusivity checks, a fifth of the encoding time, are left out for these three.
    @exclusivity(unchecked) private(set) var bytes: [UInt8] = []
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// Set when `encode(to:)` used containers in a way one pass cannot follow; the bytes are then
    /// discarded and the value is encoded by `JSONEncoder`.
    private(set) var needsTree = false

    private let escapingSlashes: Bool
    private let dates: StreamingJSONEncoder.DateEncoding

    fileprivate enum Kind { case pending, keyed, unkeyed, single }
    private struct Frame {
        var kind: Kind
        let serial: Int
        /// Opened by `nestedContainer`: ends when its parent writes again or ends.
        let nested: Bool
        var count = 0
        /// Where this frame's members begin in `members` (keyed frames).
        var membersBase = 0
    }
    @exclusivity(unchecked) private var frames: [Frame] = []
    @exclusivity(unchecked) private var members: [(key: String, start: Int)] = []
    private var nextSerial = 0
    /// The top-level value's `encode(to:)` encoded nothing, which `JSONEncoder` refuses.
    private var rootWroteNothing = false

    init(escapingSlashes: Bool, dates: StreamingJSONEncoder.DateEncoding) {
        self.escapingSlashes = escapingSlashes
        self.dates = dates
        bytes.reserveCapacity(512)
    }

    func encodeRoot<T: Encodable>(_ value: T) throws {
        try encodeValue(value, key: nil)
        if rootWroteNothing && !needsTree {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
    }

    // MARK: Values

    func encodeValue<T: Encodable>(_ value: T, key: (any CodingKey)?) throws {
        // The types `JSONEncoder` writes itself rather than through their `Encodable`, then the
        // commonest leaves, without a frame.
        if T.self == String.self { return write(string: unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return write(integer: unsafeBitCast(value, to: Int.self)) }
        if T.self == Bool.self { return write(raw: unsafeBitCast(value, to: Bool.self) ? "true" : "false") }
        if T.self == UUID.self { return write(string: unsafeBitCast(value, to: UUID.self).uuidString) }
        if T.self == Date.self, case .text(let format) = dates { return write(string: format(unsafeBitCast(value, to: Date.self))) }
        if T.self == [String].self {
            bytes.append(UInt8(ascii: "["))
            for (index, element) in unsafeBitCast(value, to: [String].self).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(string: element)
            }
            bytes.append(UInt8(ascii: "]"))
            return
        }
        if T.self == Data.self { return write(string: unsafeBitCast(value, to: Data.self).base64EncodedString()) }
        if T.self == URL.self { return write(string: unsafeBitCast(value, to: URL.self).absoluteString) }
        if T.self == Decimal.self { return write(raw: unsafeBitCast(value, to: Decimal.self).description) }

        let depth = frames.count
        frames.append(Frame(kind: .pending, serial: nextSerial, nested: false))
        nextSerial += 1
        if let key { codingPath.append(key) }
        defer { if key != nil { codingPath.removeLast() } }
        try value.encode(to: self)
        closeFrames(downTo: depth)
    }

    func write(string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var mark = 0
            for (index, byte) in utf8.enumerated() {
                let escape: StaticString
                switch byte {
                case UInt8(ascii: "\""): escape = "\\\""
                case UInt8(ascii: "\\"): escape = "\\\\"
                case UInt8(ascii: "/") where escapingSlashes: escape = "\\/"
                case 0x08: escape = "\\b"
                case 0x0C: escape = "\\f"
                case 0x0A: escape = "\\n"
                case 0x0D: escape = "\\r"
                case 0x09: escape = "\\t"
                case 0x00..<0x20: escape = ""
                default: continue
                }
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[mark..<index]))
                if escape.utf8CodeUnitCount > 0 {
                    append(escape)
                } else {
                    append("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0x0F)])
                }
                mark = index + 1
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[mark...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private func append(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func write(members: [(key: String, value: String)]) {
        bytes.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            write(string: member.key)
            bytes.append(UInt8(ascii: ":"))
            write(string: member.value)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    func write(raw text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    func write<I: FixedWidthInteger>(integer: I) {
        bytes.append(contentsOf: String(integer).utf8)
    }

    func write<F: BinaryFloatingPoint & CustomStringConvertible>(float: F, key: (any CodingKey)?) throws {
        guard float.isFinite else {
            let name = float.isNaN ? "\(F.self).nan" : float < 0 ? "-\(F.self).infinity" : "\(F.self).infinity"
            throw EncodingError.invalidValue(
                float,
                .init(
                    codingPath: codingPath + (key.map { [$0] } ?? []),
                    debugDescription:
                        "Unable to encode \(name) directly in JSON. Use JSONEncoder.NonConformingFloatEncodingStrategy.convertToString to specify how the value should be encoded."
                ))
        }
        var text = float.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    // MARK: Frames

    /// Opens the container a value's `encode(to:)` asks for, on the frame that value opened.
    private func open(_ kind: Kind) -> Int? {
        guard let top = frames.last, !top.nested else {
            needsTree = true
            return nil
        }
        if top.kind == kind && kind == .keyed { return top.serial }  // asked again: the same object
        guard top.kind == .pending else {
            needsTree = true
            return nil
        }
        frames[frames.count - 1].kind = kind
        startContainer(kind, at: frames.count - 1)
        return top.serial
    }

    private func startContainer(_ kind: Kind, at index: Int) {
        switch kind {
        case .keyed:
            bytes.append(UInt8(ascii: "{"))
            frames[index].membersBase = members.count
        case .unkeyed:
            bytes.append(UInt8(ascii: "["))
        case .pending, .single:
            break
        }
    }

    /// Makes the frame `serial` the innermost one (ending nested containers opened after it)
    /// and counts one more member in it; false if that cannot be done in one pass.
    private func beginMember(of serial: Int) -> Bool {
        guard !needsTree else { return false }
        guard let index = frames.lastIndex(where: { $0.serial == serial }) else {
            needsTree = true
            return false
        }
        while frames.count - 1 > index {
            guard frames[frames.count - 1].nested else {
                needsTree = true
                return false
            }
            closeTop()
        }
        if frames[index].kind == .single {
            guard frames[index].count == 0 else {
                needsTree = true
                return false
            }
        } else if frames[index].count > 0 {
            bytes.append(UInt8(ascii: ","))
        }
        frames[index].count += 1
        return true
    }

    func beginMember(of serial: Int, key: String) -> Bool {
        guard beginMember(of: serial) else { return false }
        members.append((key, bytes.count))
        write(string: key)
        bytes.append(UInt8(ascii: ":"))
        return true
    }

    func beginElement(of serial: Int) -> Bool { beginMember(of: serial) }

    func beginSingle(of serial: Int) -> Bool { beginMember(of: serial) }

    func count(of serial: Int) -> Int {
        frames.last(where: { $0.serial == serial })?.count ?? 0
    }

    /// Opens a container as the member just begun.
    fileprivate func openNested(_ kind: Kind) -> Int {
        let child = nextSerial
        nextSerial += 1
        frames.append(Frame(kind: kind, serial: child, nested: true))
        startContainer(kind, at: frames.count - 1)
        return child
    }

    private func closeFrames(downTo depth: Int) {
        while frames.count > depth { closeTop() }
    }

    private func closeTop() {
        let frame = frames.removeLast()
        if frames.isEmpty && (frame.kind == .pending || (frame.kind == .single && frame.count == 0)) { rootWroteNothing = true }
        switch frame.kind {
        case .pending:
            // `encode(to:)` wrote nothing: `JSONEncoder` writes an empty object.
            append("{}")
        case .single:
            if frame.count == 0 { append("{}") }
        case .unkeyed:
            bytes.append(UInt8(ascii: "]"))
        case .keyed:
            sortMembers(from: frame.membersBase)
            members.removeSubrange(frame.membersBase...)
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Puts the members recorded from `base` (the last object's, which ends at the end of
    /// `bytes`) in the UTF-8 order of their keys, as `JSONEncoder` does.
    private func sortMembers(from base: Int) {
        guard members.count - base > 1 else { return }
        var order = Array(base..<members.count)
        order.sort { Self.precedes(members[$0].key, members[$1].key) }
        for (previous, next) in zip(order, order.dropFirst()) where members[previous].key == members[next].key {
            needsTree = true  // the same key twice: `JSONEncoder` keeps the last value
            return
        }
        if order.elementsEqual(base..<members.count) { return }
        let end = bytes.count
        // A member ends at the comma before the next one; the last one at the end.
        func range(ofMember index: Int) -> Range<Int> {
            members[index].start..<(index + 1 < members.count ? members[index + 1].start - 1 : end)
        }
        let first = members[base].start
        var sorted: [UInt8] = []
        sorted.reserveCapacity(end - first)
        for (position, index) in order.enumerated() {
            if position > 0 { sorted.append(UInt8(ascii: ",")) }
            sorted.append(contentsOf: bytes[range(ofMember: index)])
        }
        bytes.replaceSubrange(first..<end, with: sorted)
    }

    /// UTF-8 order, compared with `memcmp` where both keys are contiguous (native strings are).
    static func precedes(_ left: String, _ right: String) -> Bool {
        let compared = left.utf8.withContiguousStorageIfAvailable { l in
            right.utf8.withContiguousStorageIfAvailable { r in
                guard let lBase = l.baseAddress, let rBase = r.baseAddress else { return l.count < r.count }
                let common = memcmp(lBase, rBase, min(l.count, r.count))
                return common != 0 ? common < 0 : l.count < r.count
            }
        }
        return (compared ?? nil) ?? left.utf8.lexicographicallyPrecedes(right.utf8)
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedJSONStream<Key>(writer: self, serial: open(.keyed) ?? -1, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedJSONStream(writer: self, serial: open(.unkeyed) ?? -1, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueJSONStream(writer: self, serial: open(.single) ?? -1, codingPath: codingPath)
    }

    /// For `superEncoder()`: one pass cannot tell where its value ends, so `JSONEncoder` takes over.
    func encoderForSuper() -> any Encoder {
        needsTree = true
        return self
    }
}

private struct KeyedJSONStream<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let serial: Int
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { writer.write(raw: "null") }
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { writer.write(raw: value ? "true" : "false") }
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { writer.write(string: value) }
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { try writer.write(float: value, key: key) }
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { try writer.write(float: value, key: key) }
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }

    private func integer<I: FixedWidthInteger>(_ value: I, _ key: Key) {
        if writer.beginMember(of: serial, key: key.stringValue) { writer.write(integer: value) }
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if writer.beginMember(of: serial, key: key.stringValue) { try writer.encodeValue(value, key: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = writer.beginMember(of: serial, key: key.stringValue) ? writer.openNested(.keyed) : -1
        return KeyedEncodingContainer(KeyedJSONStream<NestedKey>(writer: writer, serial: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = writer.beginMember(of: serial, key: key.stringValue) ? writer.openNested(.unkeyed) : -1
        return UnkeyedJSONStream(writer: writer, serial: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { writer.encoderForSuper() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { writer.encoderForSuper() }
}

private struct UnkeyedJSONStream: UnkeyedEncodingContainer, IntegerValues {
    let writer: JSONStreamWriter
    let serial: Int
    var codingPath: [any CodingKey]
    var count: Int { writer.count(of: serial) }

    private struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String { "Index \(intValue ?? 0)" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    mutating func encodeNil() throws { if writer.beginElement(of: serial) { writer.write(raw: "null") } }
    mutating func encode(_ value: Bool) throws { if writer.beginElement(of: serial) { writer.write(raw: value ? "true" : "false") } }
    mutating func encode(_ value: String) throws { if writer.beginElement(of: serial) { writer.write(string: value) } }
    mutating func encode(_ value: Double) throws {
        let key = Index(count)
        if writer.beginElement(of: serial) { try writer.write(float: value, key: key) }
    }
    mutating func encode(_ value: Float) throws {
        let key = Index(count)
        if writer.beginElement(of: serial) { try writer.write(float: value, key: key) }
    }

    func integer<I: FixedWidthInteger>(_ value: I) {
        if writer.beginElement(of: serial) { writer.write(integer: value) }
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = Index(count)
        if writer.beginElement(of: serial) { try writer.encodeValue(value, key: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let key = Index(count)
        let child = writer.beginElement(of: serial) ? writer.openNested(.keyed) : -1
        return KeyedEncodingContainer(KeyedJSONStream<NestedKey>(writer: writer, serial: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = Index(count)
        let child = writer.beginElement(of: serial) ? writer.openNested(.unkeyed) : -1
        return UnkeyedJSONStream(writer: writer, serial: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { writer.encoderForSuper() }
}

private struct SingleValueJSONStream: SingleValueEncodingContainer, IntegerValues {
    let writer: JSONStreamWriter
    let serial: Int
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { if writer.beginSingle(of: serial) { writer.write(raw: "null") } }
    mutating func encode(_ value: Bool) throws { if writer.beginSingle(of: serial) { writer.write(raw: value ? "true" : "false") } }
    mutating func encode(_ value: String) throws { if writer.beginSingle(of: serial) { writer.write(string: value) } }
    mutating func encode(_ value: Double) throws { if writer.beginSingle(of: serial) { try writer.write(float: value, key: nil) } }
    mutating func encode(_ value: Float) throws { if writer.beginSingle(of: serial) { try writer.write(float: value, key: nil) } }

    func integer<I: FixedWidthInteger>(_ value: I) {
        if writer.beginSingle(of: serial) { writer.write(integer: value) }
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        if writer.beginSingle(of: serial) { try writer.encodeValue(value, key: nil) }
    }
}

/// The integer overloads the unkeyed and single-value containers share: each writes one value.
private protocol IntegerValues {
    func integer<I: FixedWidthInteger>(_ value: I)
}

extension IntegerValues {
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }
}
