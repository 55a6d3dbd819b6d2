import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension UUID {
    /// A new random (version 4) UUID. Foundation's `UUID()` opens, reads and closes
    /// `/dev/urandom` for every id on Linux (three system calls, several per request on hot
    /// paths); these come from a buffer the kernel's generator refills 4 KiB at a time.
    public static func random() -> UUID {
        var bytes = randomBytes.withLock { $0.take16() }
        bytes.6 = (bytes.6 & 0x0F) | 0x40  // version 4
        bytes.8 = (bytes.8 & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(uuid: bytes)
    }
}

private let randomBytes = Mutex(RandomBytes())

private struct RandomBytes: ~Copyable {
    private var buffer = [UInt8](repeating: 0, count: 4096)
    private var offset = 4096

    mutating func take16() -> uuid_t {
        if offset + 16 > buffer.count {
            Self.fill(&buffer)
            offset = 0
        }
        defer { offset += 16 }
        return buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: uuid_t.self) }
    }

    /// The kernel's generator, through `arc4random_buf` (glibc ≥ 2.36 asks `getrandom` for the
    /// whole buffer at once).
    private static func fill(_ buffer: inout [UInt8]) {
        buffer.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
    }
}
