import Domain
import Foundation
import Testing

// MARK: - Referral status machine

@Suite("Referral status machine")
struct ReferralStatusTests {
    struct Step: Sendable {
        let action: ReferralAction
        let to: ReferralStatus
    }

    /// The closed loop written out by hand, in the order `allowedActions` gives.
    static let transitions: [ReferralStatus: [Step]] = [
        .received: [
            Step(action: .accept, to: .accepted), Step(action: .hold, to: .onHold), Step(action: .reject, to: .rejected), Step(action: .cancel, to: .cancelled),
        ],
        .accepted: [
            Step(action: .start, to: .inProgress), Step(action: .hold, to: .onHold), Step(action: .reject, to: .rejected),
            Step(action: .cancel, to: .cancelled), Step(action: .fail, to: .failed),
        ],
        .inProgress: [
            Step(action: .complete, to: .completed), Step(action: .hold, to: .onHold), Step(action: .cancel, to: .cancelled), Step(action: .fail, to: .failed),
        ],
        .onHold: [Step(action: .resume, to: .accepted), Step(action: .cancel, to: .cancelled), Step(action: .fail, to: .failed)],
        .completed: [],
        .rejected: [],
        .cancelled: [],
        .failed: [],
    ]

    @Test(
        "every status × action: a legal action gives the expected status, an illegal one says what is allowed",
        arguments: ReferralStatus.allCases, ReferralAction.allCases)
    func transition(from status: ReferralStatus, action: ReferralAction) throws {
        if let step = Self.transitions[status]?.first(where: { $0.action == action }) {
            #expect(try status.applying(action) == step.to)
        } else {
            #expect(throws: DomainError.illegalTransition(from: status, action: action, allowed: status.allowedActions)) {
                try status.applying(action)
            }
        }
    }

    @Test("allowed actions are listed in a stable order", arguments: ReferralStatus.allCases)
    func allowedActionsOrder(status: ReferralStatus) {
        let expected = (Self.transitions[status] ?? []).map(\.action)
        #expect(status.allowedActions == expected)
    }

    @Test("terminal statuses allow nothing, the others allow something", arguments: ReferralStatus.allCases)
    func terminalStatuses(status: ReferralStatus) {
        #expect(status.isTerminal == status.allowedActions.isEmpty)
    }

    @Test("resume returns a held referral to the status it was held from", arguments: [ReferralStatus.received, .accepted, .inProgress])
    func holdThenResume(heldFrom: ReferralStatus) throws {
        let held = try heldFrom.applying(.hold)
        #expect(held == .onHold)
        #expect(try held.applying(.resume, resumeTo: heldFrom) == heldFrom)
    }

    @Test("resume falls back to accepted when the held-from status is unknown or unusable")
    func resumeFallback() throws {
        #expect(try ReferralStatus.onHold.applying(.resume) == .accepted)
        for unusable in [ReferralStatus.onHold, .completed, .rejected, .cancelled, .failed] {
            #expect(try ReferralStatus.onHold.applying(.resume, resumeTo: unusable) == .accepted, "resumeTo \(unusable)")
        }
    }

    @Test("reject, cancel, hold and fail need a reason; complete needs an outcome", arguments: ReferralAction.allCases)
    func reasonsAndOutcomes(action: ReferralAction) {
        let needsReason: Set<ReferralAction> = [.reject, .cancel, .hold, .fail]
        #expect(action.requiresReason == needsReason.contains(action))
        #expect(action.requiresOutcome == (action == .complete))
    }

    @Test("statuses use the FHIR Task.status spellings on the wire")
    func rawValues() {
        #expect(ReferralStatus.allCases.map(\.rawValue) == ["received", "accepted", "in-progress", "completed", "rejected", "cancelled", "on-hold", "failed"])
    }

    @Test("the illegal-transition message names the status, the action and the alternatives")
    func illegalTransitionMessage() {
        let error = DomainError.illegalTransition(from: .completed, action: .start, allowed: [])
        #expect(error.description.contains("start"))
        #expect(error.description.contains("completed"))
        let fromReceived = DomainError.illegalTransition(from: .received, action: .complete, allowed: ReferralStatus.received.allowedActions)
        #expect(fromReceived.description.hasSuffix("accept, hold, reject, cancel"))
    }
}

// MARK: - Need categories

@Suite("Need categories")
struct NeedCategoryTests {
    @Test("codes outside the catalogue are rejected")
    func unknownCode() {
        #expect(throws: DomainError.invalid("unknown need category \"unicorns\"")) {
            try NeedCategory(code: "unicorns")
        }
        #expect(throws: DomainError.self) { try NeedCategory(code: "Housing") }
        #expect(throws: DomainError.self) { try NeedCategory(code: "") }
    }

    @Test("every catalogue code is accepted, once")
    func catalogueCodes() throws {
        #expect(NeedCategory.allCodes.count == 23)
        #expect(Set(NeedCategory.allCodes).count == NeedCategory.allCodes.count)
        for code in NeedCategory.allCodes {
            #expect(try NeedCategory(code: code).code == code)
        }
    }

    @Test("labels come in English and French")
    func labels() throws {
        let food = try NeedCategory(code: "food-security")
        #expect(food.label("en") == "Food security")
        #expect(food.label("fr") == "Sécurité alimentaire")
        #expect(food.description == "food-security")
    }

    @Test("a category encodes and decodes as a plain string")
    func plainStringCoding() throws {
        let encoded = try JSONEncoder().encode([NeedCategory(code: "housing"), NeedCategory(code: "loneliness")])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["housing","loneliness"]"#)

        let decoded = try JSONDecoder().decode([NeedCategory].self, from: Data(#"["food-security","nature"]"#.utf8))
        #expect(decoded.map(\.code) == ["food-security", "nature"])

        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([NeedCategory].self, from: Data(#"["unicorns"]"#.utf8))
        }
    }

    @Test("Gravity Project SDOH categories map onto need categories")
    func gravityMapping() throws {
        let food = try NeedCategory(code: "food-security")
        let housing = try NeedCategory(code: "housing")
        #expect(GravitySDOHCategory.needCategories(for: "food-insecurity") == [food])
        #expect(GravitySDOHCategory.needCategories(for: "homelessness") == [housing])
        #expect(GravitySDOHCategory.needCategories(for: "not-a-gravity-code") == nil)
        #expect(GravitySDOHCategory.needCategories(for: "Food-Insecurity") == nil)
    }

    @Test("every Gravity mapping lands on catalogue codes")
    func gravityTargetsExist() {
        let codes = Set(NeedCategory.allCodes)
        for (gravity, targets) in GravitySDOHCategory.mapping {
            #expect(!targets.isEmpty, "\(gravity)")
            #expect(targets.allSatisfy { codes.contains($0) }, "\(gravity) → \(targets)")
        }
    }
}

// MARK: - Clients

enum ClientFixture {
    static let id = UUID(uuidString: "A2B3C4D5-E6F7-4819-8A2B-3C4D5E6F7081")!

    static func make(
        givenName: String = "Élodie", familyName: String = "Tremblay", birthDate: String = "1958-03-14",
        phone: String? = "+1 613 555 0142", email: String? = nil, language: String = "fr", postalCode: String? = "K1Y 4E9",
        channel: ContactChannel = .sms, today: String = "2026-11-18"
    ) throws(DomainError) -> Client {
        try Client(
            id: id, givenName: givenName, familyName: familyName, birthDate: CalendarDate(birthDate),
            contact: ContactDetails(phone: phone, email: email), preferredLanguage: language, postalCode: postalCode,
            preferredChannel: channel, consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true),
            today: CalendarDate(today))
    }
}

@Suite("Clients")
struct ClientTests {
    @Test("a valid client keeps its details and normalises its postal code")
    func validClient() throws {
        let client = try ClientFixture.make(postalCode: "k1y4e9")
        #expect(client.givenName == "Élodie")
        #expect(client.postalCode == "K1Y 4E9")
        #expect(client.preferredChannel == .sms)
        #expect(client.birthDate.description == "1958-03-14")
    }

    @Test("a birth date in the future is rejected")
    func futureBirthDate() throws {
        #expect(throws: DomainError.self) { try ClientFixture.make(birthDate: "2026-11-19", today: "2026-11-18") }
        // Born today is fine.
        #expect(try ClientFixture.make(birthDate: "2026-11-18", today: "2026-11-18").birthDate.description == "2026-11-18")
    }

    @Test("a language that is not a lowercase language code is rejected", arguments: ["FR", "french", "f", "fr-CA", "", "é"])
    func badLanguage(language: String) {
        #expect(throws: DomainError.self) { try ClientFixture.make(language: language) }
    }

    @Test("an invalid postal code is rejected", arguments: ["K1", "K1A@0B1", "not a postal code!", "12345678901"])
    func badPostalCode(postalCode: String) {
        #expect(throws: DomainError.self) { try ClientFixture.make(postalCode: postalCode) }
    }

    @Test("the preferred channel needs the matching contact detail")
    func channelNeedsContact() throws {
        #expect(throws: DomainError.self) { try ClientFixture.make(email: nil, channel: .email) }
        #expect(throws: DomainError.self) { try ClientFixture.make(phone: nil, channel: .sms) }
        #expect(try ClientFixture.make(email: "elodie@example.ca", channel: .email).contact.email == "elodie@example.ca")
        #expect(try ClientFixture.make(phone: nil, channel: .none).contact.phone == nil)
    }

    @Test("empty names are rejected")
    func emptyNames() throws {
        #expect(throws: DomainError.self) { try ClientFixture.make(givenName: "  ") }
        #expect(throws: DomainError.self) { try ClientFixture.make(familyName: "") }
        #expect(throws: DomainError.self) { try ClientFixture.make(givenName: "\t\u{A0}\u{3000}") }
        #expect(try ClientFixture.make(givenName: " Ana ").givenName == " Ana ")
    }

    @Test("the identity key ignores case, accents, spacing and postal-code format")
    func identityKeyNormalises() throws {
        let first = try ClientFixture.make(givenName: "Élodie", familyName: "Tremblay-Côté", postalCode: "k1a0b1")
        let second = try ClientFixture.make(givenName: " elodie ", familyName: "TREMBLAY COTE", postalCode: "K1A 0B1")
        #expect(first.identityKey == second.identityKey)
        #expect(first.identityKey.hasSuffix("|1958-03-14|K1A 0B1"))
        // ASCII names take a shorter path to the same key.
        let ascii = try ClientFixture.make(givenName: "Mary-Ann 2", familyName: "O'Brien", postalCode: "k1a0b1")
        let accented = try ClientFixture.make(givenName: "máry ánn2", familyName: "ÓBRIEN", postalCode: "K1A 0B1")
        #expect(ascii.identityKey == accented.identityKey)
        #expect(ascii.identityKey == "maryann2|obrien|1958-03-14|K1A 0B1")
    }

    @Test("the identity key tells different people apart")
    func identityKeyDistinguishes() throws {
        let elodie = try ClientFixture.make().identityKey
        let otherBirthDate = try ClientFixture.make(birthDate: "1958-03-15").identityKey
        let otherName = try ClientFixture.make(givenName: "Eloise").identityKey
        let noPostalCode = try ClientFixture.make(postalCode: nil).identityKey
        #expect(elodie != otherBirthDate)
        #expect(elodie != otherName)
        #expect(elodie != noPostalCode)
    }

    @Test("language codes are two or three lowercase letters")
    func languageCodes() {
        #expect(Language.isValid("fr"))
        #expect(Language.isValid("oji"))
        #expect(!Language.isValid("FR"))
        #expect(!Language.isValid("fren"))
    }
}

@Suite("Calendar dates by arithmetic")
struct CalendarArithmeticTests {
    @Test("a month has its Gregorian days, leap years included")
    func monthLengths() throws {
        #expect(try CalendarDate(year: 2000, month: 2, day: 29).description == "2000-02-29")
        #expect(try CalendarDate(year: 2024, month: 2, day: 29).day == 29)
        for (year, month, day) in [(1900, 2, 29), (2023, 2, 29), (2026, 4, 31), (2026, 13, 1), (2026, 0, 1), (2026, 1, 0), (2026, 12, 32), (1850, 1, 1)] {
            #expect(throws: DomainError.self, "\(year)-\(month)-\(day)") { try CalendarDate(year: year, month: month, day: day) }
        }
    }

    @Test("an instant's date is its UTC date, as Foundation's Gregorian calendar gives it")
    func fromInstants() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SystemRandomNumberGenerator()
        let instants =
            (0..<2_000).map { _ in Date(timeIntervalSince1970: Double.random(in: -4_000_000_000...4_000_000_000, using: &generator)) }
            + [
                Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.5), Date(timeIntervalSince1970: 951_782_399.9),
                Date(timeIntervalSince1970: 951_782_400),
            ]
        for instant in instants {
            let expected = calendar.dateComponents([.year, .month, .day], from: instant)
            let date = CalendarDate(instant)
            #expect([date.year, date.month, date.day] == [expected.year, expected.month, expected.day], "\(instant.timeIntervalSince1970)")
        }
    }
}

@Suite("Postal codes")
struct PostalCodeTests {
    @Test("postal codes are normalised")
    func normalised() {
        #expect(PostalCode.normalised("k1a0b1") == "K1A 0B1")
        #expect(PostalCode.normalised("K1A 0B1") == "K1A 0B1")
        #expect(PostalCode.normalised(" k1a-0b1 ") == "K1A 0B1")
        #expect(PostalCode.normalised("SW1A 1AA") == "SW1A1AA")
        #expect(PostalCode.normalised("75008") == "75008")
        #expect(PostalCode.normalised("123456") == "123456")
        // Text beyond ASCII takes the general path to the same codes.
        #expect(PostalCode.normalised("k1a\u{A0}0b1") == "K1A 0B1")
        #expect(PostalCode.normalised("\u{2003}sw1a 1aa") == "SW1A1AA")
        #expect(PostalCode.normalised("k1a 0b1é") == nil)
    }

    @Test("malformed postal codes give nil")
    func malformed() {
        #expect(PostalCode.normalised("K1") == nil)
        #expect(PostalCode.normalised("K1A@0B1") == nil)
        #expect(PostalCode.normalised("ABCDEFGHIJK") == nil)
        #expect(PostalCode.normalised("") == nil)
    }

    @Test("the area is the first three characters of the normalised code")
    func area() {
        #expect(PostalCode.area("k1a 0b1") == "K1A")
        #expect(PostalCode.area("h2x1y4") == "H2X")
        #expect(PostalCode.area("K1") == nil)
    }
}

@Suite("Contact details")
struct ContactDetailsTests {
    @Test(
        "phone numbers that are accepted",
        arguments: [
            "+1 613 555 0142", "(613) 555.0142", "613-555-0142", "6135550142", "+33 1 42 68 53 00", "5550142",
            "+1+613 555 0142", "٦١٣٥٥٥٠١٤٢",
        ])
    func goodPhone(phone: String) throws {
        #expect(ContactDetails.isPhone(phone))
        #expect(try ContactDetails(phone: phone).phone == phone)
    }

    @Test("phone numbers that are rejected", arguments: ["555-01", "1-800-FLOWERS", "613+5550142", "+1234567890123456", "", "call me"])
    func badPhone(phone: String) {
        #expect(!ContactDetails.isPhone(phone))
        #expect(throws: DomainError.self) { try ContactDetails(phone: phone) }
    }

    @Test("e-mail addresses that are accepted", arguments: ["elodie@example.ca", "a.b+c@sub.example.org"])
    func goodEmail(email: String) throws {
        #expect(ContactDetails.isEmail(email))
        #expect(try ContactDetails(email: email).email == email)
    }

    @Test(
        "e-mail addresses that are rejected",
        arguments: ["elodie", "elodie@", "@example.ca", "elodie@example", "elodie@.example.ca", "elodie@example.ca.", "elo die@example.ca", "a@b@example.ca"])
    func badEmail(email: String) {
        #expect(!ContactDetails.isEmail(email))
        #expect(throws: DomainError.self) { try ContactDetails(email: email) }
    }

    @Test("no contact details at all is allowed")
    func empty() throws {
        let contact = try ContactDetails()
        #expect(contact.phone == nil)
        #expect(contact.email == nil)
    }
}

// MARK: - Dates, ages, places

@Suite("Calendar dates and ages")
struct CalendarDateTests {
    @Test(
        "only real dates in YYYY-MM-DD parse",
        arguments: ["2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "2024-2-29", "24-02-29", "2024/02/29", "1850-01-01", "yesterday", ""])
    func rejects(text: String) {
        #expect(throws: DomainError.self) { try CalendarDate(text) }
    }

    @Test("a leap day parses in a leap year")
    func leapDay() throws {
        let date = try CalendarDate("2024-02-29")
        #expect(date.year == 2024)
        #expect(date.month == 2)
        #expect(date.day == 29)
        #expect(date.description == "2024-02-29")
        let fromParts = try CalendarDate(year: 2024, month: 2, day: 29)
        #expect(date == fromParts)
        #expect(throws: DomainError.self) { try CalendarDate(year: 2023, month: 2, day: 29) }
    }

    @Test("dates compare chronologically")
    func ordering() throws {
        let leapDay = try CalendarDate("2024-02-29")
        let march = try CalendarDate("2024-03-01")
        let newYearsEve = try CalendarDate("2023-12-31")
        let newYear = try CalendarDate("2024-01-01")
        #expect(leapDay < march)
        #expect(newYearsEve < newYear)
        #expect(!(march < march))
    }

    @Test("a date encodes as YYYY-MM-DD and refuses impossible dates on decode")
    func coding() throws {
        let encoded = try JSONEncoder().encode([CalendarDate("1958-03-14")])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["1958-03-14"]"#)
        let decoded = try JSONDecoder().decode([CalendarDate].self, from: Data(#"["2024-02-29"]"#.utf8))
        let leapDay = try CalendarDate(year: 2024, month: 2, day: 29)
        #expect(decoded == [leapDay])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([CalendarDate].self, from: Data(#"["2023-02-29"]"#.utf8))
        }
    }

    @Test("the calendar date of an instant is taken in UTC")
    func fromDate() {
        #expect(CalendarDate(Date(timeIntervalSince1970: 0)).description == "1970-01-01")
        #expect(CalendarDate(Date(timeIntervalSince1970: 1_795_000_000)).description == "2026-11-18")
    }

    @Test("age counts whole years and turns over on the birthday")
    func age() throws {
        let cases: [(birth: String, on: String, age: Int)] = [
            ("1958-03-14", "2026-03-13", 67),
            ("1958-03-14", "2026-03-14", 68),
            ("1958-03-14", "2026-03-15", 68),
            ("1958-03-14", "2026-11-18", 68),
            ("2000-02-29", "2023-02-28", 22),
            ("2000-02-29", "2023-03-01", 23),
            ("2000-02-29", "2024-02-29", 24),
            ("2026-11-18", "2026-11-18", 0),
        ]
        for (birth, on, expected) in cases {
            let years = try CalendarDate(birth).age(on: CalendarDate(on))
            #expect(years == expected, "born \(birth), on \(on)")
        }
    }

    @Test("age bands have the published boundaries")
    func ageBands() {
        let cases: [(age: Int, band: String)] = [
            (0, "0-17"), (17, "0-17"), (18, "18-24"), (24, "18-24"), (25, "25-44"), (44, "25-44"),
            (45, "45-64"), (64, "45-64"), (65, "65-74"), (74, "65-74"), (75, "75+"), (104, "75+"),
        ]
        for (age, band) in cases {
            #expect(AgeBand(age: age).rawValue == band, "age \(age)")
        }
        #expect(AgeBand(age: 17) == .under18)
        #expect(AgeBand(age: 75) == .from75)
        #expect(AgeBand.allCases.map(\.rawValue) == ["0-17", "18-24", "25-44", "45-64", "65-74", "75+"])
    }
}

@Suite("Coordinates")
struct CoordinatesTests {
    @Test("Ottawa to Montréal is about 166 km as the crow flies")
    func ottawaToMontreal() throws {
        let ottawa = try Coordinates(latitude: 45.4215, longitude: -75.6972)
        let montreal = try Coordinates(latitude: 45.5019, longitude: -73.5674)
        let distance = ottawa.distanceKilometres(to: montreal)
        #expect(abs(distance - 166) <= 2, "\(distance) km")
        #expect(abs(montreal.distanceKilometres(to: ottawa) - distance) < 1e-9)
        #expect(ottawa.distanceKilometres(to: ottawa) == 0)
    }

    @Test("latitude and longitude must be in range")
    func outOfRange() throws {
        #expect(throws: DomainError.self) { try Coordinates(latitude: 90.5, longitude: 0) }
        #expect(throws: DomainError.self) { try Coordinates(latitude: 0, longitude: -180.5) }
        #expect(try Coordinates(latitude: -90, longitude: 180).latitude == -90)
    }
}

// MARK: - Outcome instruments

@Suite("Outcome instruments")
struct OutcomeInstrumentTests {
    @Test("ONS4 reports each item as its own score")
    func ons4() throws {
        let scores = try OutcomeInstrument.ons4.score([7, 8, 6, 3]).get()
        let expected: [String: Double] = ["life-satisfaction": 7, "worthwhile": 8, "happiness": 6, "anxiety": 3]
        #expect(scores == expected)
    }

    @Test("UCLA3 reports the total of its three items")
    func ucla3() throws {
        let scores = try OutcomeInstrument.ucla3.score([1, 2, 3]).get()
        #expect(scores.count == 1)
        #expect(scores["total"] == 6)
        #expect(try OutcomeInstrument.ucla3.score([3, 3, 3]).get()["total"] == 9)
    }

    @Test("SWEMWBS converts the raw total with the metric table")
    func swemwbs() throws {
        let lowest = try OutcomeInstrument.swemwbs.score(Array(repeating: 1, count: 7)).get()
        #expect(lowest["raw"] == 7)
        #expect(lowest["metric"] == 7.00)

        let highest = try OutcomeInstrument.swemwbs.score(Array(repeating: 5, count: 7)).get()
        #expect(highest["raw"] == 35)
        #expect(highest["metric"] == 35.00)

        let middle = try OutcomeInstrument.swemwbs.score([3, 3, 3, 3, 3, 3, 3]).get()
        #expect(middle["raw"] == 21)
        #expect(middle["metric"] == 19.25)
    }

    @Test("SWEMWBS metric scores rise with every raw total from 7 to 35")
    func swemwbsMonotonic() throws {
        var previous = -Double.infinity
        for raw in 7...35 {
            var answers = Array(repeating: 1, count: 7)
            var remaining = raw - 7
            for index in answers.indices {
                let add = min(4, remaining)
                answers[index] += add
                remaining -= add
            }
            let scores = try OutcomeInstrument.swemwbs.score(answers.map { Optional($0) }).get()
            #expect(scores["raw"] == Double(raw))
            let metric = try #require(scores["metric"])
            #expect(metric > previous, "raw \(raw)")
            previous = metric
        }
    }

    @Test("validation lists every problem, not just the first")
    func everyProblem() {
        let result = OutcomeInstrument.ucla3.score([1, nil, 4, 0])
        guard case .failure(let error) = result else {
            Issue.record("expected validation problems, got \(result)")
            return
        }
        let items: [Int?] = error.problems.map(\.item)
        let expectedItems: [Int?] = [nil, 1, 2, 3]
        #expect(items == expectedItems)
        let messages: [String] = error.problems.map(\.message)
        let expectedMessages: [String] = [
            "ucla3 has 3 items, got 4",
            "item 2 is unanswered",
            "item 3 must be between 1 and 3, got 4",
            "item 4 must be between 1 and 3, got 0",
        ]
        #expect(messages == expectedMessages)
    }

    @Test("too few answers is a problem on its own", arguments: OutcomeInstrument.all.map(\.code))
    func tooFew(code: String) throws {
        let instrument = try #require(OutcomeInstrument.all.first { $0.code == code })
        let answers: [Int?] = Array(repeating: instrument.itemRange.lowerBound, count: instrument.itemCount - 1)
        guard case .failure(let error) = instrument.score(answers) else {
            Issue.record("\(code) scored \(answers)")
            return
        }
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.item == nil)
    }

    @Test("the instruments and their shapes")
    func catalogue() {
        #expect(OutcomeInstrument.all.map(\.code) == ["ons4", "ucla3", "swemwbs"])
        #expect(OutcomeInstrument.ons4.itemCount == 4)
        #expect(OutcomeInstrument.ons4.itemRange == 0...10)
        #expect(OutcomeInstrument.ucla3.itemCount == 3)
        #expect(OutcomeInstrument.ucla3.itemRange == 1...3)
        #expect(OutcomeInstrument.swemwbs.itemCount == 7)
        #expect(OutcomeInstrument.swemwbs.itemRange == 1...5)
    }
}

// MARK: - Connections, link workers, resources, referrals

@Suite("Connections")
struct ConnectionStatusTests {
    @Test("each connection status allows the next steps of the loop")
    func transitions() {
        let expected: [ConnectionStatus: [ConnectionStatus]] = [
            .proposed: [.accepted, .declined, .dropped],
            .accepted: [.enrolled, .declined, .dropped],
            .enrolled: [.attended, .dropped],
            .attended: [.attended, .dropped],
            .dropped: [],
            .declined: [],
        ]
        for status in ConnectionStatus.allCases {
            #expect(status.allowedNext == expected[status], "\(status)")
        }
    }

    @Test("dropped and declined are closed, everything else is open")
    func openness() {
        for status in ConnectionStatus.allCases {
            #expect(status.isOpen == !status.allowedNext.isEmpty, "\(status)")
        }
        #expect(!ConnectionStatus.dropped.isOpen)
        #expect(!ConnectionStatus.declined.isOpen)
        #expect(ConnectionStatus.attended.isOpen)
    }

    @Test("a new connection starts as proposed")
    func newConnection() {
        let connection = Connection(id: UUID(), referralID: UUID(), resourceID: UUID())
        #expect(connection.status == .proposed)
        #expect(connection.reason == nil)
    }
}

@Suite("Link workers")
struct LinkWorkerTests {
    static func worker(capacity: Int = 20, caseload: Int = 0, languages: [String] = ["fr", "en"]) throws(DomainError) -> LinkWorker {
        try LinkWorker(
            id: UUID(uuidString: "0B9D3E4F-5A6B-4C7D-8E9F-A0B1C2D3E4F5")!, name: "Amina Diallo", site: "ottawa-west-chc",
            languages: languages, caseloadCapacity: capacity, currentCaseload: caseload)
    }

    @Test("load is the share of the caseload in use")
    func load() throws {
        #expect(try Self.worker(caseload: 0).load == 0)
        #expect(try Self.worker(caseload: 5).load == 0.25)
        #expect(try Self.worker(caseload: 20).load == 1)
        #expect(try Self.worker(caseload: 25).load == 1.25)
    }

    @Test("capacity, caseload and languages are checked")
    func validation() {
        #expect(throws: DomainError.self) { try Self.worker(capacity: 0) }
        #expect(throws: DomainError.self) { try Self.worker(caseload: -1) }
        #expect(throws: DomainError.self) { try Self.worker(languages: []) }
        #expect(throws: DomainError.self) { try Self.worker(languages: ["EN"]) }
    }
}

@Suite("Community resources")
struct CommunityResourceTests {
    @Test("an in-person resource needs somewhere to go")
    func inPersonNeedsPlace() throws {
        let social = try NeedCategory(code: "social-isolation")
        #expect(throws: DomainError.self) {
            try CommunityResource(
                id: UUID(), organisation: "CHC", name: "Walking group", kind: .healthChampionGroup, categories: [social],
                description: "Tuesday walks", languages: ["fr"], delivery: [.inPerson])
        }
        let resource = try CommunityResource(
            id: UUID(), organisation: "CHC", name: "Walking group", kind: .healthChampionGroup, categories: [social],
            description: "Tuesday walks", languages: ["fr"], delivery: [.inPerson], address: "100 Main St")
        #expect(resource.active)
        #expect(resource.capacity.hasRoom)
    }

    @Test("capacity has room until every seat is taken; no seat limit means always room")
    func capacity() {
        #expect(CommunityResource.Capacity(seats: 10, seatsTaken: 9).hasRoom)
        #expect(!CommunityResource.Capacity(seats: 10, seatsTaken: 10).hasRoom)
        #expect(CommunityResource.Capacity(seats: nil, seatsTaken: 500).hasRoom)
    }
}

@Suite("Referrals")
struct ReferralTests {
    static func referral(needs: [NeedCategory], site: String = "ottawa-west-chc") throws(DomainError) -> Referral {
        try Referral(
            id: UUID(), clientID: UUID(), referrer: Referrer(id: "cpso-104729", role: .physician), site: site, needs: needs,
            supportLevel: .light, priority: .routine, consent: Consent(contact: true, shareWithPartners: true, evaluationUse: false),
            receivedAt: Date(timeIntervalSince1970: 1_795_000_000))
    }

    @Test("a new referral is received, at version 1, updated when received")
    func defaults() throws {
        let referral = try Self.referral(needs: [NeedCategory(code: "housing")])
        #expect(referral.status == .received)
        #expect(referral.version == 1)
        #expect(referral.updatedAt == referral.receivedAt)
    }

    @Test("a referral needs a need and a valid site")
    func validation() throws {
        let housing = try NeedCategory(code: "housing")
        #expect(throws: DomainError.self) { try Self.referral(needs: []) }
        #expect(throws: DomainError.self) { try Self.referral(needs: [housing], site: "Ottawa West") }
        #expect(Site.isValid("ottawa-west-chc"))
        #expect(!Site.isValid("x"))
    }
}
