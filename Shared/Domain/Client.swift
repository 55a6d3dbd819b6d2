import Foundation
import WireFormats

public enum ContactChannel: String, Codable, Sendable, CaseIterable {
    case email, sms, phone
    /// The client asked not to be contacted by Passerelle.
    case none
}

public struct ContactDetails: Codable, Sendable, Equatable {
    public var phone: String?
    public var email: String?

    public init(phone: String? = nil, email: String? = nil) throws(DomainError) {
        if let phone, !Self.isPhone(phone) { throw .invalid("phone \"\(phone)\" is not a phone number") }
        if let email, !Self.isEmail(email) { throw .invalid("email \"\(email)\" is not an e-mail address") }
        self.phone = phone
        self.email = email
    }

    /// E.164-like: optional +, 7 to 15 digits, spaces/dashes/dots/parentheses allowed between.
    public static func isPhone(_ text: String) -> Bool {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII, as almost every number is: the same rule on bytes.
            // A "+" only if the number starts with one.
            let international = text.utf8.first == UInt8(ascii: "+")
            var digits = 0
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
                case UInt8(ascii: "+") where international: continue
                case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("), UInt8(ascii: ")"): continue
                default: return false
                }
            }
            return (7...15).contains(digits)
        }
        let digits = text.filter(\.isNumber)
        let allowed = text.allSatisfy { $0.isNumber || " -.()+".contains($0) }
        return allowed && (7...15).contains(digits.count) && (text.firstIndex(of: "+").map { $0 == text.startIndex } ?? true)
    }

    public static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else { return false }
        return text.count <= 254 && !text.contains(where: { $0.isWhitespace })
    }
}

/// Takes contact details out of text that is kept or published: delivery errors (an SMTP relay
/// quotes the refused address back, an SMS gateway the number) and dead-letter errors (a
/// database error may quote the value it refused). E-mail addresses become `<address>`, runs of
/// seven or more digits (phone numbers, however written) `<number>`, and each of the `known`
/// addresses (the recipient's own, in whatever form it was written) `<recipient>`.
public enum ContactRedaction {
    public static func redact(_ text: String, known: [String] = []) -> String {
        var text = text
        for address in known where address.count >= 3 {
            text = text.replacingOccurrences(of: address, with: "<recipient>", options: .caseInsensitive)
        }
        text = text.replacing(emailAddress, with: "<address>")
        text = text.replacing(phoneNumber) { match in
            match.output.filter(\.isNumber).count >= 7 ? Substring("<number>") : match.output
        }
        return text
    }

    // Built per use: a `Regex` is not `Sendable`, and these are cheap next to a delivery.
    private static var emailAddress: Regex<Substring> { /[^\s<>"'(),;:\[\]]+@[^\s<>"'(),;:\[\]]+/ }
    /// Digits with spaces, dashes, slashes or parentheses between (not dots: an IP address or a
    /// version is no phone number, and a number written with dots is the recipient's own).
    private static var phoneNumber: Regex<Substring> { /\+?\(?\d[\d \-()\/]{5,}\d/ }
}

/// A person referred. Identity and contact stay in intake and travel only on the compacted
/// clients topic; everything else refers to the client by its pseudonymous `id`.
public struct Client: Codable, Sendable, Equatable, Identifiable {
    public var id: UUID
    public var givenName: String
    public var familyName: String
    public var birthDate: CalendarDate
    public var contact: ContactDetails
    /// BCP 47 primary language code (`fr`, `en`, …).
    public var preferredLanguage: String
    public var postalCode: String?
    public var coordinates: Coordinates?
    public var accessibilityNeeds: [String]
    public var preferredChannel: ContactChannel
    public var consent: Consent
    public var sociodemographics: Sociodemographics?

    public init(
        id: UUID, givenName: String, familyName: String, birthDate: CalendarDate, contact: ContactDetails,
        preferredLanguage: String, postalCode: String? = nil, coordinates: Coordinates? = nil,
        accessibilityNeeds: [String] = [], preferredChannel: ContactChannel, consent: Consent,
        sociodemographics: Sociodemographics? = nil, today: CalendarDate
    ) throws(DomainError) {
        guard !givenName.trimmingWhitespace(.whitespaces).isEmpty else { throw .invalid("given name is empty") }
        guard !familyName.trimmingWhitespace(.whitespaces).isEmpty else { throw .invalid("family name is empty") }
        guard birthDate <= today else { throw .invalid("birth date \(birthDate) is in the future") }
        guard Language.isValid(preferredLanguage) else { throw .invalid("language \"\(preferredLanguage)\" is not a language code") }
        if let postalCode, PostalCode.normalised(postalCode) == nil { throw .invalid("postal code \"\(postalCode)\" is not valid") }
        if preferredChannel == .email && contact.email == nil { throw .invalid("e-mail is the preferred channel but no e-mail address was given") }
        if (preferredChannel == .sms || preferredChannel == .phone) && contact.phone == nil {
            throw .invalid("\(preferredChannel.rawValue) is the preferred channel but no phone number was given")
        }
        self.id = id
        self.givenName = givenName
        self.familyName = familyName
        self.birthDate = birthDate
        self.contact = contact
        self.preferredLanguage = preferredLanguage
        self.postalCode = postalCode.flatMap(PostalCode.normalised)
        self.coordinates = coordinates
        self.accessibilityNeeds = accessibilityNeeds
        self.preferredChannel = preferredChannel
        self.consent = consent
        self.sociodemographics = sociodemographics
    }

    /// The client as recorded, referred again (same identity key): what the new referral brings
    /// of contact details and location replaces what is recorded (the referrer has just seen
    /// the client, and keeping a stale address would send messages to it), while the client's
    /// own decisions — consent, preferred channel and language — stand as recorded: a referral
    /// form's defaults (the FHIR door assumes no sharing, no evaluation use, English) must not
    /// undo them. Consent changes only by `PUT /v1/clients/{id}/consent`. Sociodemographics
    /// newly given are taken only while the recorded consent allows evaluation use.
    public func referredAgain(with submitted: Client) -> Client {
        var merged = self
        if let phone = submitted.contact.phone { merged.contact.phone = phone }
        if let email = submitted.contact.email { merged.contact.email = email }
        if let postalCode = submitted.postalCode { merged.postalCode = postalCode }
        if let coordinates = submitted.coordinates { merged.coordinates = coordinates }
        if !submitted.accessibilityNeeds.isEmpty { merged.accessibilityNeeds = submitted.accessibilityNeeds }
        if let answers = submitted.sociodemographics, consent.evaluationUse { merged.sociodemographics = answers }
        return merged
    }

    /// The consent a referral of this (recorded) client carries. The client's decisions on
    /// sharing with partners and evaluation use stand whatever the new referral's form says
    /// (its defaults must not undo them); a referral may only narrow contact for itself (an EHR's
    /// "do not contact the subject about this request", where contact may put them at risk).
    public func consent(forReferralSubmitted submitted: Consent) -> Consent {
        Consent(contact: consent.contact && submitted.contact, shareWithPartners: consent.shareWithPartners, evaluationUse: consent.evaluationUse)
    }

    /// The key of the duplicate-client check: same name, birth date and postal code, normalised.
    public var identityKey: String {
        Self.identityKey(givenName: givenName, familyName: familyName, birthDate: birthDate, postalCode: postalCode)
    }

    /// The same key for a person described elsewhere (a FHIR Patient), so what was posted about
    /// a client is found again when they are erased. `postalCode` as given; it is normalised here.
    public static func identityKey(givenName: String, familyName: String, birthDate: CalendarDate, postalCode: String?) -> String {
        func fold(_ text: String) -> String {
            // ASCII (most names) has nothing to decompose: lowercase, keep letters and digits.
            if text.utf8.allSatisfy({ $0 < 0x80 }) {
                return String(
                    decoding: text.utf8.compactMap { byte -> UInt8? in
                        switch byte {
                        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte + 32
                        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): byte
                        default: nil
                        }
                    }, as: UTF8.self)
            }
            // Decompose, drop the combining marks (é → e), lowercase, keep letters and digits.
            let scalars = text.decomposedStringWithCompatibilityMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
            return String(String.UnicodeScalarView(scalars)).lowercased().filter { $0.isLetter || $0.isNumber }
        }
        return [fold(givenName), fold(familyName), birthDate.description, postalCode.flatMap(PostalCode.normalised) ?? ""].joined(separator: "|")
    }
}

public enum Language {
    public static func isValid(_ code: String) -> Bool {
        (2...3).contains(code.count) && code.unicodeScalars.allSatisfy { ("a"..."z").contains($0) }
    }
}

public enum PostalCode {
    /// Canadian postal codes (`K1A 0B1`) upper-cased with one space; other formats of 3–10
    /// letters and digits are kept upper-cased.
    public static func normalised(_ text: String) -> String? {
        switch normalisedASCII(text) {
        case .code(let code): return code
        case .invalid: return nil
        case .notASCII: break
        }
        let compact = text.uppercased().filter { !$0.isWhitespace && $0 != "-" }
        guard (3...10).contains(compact.count), compact.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        if compact.count == 6, isCanadian(compact) {
            return String(compact.prefix(3)) + " " + String(compact.suffix(3))
        }
        return compact
    }

    /// The area used wherever an address would identify someone: the first three characters
    /// (the forward sortation area in Canada).
    public static func area(_ text: String) -> String? {
        normalised(text).map { String($0.prefix(3)) }
    }

    private enum ASCIIReading {
        case code(String)
        case invalid
        case notASCII
    }

    /// The same on bytes, for ASCII text (anything else takes the general path).
    private static func normalisedASCII(_ text: String) -> ASCIIReading {
        var compact: [UInt8] = []
        compact.reserveCapacity(8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): compact.append(byte - 32)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): compact.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "-"), 0x09...0x0D: continue
            case 0x80...: return .notASCII
            default: return .invalid  // ASCII punctuation or control
            }
        }
        guard (3...10).contains(compact.count) else { return .invalid }
        let isLetter = { (byte: UInt8) in (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
        if compact.count == 6, compact.enumerated().allSatisfy({ $0.offset % 2 == 0 ? isLetter($0.element) : !isLetter($0.element) }) {
            compact.insert(UInt8(ascii: " "), at: 3)
        }
        return .code(String(decoding: compact, as: UTF8.self))
    }

    private static func isCanadian(_ code: String) -> Bool {
        let chars = Array(code)
        return chars.enumerated().allSatisfy { index, char in index % 2 == 0 ? char.isLetter : char.isNumber }
    }
}

public struct Coordinates: Codable, Sendable, Equatable, Hashable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) throws(DomainError) {
        guard (-90...90).contains(latitude), (-180...180).contains(longitude) else {
            throw .invalid("coordinates \(latitude), \(longitude) are out of range")
        }
        self.latitude = latitude
        self.longitude = longitude
    }

    /// The centre of the 0.01° cell holding this point (about 1.1 km north–south, 0.8 km
    /// east–west at Ottawa's latitude): what leaves intake of a client's location. Distances to
    /// community resources stay right to the kilometre; an address cannot be read back.
    public var gridCell: Coordinates {
        func snap(_ value: Double) -> Double { (value * 100).rounded() / 100 }
        var cell = self
        (cell.latitude, cell.longitude) = (snap(latitude), snap(longitude))
        return cell
    }

    /// Great-circle distance in kilometres (haversine).
    public func distanceKilometres(to other: Coordinates) -> Double {
        let radius = 6371.0088
        let lat1 = latitude * .pi / 180
        let lat2 = other.latitude * .pi / 180
        let dLat = lat2 - lat1
        let dLon = (other.longitude - longitude) * .pi / 180
        let a = sin(dLat / 2) * sin(dLat / 2) + cos(lat1) * cos(lat2) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * radius * asin(min(1, sqrt(a)))
    }
}

/// A date without a time or time zone (birth dates), written `YYYY-MM-DD`.
public struct CalendarDate: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) throws(DomainError) {
        guard year > 1850, (1...12).contains(month), (1...Self.days(inMonth: month, of: year)).contains(day) else {
            throw .invalid("\(year)-\(month)-\(day) is not a calendar date")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    public init(_ text: String) throws(DomainError) {
        let parts = text.split(separator: "-")
        guard text.count == 10, parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
            throw .invalid("\"\(text)\" is not a date (YYYY-MM-DD)")
        }
        try self.init(year: y, month: m, day: d)
    }

    /// The UTC date of an instant.
    public init(_ date: Date) {
        (year, month, day) = UTCTimestamp.civilDate(date)
    }

    /// Gregorian months (arithmetic, not `Calendar`: every referral checks a birth date and
    /// computes an age).
    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// Whole years from this date to `date`.
    public func age(on date: CalendarDate) -> Int {
        var age = date.year - year
        if (date.month, date.day) < (month, day) { age -= 1 }
        return age
    }
}

/// What travels instead of a birth date.
public enum AgeBand: String, Codable, Sendable, CaseIterable {
    case under18 = "0-17"
    case from18to24 = "18-24"
    case from25to44 = "25-44"
    case from45to64 = "45-64"
    case from65to74 = "65-74"
    case from75 = "75+"

    public init(age: Int) {
        switch age {
        case ..<18: self = .under18
        case 18...24: self = .from18to24
        case 25...44: self = .from25to44
        case 45...64: self = .from45to64
        case 65...74: self = .from65to74
        default: self = .from75
        }
    }
}

/// What may travel on a topic in place of text a person wrote: a code (lowercase letters, digits
/// and single dashes, at most 64 characters) is passed on; anything else is free text about a
/// person, which stays in the schema where it was written and does not travel at all.
public enum EventCode {
    public static func code(_ text: String?) -> String? {
        guard let text, isCode(text) else { return nil }
        return text
    }

    public static func isCode(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && !text.hasPrefix("-") && !text.hasSuffix("-") && !text.contains("--")
            && text.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
            }
    }
}
