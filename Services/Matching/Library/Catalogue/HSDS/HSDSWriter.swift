import Domain
import Foundation

/// Writes the catalogue as HSDS 2.0 tables that `HSDSReader` reads back to the same
/// resources: need categories as taxonomy terms named by their code, the address whole in
/// `address_1`, the contact as a phone, e-mail or web address, and what HSDS has no column for
/// in the extra service columns (kind, tags, seats, waitlist_allowed, delivery, schedule).
/// Row ids are derived from the service id, so exporting twice gives the same files.
public struct HSDSWriter: Sendable {
    public init() {}

    public func write(_ resources: [HSDSResource]) -> HSDSDataPackage {
        var organizations = CSVTable(columns: ["id", "name", "description", "email", "url"])
        var services = CSVTable(columns: [
            "id", "organization_id", "program_id", "name", "alternate_name", "description", "url", "email", "status", "interpretation_services",
            "application_process", "wait_time", "fees", "accreditations", "licenses", "eligibility_description", "minimum_age", "maximum_age",
            "assured_date", "kind", "tags", "seats", "waitlist_allowed", "delivery", "schedule",
        ])
        var locations = CSVTable(columns: [
            "id", "organization_id", "name", "alternate_name", "description", "transportation", "latitude", "longitude", "location_type",
        ])
        var servicesAtLocation = CSVTable(columns: ["id", "service_id", "location_id", "description"])
        var addresses = CSVTable(columns: [
            "id", "location_id", "attention", "address_1", "address_2", "address_3", "address_4", "city", "region", "state_province", "postal_code", "country",
        ])
        var phones = CSVTable(columns: [
            "id", "location_id", "service_id", "organization_id", "contact_id", "service_at_location_id", "number", "extension", "type", "language",
            "description",
        ])
        var languages = CSVTable(columns: ["id", "service_id", "location_id", "language"])
        var schedules = CSVTable(columns: ["id", "service_id", "location_id", "service_at_location_id", "weekday", "opens_at", "closes_at"])
        var eligibility = CSVTable(columns: ["id", "service_id", "eligibility"])
        var taxonomy = CSVTable(columns: ["id", "name", "parent_id", "parent_name", "vocabulary"])
        var servicesTaxonomy = CSVTable(columns: ["id", "service_id", "taxonomy_id", "taxonomy_detail"])
        var accessibility = CSVTable(columns: ["id", "location_id", "accessibility", "details"])
        var areas = CSVTable(columns: ["id", "service_id", "service_area", "description"])

        var writtenOrganisations = Set<String>()
        var writtenLocations = Set<String>()
        var usedCategories = Set<String>()
        for entry in resources.sorted(by: { $0.serviceID < $1.serviceID }) {
            let r = entry.resource
            let service = entry.serviceID
            let organisation =
                entry.placeholderOrganisation
                ? (entry.organisationID ?? "")
                : entry.organisationID ?? HSDSReader.resourceID(serviceID: "organisation:\(r.organisation)").uuidString.lowercased()
            // A placeholder stands for a row the directory lacked: leaving it out keeps it to review on re-import.
            if !entry.placeholderOrganisation, writtenOrganisations.insert(organisation).inserted {
                organizations.records.append([organisation, r.organisation, "", "", ""])
            }
            let contact = r.contact ?? ""
            let (email, url, phone) = contact.contains("@") ? (contact, "", "") : contact.lowercased().hasPrefix("http") ? ("", contact, "") : ("", "", contact)
            services.records.append([
                service, organisation, "", r.name, "", r.description, url, email, r.active ? "active" : "inactive",
                r.interpretationAvailable ? "yes" : "", "", "", r.cost ?? "", "", "", "",
                r.eligibility.minimumAge.map(String.init) ?? "", r.eligibility.maximumAge.map(String.init) ?? "", r.lastVerified?.description ?? "",
                r.kind.rawValue, r.tags.joined(separator: ";"), r.capacity.seats.map(String.init) ?? "", r.capacity.waitlistAllowed ? "true" : "false",
                r.delivery.map(\.rawValue).joined(separator: ";"), r.schedule ?? "",
            ])
            if r.coordinates != nil || r.address != nil || !r.accessibility.isEmpty {
                let location = entry.locationID ?? "\(service)-location"
                if writtenLocations.insert(location).inserted {
                    locations.records.append([
                        location, organisation, r.name, "", "", "", r.coordinates.map { String($0.latitude) } ?? "",
                        r.coordinates.map { String($0.longitude) } ?? "", r.delivery.contains(.inPerson) ? "physical" : "virtual",
                    ])
                    if let address = r.address {
                        addresses.records.append(["\(location)-address", location, "", address, "", "", "", "", "", "", "", ""])
                    }
                    for (index, feature) in r.accessibility.enumerated() {
                        accessibility.records.append(["\(location)-accessibility-\(index + 1)", location, feature, ""])
                    }
                }
                servicesAtLocation.records.append(["\(service)-at-\(location)", service, location, ""])
            }
            if !phone.isEmpty {
                phones.records.append(["\(service)-phone", "", service, "", "", "", phone, "", "voice", "", ""])
            }
            for (index, language) in (r.languages + entry.unreadLanguages).enumerated() {
                languages.records.append(["\(service)-language-\(index + 1)", service, "", language])
            }
            // A row per opening hours, and one without times for a day that has none: the reader
            // takes the days and the hours back.
            for (index, hours) in r.openingHours.enumerated() {
                schedules.records.append(["\(service)-hours-\(index + 1)", service, "", "", String(hours.weekday), hours.opensAt, hours.closesAt])
            }
            for day in r.weekdays where !r.openingHours.contains(where: { $0.weekday == day }) {
                schedules.records.append(["\(service)-schedule-\(day)", service, "", "", String(day), "", ""])
            }
            if let notes = r.eligibility.notes {
                eligibility.records.append(["\(service)-eligibility", service, notes])
            }
            for category in r.categories {
                usedCategories.insert(category.code)
                servicesTaxonomy.records.append(["\(service)-\(category.code)", service, "passerelle:\(category.code)", ""])
            }
            for (index, area) in r.eligibility.areas.enumerated() {
                areas.records.append(["\(service)-area-\(index + 1)", service, area, ""])
            }
        }
        for code in NeedCategory.allCodes where usedCategories.contains(code) {
            taxonomy.records.append(["passerelle:\(code)", code, "", "", "passerelle"])
        }
        return HSDSDataPackage(tables: [
            "organizations": organizations, "services": services, "locations": locations, "services_at_location": servicesAtLocation,
            "physical_addresses": addresses, "phones": phones, "languages": languages, "regular_schedules": schedules,
            "eligibility": eligibility, "taxonomy": taxonomy, "services_taxonomy": servicesTaxonomy,
            "accessibility_for_disabilities": accessibility, "service_area": areas,
        ])
    }
}
