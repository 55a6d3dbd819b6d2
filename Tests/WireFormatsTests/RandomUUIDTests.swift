import Foundation
import Testing
import WireFormats

@Suite("Random UUIDs")
struct RandomUUIDTests {
    @Test("version 4 with the RFC variant, all distinct, across buffer refills and threads")
    func versionAndUniqueness() async throws {
        // 4 tasks × 2,000 ids: far more than one 4 KiB buffer (256 ids) holds.
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<4 { group.addTask { (0..<2_000).map { _ in UUID.random() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(ids.count == 8_000)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.uuid.6 >> 4 == 4)
            #expect(id.uuid.8 >> 6 == 0b10)
        }
        // Each of the 122 random bits varies: none is stuck at 0 or 1 over 8,000 ids.
        var ones = [Int](repeating: 0, count: 128)
        for id in ids {
            withUnsafeBytes(of: id.uuid) { bytes in
                for bit in 0..<128 where bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 { ones[bit] += 1 }
            }
        }
        let fixed: Set<Int> = [48, 49, 50, 51, 64, 65]  // version and variant bits
        for bit in 0..<128 where !fixed.contains(bit) {
            #expect((3_400...4_600).contains(ones[bit]), "bit \(bit) set in \(ones[bit]) of 8,000 ids")
        }
        // The text form is the usual one.
        #expect(UUID(uuidString: UUIDText.format(ids[0])) == ids[0])
    }
}
