import Domain
import Foundation

/// Where a postal area (the first three characters of a postal code) lies, for clients referred
/// without coordinates: distance is then measured from their area's centroid. Read from a CSV
/// file `area,latitude,longitude` (PASSERELLE_MATCHING_POSTAL_AREAS); deploy/matching/postal-areas.csv
/// has approximate centroids for the demo region, and a deployment brings its own (for Canada,
/// from Statistics Canada's forward sortation area boundaries).
struct PostalAreaCentroids: Sendable {
    static let variable = "PASSERELLE_MATCHING_POSTAL_AREAS"

    private var centroids: [String: Coordinates] = [:]

    init(_ centroids: [String: Coordinates] = [:]) {
        self.centroids = centroids
    }

    subscript(area: String?) -> Coordinates? {
        area.flatMap { centroids[$0.uppercased()] }
    }

    /// The file's centroids, and a problem for each row that cannot be used (with its line).
    static func load(path: String) -> (centroids: PostalAreaCentroids, problems: [String]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return (PostalAreaCentroids(), ["\(variable): cannot read \(path)"])
        }
        var centroids: [String: Coordinates] = [:]
        var problems: [String] = []
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3, !fields[0].isEmpty, let latitude = Double(fields[1]), let longitude = Double(fields[2]),
                let point = try? Coordinates(latitude: latitude, longitude: longitude)
            else {
                problems.append("\(variable): \(path) line \(index + 1) is not area,latitude,longitude")
                continue
            }
            centroids[fields[0].uppercased()] = point
        }
        return (PostalAreaCentroids(centroids), problems)
    }
}
