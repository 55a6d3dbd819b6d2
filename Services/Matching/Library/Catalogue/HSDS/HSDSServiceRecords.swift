import Foundation

/// HSDS 3.x JSON: `/services` records, each with its organization, locations, schedules,
/// phones, languages and taxonomy terms nested. Records become the same tables a CSV package
/// has (so one reader and one set of reasons serve both), and tables become records again.
///
/// Accepted shapes: an array of service records, `{"contents": [...]}` (a page of the HSDS API)
/// or `{"services": [...]}`. Taxonomy terms come from `attributes[].taxonomy_term` (3.0) or
/// `taxonomy_terms[]`; a location from `service_at_locations[].location` or `locations[]`.
public enum HSDSServiceRecords {
    public struct InvalidDocument: Error, Sendable, CustomStringConvertible {
        public var problem: String
        public var description: String { "HSDS JSON: \(problem)" }
    }

    // MARK: Reading

    public static func package(json data: Data) throws(InvalidDocument) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw InvalidDocument(problem: "not JSON: \(error.localizedDescription)")
        }
        let records: [Any]
        if let array = object as? [Any] {
            records = array
        } else if let page = object as? [String: Any], let contents = (page["contents"] ?? page["services"]) as? [Any] {
            records = contents
        } else {
            throw InvalidDocument(problem: "expected an array of service records, or {\"contents\": [...]}")
        }
        var tables = Tables()
        var issues: [ImportIssue] = []
        for (index, element) in records.enumerated() {
            guard let service = element as? [String: Any] else {
                issues.append(ImportIssue(file: "services.json", row: index + 1, reason: "record \(index + 1) is not an object; left out"))
                continue
            }
            tables.add(service: service, position: index + 1)
        }
        return (HSDSDataPackage(tables: tables.built()), issues)
    }

    /// Flattens records into the CSV tables' rows; columns appear as values do.
    struct Tables {
        var rows: [String: [[String: String]]] = [:]
        var seenOrganisations = Set<String>(), seenLocations = Set<String>(), seenTerms = Set<String>()

        mutating func add(_ table: String, _ row: [String: String]) { rows[table, default: []].append(row) }

        static func text(_ value: Any?) -> String? {
            switch value {
            case let text as String: return text
            case let number as NSNumber:
                // JSON true/false arrive as NSNumber too, read back as 1/0 (yes/no columns take both).
                return number.stringValue
            default: return nil
            }
        }

        /// The scalar fields of an object, as text.
        static func scalars(_ object: [String: Any]) -> [String: String] {
            var row: [String: String] = [:]
            for (key, value) in object { if let text = text(value) { row[key.lowercased()] = text } }
            return row
        }

        static func objects(_ value: Any?) -> [[String: Any]] { (value as? [Any])?.compactMap { $0 as? [String: Any] } ?? [] }

        mutating func add(service: [String: Any], position: Int) {
            var row = Self.scalars(service)
            let serviceID = row["id"] ?? ""
            if serviceID.isEmpty { row["id"] = "" }
            // Passerelle's own list columns travel as arrays.
            for key in ["tags", "delivery"] {
                if let list = service[key] as? [Any] { row[key] = list.compactMap(Self.text).joined(separator: ";") }
            }
            if let organisation = service["organization"] as? [String: Any] {
                let fields = Self.scalars(organisation)
                if let id = fields["id"] {
                    row["organization_id"] = id
                    if seenOrganisations.insert(id).inserted { add("organizations", fields) }
                }
            }
            add("services", row)
            var locations = Self.objects(service["service_at_locations"]).compactMap { link -> [String: Any]? in link["location"] as? [String: Any] }
            locations += Self.objects(service["locations"])
            for (index, location) in locations.enumerated() {
                var fields = Self.scalars(location)
                let locationID = fields["id"] ?? "\(serviceID)-location-\(index + 1)"
                fields["id"] = locationID
                add("services_at_location", ["id": "\(serviceID)-at-\(locationID)", "service_id": serviceID, "location_id": locationID])
                guard seenLocations.insert(locationID).inserted else { continue }
                add("locations", fields)
                for (number, address) in (Self.objects(location["addresses"]) + Self.objects(location["physical_addresses"])).enumerated() {
                    var address = Self.scalars(address)
                    address["id"] = address["id"] ?? "\(locationID)-address-\(number + 1)"
                    address["location_id"] = locationID
                    add("physical_addresses", address)
                }
                for (number, feature) in Self.objects(location["accessibility"]).enumerated() {
                    let fields = Self.scalars(feature)
                    add(
                        "accessibility_for_disabilities",
                        [
                            "id": fields["id"] ?? "\(locationID)-accessibility-\(number + 1)", "location_id": locationID,
                            "accessibility": fields["accessibility"] ?? fields["description"] ?? "", "details": fields["details"] ?? "",
                        ])
                }
                for (number, language) in Self.objects(location["languages"]).enumerated() {
                    addLanguage(language, service: nil, location: locationID, number: number)
                }
                for (number, schedule) in Self.objects(location["schedules"]).enumerated() {
                    addSchedule(schedule, service: nil, location: locationID, number: number)
                }
            }
            for (number, phone) in Self.objects(service["phones"]).enumerated() {
                var fields = Self.scalars(phone)
                fields["id"] = fields["id"] ?? "\(serviceID)-phone-\(number + 1)"
                fields["service_id"] = serviceID
                add("phones", fields)
            }
            for (number, language) in Self.objects(service["languages"]).enumerated() {
                addLanguage(language, service: serviceID, location: nil, number: number)
            }
            for (number, schedule) in Self.objects(service["schedules"]).enumerated() {
                addSchedule(schedule, service: serviceID, location: nil, number: number)
            }
            var terms = Self.objects(service["attributes"]).compactMap { $0["taxonomy_term"] as? [String: Any] }
            terms += Self.objects(service["taxonomy_terms"])
            for (number, term) in terms.enumerated() {
                let fields = Self.scalars(term)
                guard let termID = fields["id"] ?? fields["code"] else { continue }
                if seenTerms.insert(termID).inserted { add("taxonomy", fields.merging(["id": termID]) { $1 }) }
                add("services_taxonomy", ["id": "\(serviceID)-term-\(number + 1)", "service_id": serviceID, "taxonomy_id": termID])
            }
            for (number, area) in Self.objects(service["service_areas"]).enumerated() {
                let fields = Self.scalars(area)
                add(
                    "service_area",
                    [
                        "id": fields["id"] ?? "\(serviceID)-area-\(number + 1)", "service_id": serviceID,
                        "service_area": fields["name"] ?? fields["service_area"] ?? fields["extent"] ?? "",
                    ])
            }
        }

        mutating func addLanguage(_ language: [String: Any], service: String?, location: String?, number: Int) {
            let fields = Self.scalars(language)
            let owner = service ?? location ?? ""
            add(
                "languages",
                [
                    "id": fields["id"] ?? "\(owner)-language-\(number + 1)", "service_id": service ?? "", "location_id": location ?? "",
                    "language": fields["code"] ?? fields["name"] ?? fields["language"] ?? "",
                ])
        }

        mutating func addSchedule(_ schedule: [String: Any], service: String?, location: String?, number: Int) {
            var fields = Self.scalars(schedule)
            let owner = service ?? location ?? ""
            fields["id"] = fields["id"] ?? "\(owner)-schedule-\(number + 1)"
            fields["service_id"] = service ?? ""
            fields["location_id"] = location ?? ""
            add("regular_schedules", fields)
        }

        func built() -> [String: CSVTable] {
            var tables: [String: CSVTable] = [:]
            for (name, rows) in rows {
                var columns: [String] = []
                for row in rows { for key in row.keys.sorted() where !columns.contains(key) { columns.append(key) } }
                if let id = columns.firstIndex(of: "id") { columns.swapAt(0, id) }
                tables[name] = CSVTable(columns: columns, records: rows.map { row in columns.map { row[$0] ?? "" } })
            }
            return tables
        }
    }

    // MARK: Writing

    /// The package's services as HSDS 3 records, nested as `package(json:)` reads them.
    public static func records(_ package: HSDSDataPackage) -> [[String: Any]] {
        func rows(_ table: String, by column: String) -> (table: CSVTable, rows: [String: [[String]]]) {
            let table = package.tables[table] ?? CSVTable(columns: [])
            var grouped: [String: [[String]]] = [:]
            for record in table.records { if let key = table.value(column, in: record) { grouped[key, default: []].append(record) } }
            return (table, grouped)
        }
        func object(_ table: CSVTable, _ record: [String], leaving: Set<String> = []) -> [String: Any] {
            var object: [String: Any] = [:]
            for column in table.columns where !leaving.contains(column) { if let value = table.value(column, in: record) { object[column] = value } }
            return object
        }
        let organisations = rows("organizations", by: "id")
        let locations = rows("locations", by: "id")
        let links = rows("services_at_location", by: "service_id")
        let addresses = rows("physical_addresses", by: "location_id")
        let accessibility = rows("accessibility_for_disabilities", by: "location_id")
        let phones = rows("phones", by: "service_id")
        let languages = rows("languages", by: "service_id")
        let schedules = rows("regular_schedules", by: "service_id")
        let terms = rows("taxonomy", by: "id")
        let serviceTerms = rows("services_taxonomy", by: "service_id")
        let areas = rows("service_area", by: "service_id")
        let eligibility = rows("eligibility", by: "service_id")
        guard let services = package.tables["services"] else { return [] }
        return services.records.map { record -> [String: Any] in
            var service = object(services, record, leaving: ["organization_id", "tags", "delivery"])
            let id = services.value("id", in: record) ?? ""
            for key in ["tags", "delivery"] { if let list = services.value(key, in: record) { service[key] = HSDSReader.list(list) } }
            if let organisation = services.value("organization_id", in: record) {
                // A missing organization stays missing (an id alone), to be reviewed again.
                if let row = organisations.rows[organisation]?.first {
                    service["organization"] = object(organisations.table, row)
                } else {
                    service["organization_id"] = organisation
                }
            }
            service["service_at_locations"] = (links.rows[id] ?? []).compactMap { link -> [String: Any]? in
                guard let locationID = links.table.value("location_id", in: link), let location = locations.rows[locationID]?.first else { return nil }
                var nested = object(locations.table, location)
                nested["addresses"] = (addresses.rows[locationID] ?? []).map { object(addresses.table, $0, leaving: ["location_id"]) }
                nested["accessibility"] = (accessibility.rows[locationID] ?? []).map { object(accessibility.table, $0, leaving: ["location_id"]) }
                return ["id": links.table.value("id", in: link) ?? "\(id)-at-\(locationID)", "location": nested]
            }
            service["phones"] = (phones.rows[id] ?? []).map {
                object(phones.table, $0, leaving: ["service_id", "location_id", "organization_id", "contact_id", "service_at_location_id"])
            }
            service["languages"] = (languages.rows[id] ?? []).map { row -> [String: Any] in
                ["id": languages.table.value("id", in: row) ?? "", "code": languages.table.value("language", in: row) ?? ""]
            }
            service["schedules"] = (schedules.rows[id] ?? []).map { row -> [String: Any] in
                var schedule = object(schedules.table, row, leaving: ["service_id", "location_id", "service_at_location_id", "weekday"])
                if let day = schedules.table.value("weekday", in: row), let number = HSDSReader.weekday(day) {
                    schedule["byday"] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][number - 1]
                }
                return schedule
            }
            service["attributes"] = (serviceTerms.rows[id] ?? []).compactMap { link -> [String: Any]? in
                guard let termID = serviceTerms.table.value("taxonomy_id", in: link) else { return nil }
                let term = terms.rows[termID]?.first.map { object(terms.table, $0, leaving: ["parent_name"]) } ?? ["id": termID]
                return ["id": serviceTerms.table.value("id", in: link) ?? termID, "taxonomy_term": term]
            }
            service["service_areas"] = (areas.rows[id] ?? []).map { row -> [String: Any] in
                ["id": areas.table.value("id", in: row) ?? "", "name": areas.table.value("service_area", in: row) ?? ""]
            }
            let notes = (eligibility.rows[id] ?? []).compactMap { eligibility.table.value("eligibility", in: $0) }
            if !notes.isEmpty {
                service["eligibility_description"] = ([service["eligibility_description"] as? String].compactMap { $0 } + notes).joined(separator: "; ")
            }
            return service
        }
    }

    /// `{"contents": [...], "total_items": n}`, as a page of the HSDS API, keys sorted.
    public static func json(_ package: HSDSDataPackage) throws -> Data {
        let records = records(package)
        return try JSONSerialization.data(withJSONObject: ["total_items": records.count, "contents": records], options: [.sortedKeys, .prettyPrinted])
    }
}
