import Domain
import Foundation
import HTTPTypes
import Hummingbird
import MatchingAPI

/// The directory: the shared catalogue of community resources searched by need, language,
/// accessibility, distance from a postal code and whether it is open now, through matching's search.
/// Opened from a referral, each resource found can be proposed for it (a connection).
extension ConsoleRoutes {
    /// The accessibility features the catalogue names (the demo catalogue's and HSDS imports').
    static let accessibilityFeatures = ["step-free access", "accessible washroom", "hearing loop", "large print"]
    /// The languages the directory offers to filter on; a resource's other languages still show.
    static let directoryLanguages = ["fr", "en", "es", "ar", "zh", "so", "pt", "it"]
    static let radii = ["2", "5", "10", "25", "50"]

    /// What the search form asked, checked: each field the console cannot use is named, in the
    /// user's language, and nothing is searched.
    struct DirectorySearch {
        var need: MatchingAPI.Components.Schemas.NeedCategoryCode?
        var language: String?
        var accessibility: String?
        var postalCode: String?
        var near: Coordinates?
        var radius: Double = 10
        /// Only resources open now: their opening hours hold this moment at the sites.
        var openNow = false
        var referral: String?
        var errors: [(field: String, detail: String)] = []
        /// The search as typed, to show the form again and to come back to it after a proposal.
        var typed: [String: String] = [:]
    }

    func addDirectory(to router: Router<BasicRequestContext>) {
        router.get("/directory") { request, _ in
            try await signedIn(request) { session, language in
                var typed: [String: String] = [:]
                for (name, value) in Self.formFields(request.uri.query ?? "") where typed[name] == nil {
                    if ["need", "language", "accessibility", "postal", "radius", "open", "referral", "proposed"].contains(name) {
                        typed[name] = String(value.prefix(200))
                    }
                }
                return try await directory(typed, session: session, language: language)
            }
        }
    }

    /// The search's fields; `typed` is the page's query.
    func directorySearch(_ typed: [String: String], _ language: Language) -> DirectorySearch {
        var search = DirectorySearch(typed: typed)
        func given(_ name: String) -> String? { Self.given(typed, name) }
        if let need = given("need") {
            search.need = MatchingAPI.Components.Schemas.NeedCategoryCode(rawValue: need)
            if search.need == nil { search.errors.append(("need", text("invalid.choose", language))) }
        }
        if let code = given("language") {
            if Self.directoryLanguages.contains(code) { search.language = code } else { search.errors.append(("language", text("invalid.choose", language))) }
        }
        if let feature = given("accessibility") {
            if Self.accessibilityFeatures.contains(feature) {
                search.accessibility = feature
            } else {
                search.errors.append(("accessibility", text("invalid.choose", language)))
            }
        }
        if let radius = given("radius") {
            if Self.radii.contains(radius), let kilometres = Double(radius) {
                search.radius = kilometres
            } else {
                search.errors.append(("radius", text("invalid.choose", language)))
            }
        }
        if let postal = given("postal") {
            // A postal code (K1Y 4E9) or its area (K1Y): distance is measured from the area's centre.
            let compact = postal.uppercased().filter { !$0.isWhitespace }
            search.postalCode = postal
            if compact.wholeMatch(of: /[A-Z][0-9][A-Z]([0-9][A-Z][0-9])?/) == nil {
                search.errors.append(("postal", text("invalid.postalCode", language)))
            } else if let centre = settings.postalAreas[String(compact.prefix(3))] {
                search.near = centre
            } else {
                search.errors.append(("postal", text(settings.postalAreas.isEmpty ? "noPostalAreas" : "invalid.postalArea", language)))
            }
        }
        search.openNow = typed["open"] == "1"
        if let referral = given("referral"), UUID(uuidString: referral) != nil { search.referral = referral.uppercased() }
        return search
    }

    /// The moment at the sites as resources' opening hours give theirs: the day of the week,
    /// 1 = Monday … 7 = Sunday, and the 24-hour time "HH:MM".
    static func moment(_ date: Date = Date(), in zone: TimeZone) -> (weekday: Int, time: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let (hour, minute) = (parts.hour ?? 0, parts.minute ?? 0)
        return (((parts.weekday ?? 2) + 5) % 7 + 1, (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)")
    }

    func directory(_ typed: [String: String], session: ConsoleSession, language: Language, failure: FormFailure? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        let search = directorySearch(typed, language)
        let casework = session.roles.contains("link-worker") || session.roles.contains("coordinator")
        var context: [String: Any] = [:]
        // The form, with what was asked.
        context["needs"] = MatchingAPI.Components.Schemas.NeedCategoryCode.allCases.map(\.rawValue).sorted {
            text("need.\($0)", language) < text("need.\($1)", language)
        }.map { code -> [String: Any] in
            ["value": code, "label": text("need.\(code)", language), "selected": typed["need"] == code]
        }
        context["languages"] = Self.directoryLanguages.map { ["value": $0, "label": text("language.\($0)", language), "selected": typed["language"] == $0] }
        context["features"] = Self.accessibilityFeatures.map { feature -> [String: Any] in
            ["value": feature, "label": featureLabel(feature, language), "selected": typed["accessibility"] == feature]
        }
        context["radii"] = Self.radii.map { ["value": $0, "label": "\($0) km", "selected": (typed["radius"] ?? "10") == $0] }
        context["postal"] = search.postalCode ?? ""
        context["openNow"] = search.openNow
        context["distanceAvailable"] = !settings.postalAreas.isEmpty
        if let referral = search.referral {
            context["referral"] = ["id": referral, "short": String(referral.prefix(8))]
        }
        let invalid = Set(search.errors.map(\.field))
        context["invalid"] = Dictionary(uniqueKeysWithValues: invalid.map { ($0, true) })
        guard search.errors.isEmpty else {
            context["problem"] = text("invalid.search", language)
            context["hasErrors"] = true
            context["errors"] = search.errors.map { ["field": text("field.\($0.field == "postal" ? "postalNear" : $0.field)", language), "detail": $0.detail] }
            return page(
                "directory", title: text("directory", language), status: .unprocessableContent, language: language, session: session,
                path: directoryPath(typed), context: context)
        }
        // Nothing asked yet: the form alone, no search of the whole catalogue.
        let asked = ["need", "language", "accessibility", "postal", "open"].contains { Self.given(typed, $0) != nil }
        context["asked"] = asked
        guard asked else {
            if let referral = search.referral {
                context["hint"] = text("directory.fromReferral", language).replacingOccurrences(of: "{short}", with: String(referral.prefix(8)))
            }
            return page("directory", title: text("directory", language), language: language, session: session, path: directoryPath(typed), context: context)
        }
        let clients = ServiceClients(settings: settings, token: session.accessToken)
        let now = Self.moment(in: settings.timeZone)
        let found: [MatchingAPI.Components.Schemas.Resource]
        do {
            let query = MatchingAPI.Operations.SearchResources.Input.Query(
                category: search.need, language: search.language, near: search.near.map { "\($0.latitude),\($0.longitude)" },
                radiusKm: search.near == nil ? nil : search.radius, accessibility: search.accessibility,
                openAt: search.openNow ? "\(now.weekday)T\(now.time)" : nil)
            switch try await clients.matching.searchResources(query: query) {
            case .ok(let ok): found = try ok.body.json.filter(\.active)
            case .unprocessableContent(let refused):
                // The console checked every field: a refusal here is the service's, said as it is.
                let problem = try? refused.body.applicationProblemJson
                context["problem"] = text("refused", language) + (problem?.detail ?? problem?.title ?? "422")
                return page(
                    "directory", title: text("directory", language), status: .unprocessableContent, language: language, session: session,
                    path: directoryPath(typed), context: context)
            case .forbidden:
                // The catalogue is searched by those who do the casework; a referrer is told so.
                return message(
                    text("directory", language), detail: text("refused", language) + text("refusal.forbidden", language), status: .forbidden,
                    language: language, session: session, signIn: false)
            default: return unavailable(IntakeAnswer.unexpected, language, session)
            }
        } catch {
            return unavailable(error, language, session)
        }
        // Nearest first when a distance was asked; otherwise the catalogue's order (by name).
        var results = found.map { resource -> (Double?, MatchingAPI.Components.Schemas.Resource) in
            let distance = search.near.flatMap { near in
                resource.coordinates.flatMap { try? Coordinates(latitude: $0.latitude, longitude: $0.longitude) }.map { near.distanceKilometres(to: $0) }
            }
            return (distance, resource)
        }
        if search.near != nil { results.sort { ($0.0 ?? .infinity) < ($1.0 ?? .infinity) } }
        let proposed = typed["proposed"].flatMap { UUID(uuidString: $0) != nil ? $0.uppercased() : nil }
        context["results"] = results.prefix(100).map { distance, resource -> [String: Any] in
            var row: [String: Any] = [
                "id": resource.id, "name": resource.name, "organisation": resource.organisation, "description": resource.description,
                "needs": resource.categories.map { text("need.\($0.rawValue)", language) }.joined(separator: ", "),
                "languages": resource.languages.map { Translations.table["language.\($0)"] != nil ? text("language.\($0)", language) : $0 }.joined(
                    separator: ", "),
                "delivery": resource.delivery.map { text("delivery.\($0.rawValue)", language) }.joined(separator: ", "),
                "days": resource.weekdays.sorted().map { text("weekday.\($0)", language) }.joined(separator: ", "),
                "openNow": resource.openingHours.contains {
                    CommunityResource.OpeningHours(weekday: $0.weekday, opensAt: $0.opensAt, closesAt: $0.closesAt).isOpen(weekday: now.weekday, at: now.time)
                },
                "accessibility": resource.accessibility.map { featureLabel($0, language) }.joined(separator: ", "),
                "interpretation": resource.interpretationAvailable,
            ]
            if let schedule = resource.schedule, !schedule.isEmpty { row["schedule"] = schedule }
            // Today's hours, as the catalogue gives them; none when it gives none for today.
            let today = resource.openingHours.filter { $0.weekday == now.weekday }.sorted { $0.opensAt < $1.opensAt }
            if !today.isEmpty { row["hoursToday"] = today.map { "\($0.opensAt)–\($0.closesAt)" }.joined(separator: ", ") }
            if let address = resource.address, !address.isEmpty { row["address"] = address }
            if let contact = resource.contact, !contact.isEmpty { row["contact"] = contact }
            if let distance {
                row["distance"] = String(format: language == .fr ? "%.1f km" : "%.1f km", distance).replacingOccurrences(
                    of: ".", with: language == .fr ? "," : ".")
            }
            if let seats = resource.capacity.seats {
                let left = max(0, seats - resource.capacity.seatsTaken)
                row["seats"] =
                    left == 0
                    ? text(resource.capacity.waitlistAllowed ? "seats.waitlist" : "seats.full", language)
                    : text("seats.left", language).replacingOccurrences(of: "{count}", with: "\(left)")
            }
            if casework, let referral = search.referral {
                row["propose"] = ["referralId": referral, "resourceId": resource.id, "return": directoryPath(typed.filter { $0.key != "proposed" })]
                if proposed == resource.id.uppercased() { row["proposed"] = true }
                if let failure, failure.typed["resourceId"]?.uppercased() == resource.id.uppercased() { row["problem"] = failure.message }
            }
            return row
        }
        context["hasResults"] = !results.isEmpty
        context["count"] = text(results.count == 1 ? "directory.found1" : "directory.found", language).replacingOccurrences(
            of: "{count}", with: "\(results.count)")
        if results.count > 100 { context["more"] = text("directory.more", language) }
        if let proposed, let name = found.first(where: { $0.id.uppercased() == proposed }) {
            context["notice"] = text("saved.connection", language) + "\(name.name) — \(name.organisation)"
        }
        if let failure, !results.contains(where: { $0.1.id.uppercased() == failure.typed["resourceId"]?.uppercased() }) {
            context["problem"] = failure.message
        }
        return page(
            "directory", title: text("directory", language), status: status, language: language, session: session, path: directoryPath(typed), context: context)
    }

    /// The directory's own path with the search asked, for the language switch and for coming back.
    func directoryPath(_ typed: [String: String]) -> String {
        let query = typed.sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key)=\(OpenIDSignIn.formEncoded($0.value))" }
        return query.isEmpty ? "/directory" : "/directory?" + query.joined(separator: "&")
    }

    /// The fields of a form's query (`need=loneliness&postal=k1y+4e9`), `+` a space as browsers
    /// send it; a field whose percent-encoding is broken is dropped, never trusted half-read.
    static func formFields(_ query: String) -> [(name: String, value: String)] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decoded(_ part: Substring) -> String? { String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = parts.first.flatMap(decoded), let value = parts.count == 2 ? decoded(parts[1]) : "" else { return nil }
            return (name, value)
        }
    }

    /// The search of a directory path (`/directory?need=…`) a form came back with; nil for any
    /// other path, so a proposal never leads anywhere but the directory or the matches.
    static func directorySearchQuery(_ path: String) -> [String: String]? {
        guard path == "/directory" || path.hasPrefix("/directory?"), let components = URLComponents(string: path) else { return nil }
        var typed: [String: String] = [:]
        for item in components.queryItems ?? [] where ["need", "language", "accessibility", "postal", "radius", "open"].contains(item.name) {
            typed[item.name] = String((item.value ?? "").prefix(200))
        }
        return typed
    }

    /// A known feature in the user's words; the catalogue's own text otherwise.
    func featureLabel(_ feature: String, _ language: Language) -> String {
        let key = "feature.\(feature.lowercased().replacingOccurrences(of: " ", with: "-"))"
        return Translations.table[key] != nil ? text(key, language) : feature
    }
}
