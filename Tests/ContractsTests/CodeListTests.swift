import Domain
import Foundation
import Testing

/// The event schemas and the OpenAPI documents spell the code lists out as enums (so a consumer
/// or a fuzzer knows them); the domain's catalogues are the source. Every definition named for a
/// code list must list exactly its codes, in its order.
@Suite("Code lists in the contracts")
struct CodeListTests {
    static let lists: [String: [String]] = [
        "needCategory": NeedCategory.allCodes, "NeedCategoryCode": NeedCategory.allCodes,
        "lifeDomain": LifeDomain.allCodes, "LifeDomain": LifeDomain.allCodes,
        "interest": Interest.allCodes,
    ]

    @Test("every need category, life domain and interest enum of every contract is the domain's list")
    func enumsAreTheDomainLists() throws {
        let root = try Repository.root().appendingPathComponent("Shared/Contracts")
        var found: [String: Int] = [:]
        for folder in ["Schemas", "OpenAPI"] {
            let directory = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".json") {
                let document = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(file))) as? [String: Any]
                let definitions = [document?["$defs"], (document?["components"] as? [String: Any])?["schemas"]].compactMap { $0 as? [String: Any] }
                for definitions in definitions {
                    for (name, codes) in Self.lists {
                        guard let definition = definitions[name] as? [String: Any] else { continue }
                        #expect(definition["enum"] as? [String] == codes, "\(folder)/\(file): \(name)")
                        found[name, default: 0] += 1
                    }
                }
            }
        }
        // The check looks where the lists are: it must find them.
        #expect(found["needCategory", default: 0] >= 5 && found["NeedCategoryCode", default: 0] == 2)
        #expect(found["lifeDomain", default: 0] == 2 && found["LifeDomain", default: 0] == 1 && found["interest", default: 0] == 1)
    }

    @Test("typed interests: only codes of the list leave intake, normalised, each once")
    func interestsThatTravel() {
        #expect(
            Interests.codes(in: ["Walking", "Board  games", "board_games", "visiting Marc at Maison Bruyère", "tai chi", "", "walking"]) == [
                "walking", "board-games", "tai-chi",
            ])
        #expect(Interests.normalised("  Bird-Watching ") == "bird-watching")
        #expect(Interests.codes(in: ["bird watching"]).isEmpty, "not a code: birdwatching is")
    }
}
