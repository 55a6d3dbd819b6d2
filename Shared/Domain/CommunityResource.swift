import Foundation

/// A link worker ("agent de liaison").
public struct LinkWorker: Codable, Sendable, Equatable, Identifiable {
    public var id: UUID
    public var name: String
    public var site: String
    public var languages: [String]
    public var caseloadCapacity: Int
    public var currentCaseload: Int

    public init(id: UUID, name: String, site: String, languages: [String], caseloadCapacity: Int, currentCaseload: Int = 0) throws(DomainError) {
        guard caseloadCapacity > 0 else { throw .invalid("caseload capacity must be positive") }
        guard currentCaseload >= 0 else { throw .invalid("caseload cannot be negative") }
        guard !languages.isEmpty, languages.allSatisfy(Language.isValid) else {
            throw .invalid("a link worker speaks at least one language, as language codes")
        }
        self.id = id
        self.name = name
        self.site = site
        self.languages = languages
        self.caseloadCapacity = caseloadCapacity
        self.currentCaseload = currentCaseload
    }

    /// How full the caseload is, 0 = empty, 1 = at capacity.
    public var load: Double { Double(currentCaseload) / Double(caseloadCapacity) }
}

/// A community resource of the asset inventory, after the Open Referral HSDS service model.
public struct CommunityResource: Codable, Sendable, Equatable, Identifiable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case internalProgram = "internal-program"
        case healthChampionGroup = "health-champion-group"
        case externalPartner = "external-partner"
    }

    public enum Delivery: String, Codable, Sendable, CaseIterable {
        case inPerson = "in-person"
        case virtual
        case phone
    }

    public struct Eligibility: Codable, Sendable, Equatable {
        public var minimumAge: Int?
        public var maximumAge: Int?
        /// Postal prefixes served; empty means everywhere.
        public var areas: [String]
        public var notes: String?

        public init(minimumAge: Int? = nil, maximumAge: Int? = nil, areas: [String] = [], notes: String? = nil) {
            self.minimumAge = minimumAge
            self.maximumAge = maximumAge
            self.areas = areas
            self.notes = notes
        }
    }

    public struct Capacity: Codable, Sendable, Equatable {
        public var seats: Int?
        public var seatsTaken: Int
        public var waitlistAllowed: Bool

        public init(seats: Int? = nil, seatsTaken: Int = 0, waitlistAllowed: Bool = false) {
            self.seats = seats
            self.seatsTaken = seatsTaken
            self.waitlistAllowed = waitlistAllowed
        }

        public var hasRoom: Bool { seats.map { seatsTaken < $0 } ?? true }
    }

    /// When it is open on one day of the week, in the local time of the place: opens at
    /// `opensAt` and closes at `closesAt` ("HH:MM", 24-hour). A closing time at or before the
    /// opening time runs past midnight into the next day (the same time: 24 hours).
    public struct OpeningHours: Codable, Sendable, Equatable {
        /// 1 = Monday … 7 = Sunday, as `weekdays`.
        public var weekday: Int
        public var opensAt: String
        public var closesAt: String

        public init(weekday: Int, opensAt: String, closesAt: String) {
            self.weekday = weekday
            self.opensAt = opensAt
            self.closesAt = closesAt
        }

        /// "HH:MM" from 00:00 to 23:59, the only form stored: compared as text, it orders as time.
        public static func isClock(_ text: String) -> Bool {
            let digits = Array(text.utf8)
            guard digits.count == 5, digits[2] == UInt8(ascii: ":"),
                digits.enumerated().allSatisfy({ $0.offset == 2 || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0.element) })
            else { return false }
            let hours = Int(digits[0] - UInt8(ascii: "0")) * 10 + Int(digits[1] - UInt8(ascii: "0"))
            return hours < 24 && digits[3] <= UInt8(ascii: "5")
        }

        /// Whether these hours hold `time` ("HH:MM") of `weekday`: from the opening time until
        /// before the closing time, on the day itself or, past midnight, on the next one.
        public func isOpen(weekday day: Int, at time: String) -> Bool {
            let overnight = closesAt <= opensAt
            if weekday == day { return opensAt <= time && (overnight || time < closesAt) }
            return overnight && weekday % 7 + 1 == day && time < closesAt
        }
    }

    public var id: UUID
    public var organisation: String
    public var name: String
    public var kind: Kind
    /// The needs it serves. Empty for a directory's service that no crosswalk rule places (an
    /// uncategorised resource): link workers find it by search, automatic matching never
    /// proposes it, and coordinators see it among the resources to review.
    public var categories: [NeedCategory]
    public var description: String
    public var languages: [String]
    public var interpretationAvailable: Bool
    public var delivery: [Delivery]
    public var address: String?
    public var coordinates: Coordinates?
    /// Free text such as "Tuesdays 10:00–12:00", and the weekdays (1 = Monday) it runs on.
    public var schedule: String?
    public var weekdays: [Int]
    /// Opening hours, when the directory or a coordinator gave them; none means unknown, not closed.
    public var openingHours: [OpeningHours]
    public var eligibility: Eligibility
    public var cost: String?
    public var accessibility: [String]
    public var capacity: Capacity
    public var tags: [String]
    public var contact: String?
    public var active: Bool
    public var lastVerified: CalendarDate?

    public init(
        id: UUID, organisation: String, name: String, kind: Kind, categories: [NeedCategory], description: String,
        languages: [String], interpretationAvailable: Bool = false, delivery: [Delivery], address: String? = nil,
        coordinates: Coordinates? = nil, schedule: String? = nil, weekdays: [Int] = [], openingHours: [OpeningHours] = [],
        eligibility: Eligibility = Eligibility(), cost: String? = nil, accessibility: [String] = [], capacity: Capacity = Capacity(), tags: [String] = [],
        contact: String? = nil, active: Bool = true, lastVerified: CalendarDate? = nil
    ) throws(DomainError) {
        guard !name.isEmpty else { throw .invalid("a resource needs a name") }
        guard !delivery.isEmpty else { throw .invalid("a resource is delivered in person, virtually or by phone") }
        guard !delivery.contains(.inPerson) || coordinates != nil || address != nil else {
            throw .invalid("an in-person resource needs an address or coordinates")
        }
        guard weekdays.allSatisfy({ (1...7).contains($0) }) else { throw .invalid("weekdays are 1 (Monday) to 7 (Sunday)") }
        for hours in openingHours {
            guard (1...7).contains(hours.weekday) else { throw .invalid("opening hours are on a weekday from 1 (Monday) to 7 (Sunday)") }
            guard OpeningHours.isClock(hours.opensAt), OpeningHours.isClock(hours.closesAt) else {
                throw .invalid("opening hours open and close at a time from 00:00 to 23:59 (HH:MM)")
            }
        }
        if let min = eligibility.minimumAge, let max = eligibility.maximumAge, min > max { throw .invalid("minimum age is above maximum age") }
        self.id = id
        self.organisation = organisation
        self.name = name
        self.kind = kind
        self.categories = categories
        self.description = description
        self.languages = languages
        self.interpretationAvailable = interpretationAvailable
        self.delivery = delivery
        self.address = address
        self.coordinates = coordinates
        self.schedule = schedule
        self.weekdays = weekdays
        self.openingHours = openingHours
        self.eligibility = eligibility
        self.cost = cost
        self.accessibility = accessibility
        self.capacity = capacity
        self.tags = tags
        self.contact = contact
        self.active = active
        self.lastVerified = lastVerified
    }
}

extension CommunityResource {
    /// Re-checks the domain rules on a value that was decoded (decoding bypasses the initialiser).
    public func validated() throws(DomainError) -> CommunityResource {
        try CommunityResource(
            id: id, organisation: organisation, name: name, kind: kind, categories: categories, description: description,
            languages: languages, interpretationAvailable: interpretationAvailable, delivery: delivery, address: address,
            coordinates: coordinates, schedule: schedule, weekdays: weekdays, openingHours: openingHours, eligibility: eligibility, cost: cost,
            accessibility: accessibility, capacity: capacity, tags: tags, contact: contact, active: active, lastVerified: lastVerified)
    }
}

/// One ranked resource proposed for a referral, with the reasons a person can read.
public struct Match: Codable, Sendable, Equatable {
    public var resourceID: UUID
    public var rank: Int
    public var score: Double
    public var reasons: [String]

    public init(resourceID: UUID, rank: Int, score: Double, reasons: [String]) {
        self.resourceID = resourceID
        self.rank = rank
        self.score = score
        self.reasons = reasons
    }
}

/// Referral ↔ resource, from proposal to attendance.
public enum ConnectionStatus: String, Codable, Sendable, CaseIterable {
    case proposed, accepted, enrolled, attended, dropped, declined

    public var isOpen: Bool { self == .proposed || self == .accepted || self == .enrolled || self == .attended }

    public var allowedNext: [ConnectionStatus] {
        switch self {
        case .proposed: return [.accepted, .declined, .dropped]
        case .accepted: return [.enrolled, .declined, .dropped]
        case .enrolled: return [.attended, .dropped]
        case .attended: return [.attended, .dropped]
        case .dropped, .declined: return []
        }
    }
}

public struct Connection: Codable, Sendable, Equatable, Identifiable {
    public var id: UUID
    public var referralID: UUID
    public var resourceID: UUID
    public var status: ConnectionStatus
    public var reason: String?

    public init(id: UUID, referralID: UUID, resourceID: UUID, status: ConnectionStatus = .proposed, reason: String? = nil) {
        self.id = id
        self.referralID = referralID
        self.resourceID = resourceID
        self.status = status
        self.reason = reason
    }
}
