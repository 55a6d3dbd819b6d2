import Domain
import Foundation

/// A community resource read from an HSDS service, with the HSDS ids it came from (re-imports
/// find it again by them).
public struct HSDSResource: Sendable, Equatable {
    public var resource: CommunityResource
    public var serviceID: String
    public var organisationID: String?
    public var locationID: String?
    /// The organisation row was missing: the resource stands under a placeholder until reviewed.
    public var placeholderOrganisation = false
    /// Language values that name no ISO 639 language, kept as written for review.
    public var unreadLanguages: [String] = []
    /// The crosswalk rules that gave the need categories (or decided there is none).
    public var taxonomyRules: [String] = []
    /// Why a coordinator should look at it (empty when nothing is in doubt).
    public var review: [String] = []
}

/// Turns HSDS tables into community resources. Real directories are messy, and nothing is
/// dropped silently: a row that cannot be used is reported (file, row, reason) and left out; a
/// service that can be imported but has something in doubt is imported and reported for review
/// — no need category (uncategorised), its organization row missing (a placeholder
/// organisation), a language value that names no language (kept as written).
///
/// One resource per service. Columns beyond HSDS 2.0 on services.csv, written by the export
/// and optional on import: `kind`, `tags` and `delivery` (`;`-separated), `seats`,
/// `waitlist_allowed`, `schedule` (text shown to people). HSDS 3.0 column names are read too
/// (`minimum_age`/`maximum_age`, `fees_description`, `assured_date`, `byday`, taxonomy `code`).
/// regular_schedules' days are the weekdays, and their `opens_at`/`closes_at` the opening hours
/// of each (a time that is none is reported and its hours left out).
public struct HSDSReader: Sendable {
    public var mapping: TaxonomyMapping

    public init(mapping: TaxonomyMapping) {
        self.mapping = mapping
    }

    /// Rows of one table grouped by a key column, each with its row number.
    private struct Grouped {
        var table: CSVTable
        var rows: [String: [(row: Int, record: [String])]] = [:]

        init(_ table: CSVTable?, by column: String) {
            self.table = table ?? CSVTable(columns: [])
            for (index, record) in self.table.records.enumerated() {
                if let key = self.table.value(column, in: record) { rows[key, default: []].append((self.table.rowNumber(index), record)) }
            }
        }

        subscript(key: String?) -> [(row: Int, record: [String])] { key.flatMap { rows[$0] } ?? [] }
    }

    /// What a package reads to: the resources, the rows left out (`issues`) and the rows
    /// imported with something for a coordinator to review (`reviewed`), each with its reason.
    public struct Reading: Sendable {
        public var resources: [HSDSResource]
        public var issues: [ImportIssue]
        public var reviewed: [ImportIssue]
    }

    /// How a placeholder organisation is named (people read it in the console).
    static func placeholderOrganisation(_ id: String?) -> String {
        id.map { "Organisation à vérifier (\($0.prefix(80)))" } ?? "Organisation à vérifier"
    }

    /// A language value that names no language is kept as written, up to this many characters.
    static let maximumFreeTextLanguage = 200

    /// `checkingLinks` false leaves out the check that linked rows name a service of the package
    /// (a batch of a larger directory holds rows of services in other batches; that check is
    /// made once over the whole directory instead).
    public func read(_ package: HSDSDataPackage, checkingLinks: Bool = true) -> Reading {
        var issues: [ImportIssue] = []
        var reviewed: [ImportIssue] = []
        guard let services = package.tables["services"] else {
            return Reading(
                resources: [], issues: [ImportIssue(file: "services.csv", row: 0, reason: "the package has no services table; nothing was imported")],
                reviewed: [])
        }
        let organisations = Grouped(package.tables["organizations"], by: "id")
        let locations = Grouped(package.tables["locations"], by: "id")
        let servicesAtLocation = Grouped(package.tables["services_at_location"], by: "service_id")
        let addresses = Grouped(package.tables["physical_addresses"], by: "location_id")
        let phonesByService = Grouped(package.tables["phones"], by: "service_id")
        let phonesByLocation = Grouped(package.tables["phones"], by: "location_id")
        let languagesByService = Grouped(package.tables["languages"], by: "service_id")
        let languagesByLocation = Grouped(package.tables["languages"], by: "location_id")
        let schedulesByService = Grouped(package.tables["regular_schedules"], by: "service_id")
        let schedulesByLocation = Grouped(package.tables["regular_schedules"], by: "location_id")
        let eligibility = Grouped(package.tables["eligibility"], by: "service_id")
        let taxonomy = Grouped(package.tables["taxonomy"], by: "id")
        let servicesTaxonomy = Grouped(package.tables["services_taxonomy"], by: "service_id")
        let accessibility = Grouped(package.tables["accessibility_for_disabilities"], by: "location_id")
        let areas = Grouped(package.tables["service_area"], by: "service_id")

        // Rows that point at a service, location or term that is not in the package.
        let serviceIDs = Set(services.records.compactMap { services.value("id", in: $0) })
        for (name, grouped) in [
            ("services_at_location", servicesAtLocation), ("phones", phonesByService), ("languages", languagesByService),
            ("regular_schedules", schedulesByService), ("eligibility", eligibility), ("services_taxonomy", servicesTaxonomy),
            ("service_area", areas),
        ] {
            for (service, rows) in grouped.rows where checkingLinks && !serviceIDs.contains(service) {
                for row in rows { issues.append(.init(file: "\(name).csv", row: row.row, reason: "service_id \"\(service)\" is not in services.csv")) }
            }
        }
        // Each term is resolved once, however many services carry it. A term missing from
        // taxonomy.csv is still read by its id, which 211 exports make the taxonomy code.
        let resolver = mapping.resolver()
        struct ResolvedTerm {
            var name: String  // code and name, for reasons
            var label: String  // the name alone, for eligibility notes
            var resolution: TaxonomyMapping.Resolution?
            var listed: Bool
        }
        var resolvedTerms: [String: ResolvedTerm] = [:]
        func resolvedTerm(_ id: String, detail: String?) -> ResolvedTerm {
            if let known = resolvedTerms[id] { return known }
            let found: ResolvedTerm
            if let term = taxonomy[id].first {
                let table = taxonomy.table
                let code = table.value("code", in: term.record)
                let name = table.value(["name", "term"], in: term.record)
                found = ResolvedTerm(
                    name: [code, name].compactMap { $0 }.joined(separator: " ").nonEmpty ?? id, label: name ?? code ?? id,
                    resolution: resolver.resolve(id: id, code: code, name: name), listed: true)
            } else {
                found = ResolvedTerm(
                    name: [id, detail].compactMap { $0 }.joined(separator: " "), label: detail ?? id,
                    resolution: resolver.resolve(id: id, code: nil, name: detail), listed: false)
            }
            resolvedTerms[id] = found
            return found
        }
        for (service, rows) in servicesTaxonomy.rows where serviceIDs.contains(service) {
            for row in rows {
                guard let term = servicesTaxonomy.table.value(["taxonomy_id", "taxonomy_term_id"], in: row.record) else {
                    issues.append(.init(file: "services_taxonomy.csv", row: row.row, reason: "no taxonomy_id; the link was left out"))
                    continue
                }
                let resolved = resolvedTerm(term, detail: servicesTaxonomy.table.value("taxonomy_detail", in: row.record))
                if !resolved.listed {
                    let outcome = resolved.resolution.map { "read by its id as \($0.rule)" } ?? "and its id matches no crosswalk rule"
                    reviewed.append(.init(file: "services_taxonomy.csv", row: row.row, reason: "taxonomy_id \"\(term)\" is not in taxonomy.csv, \(outcome)"))
                }
            }
        }

        var seen: [String: Int] = [:]
        var resources: [HSDSResource] = []
        for (index, record) in services.records.enumerated() {
            let row = services.rowNumber(index)
            func skip(_ reason: String) { issues.append(.init(file: "services.csv", row: row, reason: reason + "; the service was not imported")) }
            guard let serviceID = services.value("id", in: record) else {
                skip("no id")
                continue
            }
            if let first = seen[serviceID] {
                skip("id \"\(serviceID)\" repeats row \(first)")
                continue
            }
            seen[serviceID] = row
            guard let name = services.value("name", in: record) else {
                skip("no name")
                continue
            }

            var review: [String] = []

            // Organisation: a missing row puts the service under a placeholder, for review.
            let organisationID = services.value("organization_id", in: record)
            var organisationName = ""
            var placeholder = false
            if let organisationID, let organisation = organisations[organisationID].first {
                organisationName = organisations.table.value("name", in: organisation.record) ?? ""
            } else {
                placeholder = true
                organisationName = Self.placeholderOrganisation(organisationID)
                let reason = organisationID.map { "organization_id \"\($0)\" is not in organizations.csv" } ?? "no organization_id"
                review.append("\(reason): imported under the placeholder organisation \"\(organisationName)\"")
            }

            // Need categories from the taxonomy: each term's most specific rule.
            var termNames: [String] = []
            var unmapped: [String] = []
            var categories: [String] = []
            var populations: [String] = []
            var rules: [String] = []
            for link in servicesTaxonomy[serviceID] {
                guard let termID = servicesTaxonomy.table.value(["taxonomy_id", "taxonomy_term_id"], in: link.record) else { continue }
                let resolved = resolvedTerm(termID, detail: servicesTaxonomy.table.value("taxonomy_detail", in: link.record))
                termNames.append(resolved.name)
                guard let resolution = resolved.resolution else {
                    unmapped.append(resolved.name)
                    continue
                }
                if !rules.contains(resolution.rule) { rules.append(resolution.rule) }
                if resolution.targetPopulation {
                    if !populations.contains(resolved.label) { populations.append(resolved.label) }
                } else if resolution.categories.isEmpty {
                    unmapped.append("\(resolved.name) (\(resolution.rule): no need category)")
                }
                categories += resolution.categories.filter { !categories.contains($0) }
            }
            categories = NeedCategory.allCodes.filter(categories.contains)
            if categories.isEmpty {
                let why =
                    termNames.isEmpty
                    ? "no taxonomy term (services_taxonomy.csv)"
                    : unmapped.isEmpty
                        ? "only target-population terms (\(populations.joined(separator: ", ")))"
                        : "no term maps to a need category (terms: \(unmapped.joined(separator: "; ")))"
                review.append("uncategorised: \(why); searchable, never proposed by automatic matching")
            }

            // Place: the first location (a resource has one place; others are reported).
            let placed = servicesAtLocation[serviceID].compactMap { link -> (row: Int, id: String)? in
                servicesAtLocation.table.value("location_id", in: link.record).map { (link.row, $0) }
            }
            var locationID: String?
            var location: [String]?
            for link in placed {
                guard let found = locations[link.id].first else {
                    issues.append(.init(file: "services_at_location.csv", row: link.row, reason: "location_id \"\(link.id)\" is not in locations.csv"))
                    continue
                }
                if locationID == nil {
                    (locationID, location) = (link.id, found.record)
                } else {
                    issues.append(
                        .init(
                            file: "services_at_location.csv", row: link.row,
                            reason: "service \"\(serviceID)\" is already placed at location \"\(locationID!)\"; a resource has one place, this one was left out"
                        ))
                }
            }
            var coordinates: Coordinates?
            var virtualLocation = false
            if let location {
                let table = locations.table
                virtualLocation = table.value("location_type", in: location)?.lowercased() == "virtual"
                if let latitude = table.value("latitude", in: location), let longitude = table.value("longitude", in: location) {
                    if let lat = Double(latitude), let lon = Double(longitude), let point = try? Coordinates(latitude: lat, longitude: lon) {
                        coordinates = point
                    } else {
                        issues.append(
                            .init(
                                file: "locations.csv", row: locations[locationID].first!.row,
                                reason: "latitude/longitude \"\(latitude)\", \"\(longitude)\" are not coordinates; the location has none"))
                    }
                }
            }
            let address = addresses[locationID].first.flatMap { entry -> String? in
                let table = addresses.table
                let street = ["address_1", "address_2"].compactMap { table.value($0, in: entry.record) }.joined(separator: ", ")
                let region = [table.value(["state_province", "region"], in: entry.record), table.value("postal_code", in: entry.record)]
                    .compactMap { $0 }.joined(separator: " ")
                let parts = [street, table.value("city", in: entry.record) ?? "", region].filter { !$0.isEmpty }
                return parts.isEmpty ? nil : parts.joined(separator: ", ")
            }

            // Contact and delivery.
            let phone = (phonesByService[serviceID] + phonesByLocation[locationID]).lazy.compactMap { phonesByService.table.value("number", in: $0.record) }
                .first
            let email = services.value("email", in: record)
            let url = services.value("url", in: record)
            var delivery: [CommunityResource.Delivery] = []
            if let listed = services.value("delivery", in: record) {
                var unknown: [String] = []
                for part in Self.list(listed) {
                    if let mode = CommunityResource.Delivery(rawValue: part.lowercased()) { delivery.append(mode) } else { unknown.append(part) }
                }
                guard unknown.isEmpty else {
                    skip("delivery \"\(unknown.joined(separator: ";"))\" is not in-person, virtual or phone")
                    continue
                }
            } else if location != nil {
                delivery = [virtualLocation ? .virtual : .inPerson]
            } else if phone != nil {
                delivery = [.phone]
            } else if url != nil {
                delivery = [.virtual]
            }
            guard !delivery.isEmpty else {
                skip("no location, phone or web address: cannot tell how it is delivered")
                continue
            }

            // Languages (codes; common names are understood).
            var languages: [String] = []
            var unreadLanguages: [String] = []
            for entry in languagesByService[serviceID] + languagesByLocation[locationID] {
                let table = languagesByService.table
                guard let text = table.value(["language", "code", "name"], in: entry.record) else { continue }
                guard let codes = ISO639.codes(text) else {
                    let kept = String(text.prefix(Self.maximumFreeTextLanguage))
                    if !unreadLanguages.contains(kept) { unreadLanguages.append(kept) }
                    reviewed.append(
                        .init(
                            file: "languages.csv", row: entry.row,
                            reason: "\"\(kept)\" is no ISO 639 language code or English or French name; kept as free text for review"))
                    continue
                }
                for code in codes where !languages.contains(code) { languages.append(code) }
            }
            if !unreadLanguages.isEmpty { review.append("languages not read: \(unreadLanguages.map { "\"\($0)\"" }.joined(separator: ", "))") }
            if languages.isEmpty { languages = ["en"] }  // HSDS lists languages other than English

            // Schedule.
            var weekdays: [Int] = []
            var openingHours: [CommunityResource.OpeningHours] = []
            var times: [String] = []
            for entry in schedulesByService[serviceID] + schedulesByLocation[locationID] {
                let table = schedulesByService.table
                let days = (table.value("weekday", in: entry.record).map { [$0] } ?? table.value("byday", in: entry.record).map(Self.list) ?? [])
                var parsed: [Int] = []
                for day in days {
                    guard let number = Self.weekday(day) else {
                        issues.append(
                            .init(file: "regular_schedules.csv", row: entry.row, reason: "weekday \"\(day)\" is not a day (1 = Monday … 7, or a name)"))
                        continue
                    }
                    parsed.append(number)
                }
                for day in parsed where !weekdays.contains(day) { weekdays.append(day) }
                if let opens = table.value("opens_at", in: entry.record), let closes = table.value("closes_at", in: entry.record) {
                    let days = parsed.map { Self.dayNames[$0 - 1] }.joined(separator: ", ")
                    times.append((days.isEmpty ? "" : days + " ") + Self.clock(opens) + "–" + Self.clock(closes))
                    if let opensAt = Self.time(opens), let closesAt = Self.time(closes) {
                        for day in parsed {
                            let hours = CommunityResource.OpeningHours(weekday: day, opensAt: opensAt, closesAt: closesAt)
                            if !openingHours.contains(hours) { openingHours.append(hours) }
                        }
                    } else {
                        issues.append(
                            .init(
                                file: "regular_schedules.csv", row: entry.row,
                                reason: "opens_at \"\(opens)\" or closes_at \"\(closes)\" is no time of day (HH:MM); the opening hours were left out"))
                    }
                }
            }
            weekdays.sort()
            openingHours.sort { ($0.weekday, $0.opensAt, $0.closesAt) < ($1.weekday, $1.opensAt, $1.closesAt) }
            // A `schedule` column (the export writes one) is the text, even when empty.
            let schedule =
                services.hasColumn("schedule")
                ? services.value("schedule", in: record)
                : (times.isEmpty ? (weekdays.isEmpty ? nil : weekdays.map { Self.dayNames[$0 - 1] }.joined(separator: ", ")) : times.joined(separator: "; "))

            // Eligibility: HSDS 3.0 ages on the service, or age columns beside the eligibility text.
            var minimumAge: Int?
            var maximumAge: Int?
            var notes: [String] = []
            if let text = services.value("eligibility_description", in: record) { notes.append(text) }
            if !populations.isEmpty { notes.append("Populations cibles : " + populations.joined(separator: "; ")) }
            var badAge: String?
            func age(_ text: String?) -> Int? {
                guard let text else { return nil }
                guard let value = Int(text), (0...130).contains(value) else {
                    badAge = text
                    return nil
                }
                return value
            }
            minimumAge = age(services.value("minimum_age", in: record))
            maximumAge = age(services.value("maximum_age", in: record))
            for entry in eligibility[serviceID] {
                if let text = eligibility.table.value("eligibility", in: entry.record) { notes.append(text) }
                minimumAge = minimumAge ?? age(eligibility.table.value("minimum_age", in: entry.record))
                maximumAge = maximumAge ?? age(eligibility.table.value("maximum_age", in: entry.record))
            }
            if let badAge {
                skip("age \"\(badAge)\" is not a whole number of years")
                continue
            }
            let postalAreas = areas[serviceID].compactMap { areas.table.value("service_area", in: $0.record) }.map { $0.uppercased() }

            // Capacity and the columns Passerelle adds.
            var seats: Int?
            if let text = services.value("seats", in: record) {
                guard let value = Int(text), value >= 0 else {
                    skip("seats \"\(text)\" is not a whole number")
                    continue
                }
                seats = value
            }
            let waitlist = services.value("waitlist_allowed", in: record).map(Self.isYes) ?? false
            var kind = CommunityResource.Kind.externalPartner
            if let text = services.value("kind", in: record) {
                guard let parsed = CommunityResource.Kind(rawValue: text) else {
                    skip("kind \"\(text)\" is not internal-program, health-champion-group or external-partner")
                    continue
                }
                kind = parsed
            }
            let status = services.value("status", in: record)?.lowercased() ?? "active"
            guard ["active", "inactive", "defunct", "temporarily closed"].contains(status) else {
                skip("status \"\(status)\" is not active, inactive, defunct or temporarily closed")
                continue
            }
            let verified = services.value(["assured_date", "last_verified"], in: record).flatMap { try? CalendarDate(String($0.prefix(10))) }
            let accessible = accessibility[locationID].compactMap { accessibility.table.value("accessibility", in: $0.record) }

            do {
                let resource = try CommunityResource(
                    id: Self.resourceID(serviceID: serviceID), organisation: organisationName, name: name, kind: kind,
                    categories: categories.map { try NeedCategory(code: $0) }, description: services.value("description", in: record) ?? "",
                    languages: languages, interpretationAvailable: services.value("interpretation_services", in: record).map(Self.isYes) ?? false,
                    delivery: delivery, address: address, coordinates: coordinates, schedule: schedule,
                    weekdays: weekdays, openingHours: openingHours,
                    eligibility: .init(
                        minimumAge: minimumAge, maximumAge: maximumAge, areas: postalAreas, notes: notes.isEmpty ? nil : notes.joined(separator: "; ")),
                    cost: services.value(["fees_description", "fees"], in: record), accessibility: accessible,
                    capacity: .init(seats: seats, waitlistAllowed: waitlist), tags: services.value("tags", in: record).map(Self.list) ?? [],
                    contact: phone ?? email ?? url, active: status == "active", lastVerified: verified)
                resources.append(
                    HSDSResource(
                        resource: resource, serviceID: serviceID, organisationID: organisationID, locationID: locationID,
                        placeholderOrganisation: placeholder, unreadLanguages: unreadLanguages, taxonomyRules: rules, review: review))
                for reason in review where !reason.hasPrefix("languages not read") {
                    reviewed.append(.init(file: "services.csv", row: row, reason: reason))
                }
            } catch {
                skip("\(error)")
            }
        }
        issues.sort { ($0.file, $0.row) < ($1.file, $1.row) }
        reviewed.sort { ($0.file, $0.row) < ($1.file, $1.row) }
        return Reading(resources: resources, issues: issues, reviewed: reviewed)
    }

    // MARK: - Values

    /// The resource id for an HSDS service id: the id itself when it is a UUID (HSDS 3.0),
    /// otherwise a UUID derived from it, so re-importing finds the same resource.
    public static func resourceID(serviceID: String) -> UUID {
        if let uuid = UUID(uuidString: serviceID) { return uuid }
        // Two 64-bit FNV-1a hashes with different offsets: stable across runs and platforms.
        func fnv(_ offset: UInt64) -> UInt64 {
            var hash = offset
            for byte in "hsds-service:\(serviceID)".utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            return hash
        }
        let high = fnv(0xcbf2_9ce4_8422_2325)
        let low = fnv(0x8422_2325_cbf2_9ce4)
        var bytes = withUnsafeBytes(of: high.bigEndian, Array.init) + withUnsafeBytes(of: low.bigEndian, Array.init)
        bytes[6] = (bytes[6] & 0x0f) | 0x80  // version 8: custom
        bytes[8] = (bytes[8] & 0x3f) | 0x80  // RFC 4122 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    static func list(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == ";" || $0 == "," }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func isYes(_ text: String) -> Bool {
        !["", "no", "none", "false", "0", "n", "non"].contains(text.lowercased().trimmingCharacters(in: .whitespaces))
    }

    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// 1 = Monday … 7 = Sunday, from a number or an English/French name or RFC 5545 code.
    static func weekday(_ text: String) -> Int? {
        if let number = Int(text) { return (1...7).contains(number) ? number : nil }
        let names: [[String]] = [
            ["mo", "mon", "monday", "lundi"], ["tu", "tue", "tuesday", "mardi"], ["we", "wed", "wednesday", "mercredi"],
            ["th", "thu", "thursday", "jeudi"], ["fr", "fri", "friday", "vendredi"], ["sa", "sat", "saturday", "samedi"],
            ["su", "sun", "sunday", "dimanche"],
        ]
        let lowered = text.lowercased()
        return names.firstIndex { $0.contains(lowered) }.map { $0 + 1 }
    }

    /// A time of day as stored ("HH:MM"): "9:00", "09:00:00" and "09:00:00-05:00" (HSDS
    /// times may carry seconds and an offset, dropped: hours are the place's local time) are
    /// 09:00; the end of the day, "24:00", is midnight, 00:00. Nil for anything else.
    static func time(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let clock = trimmed.prefix { $0 != "+" && $0 != "-" && $0 != "Z" }
        let parts = clock.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), (1...2).contains(parts[0].count), parts[1].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0 == "." || ("0"..."9").contains($0) } }), !parts[0].contains("."), !parts[1].contains("."),
            let hours = Int(parts[0]), let minutes = Int(parts[1])
        else { return nil }
        if hours == 24 && minutes == 0 { return "00:00" }
        let time = (hours < 10 ? "0" : "") + "\(hours):" + parts[1]
        return CommunityResource.OpeningHours.isClock(time) ? time : nil
    }

    /// "10:00:00" → "10:00".
    static func clock(_ text: String) -> String {
        let parts = text.split(separator: ":")
        return parts.count >= 2 ? "\(parts[0]):\(parts[1])" : text
    }
}

extension String {
    /// The text, or nil when it is empty.
    var nonEmpty: String? { isEmpty ? nil : self }
}
