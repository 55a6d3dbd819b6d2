import Domain
import Foundation
import Testing

@Suite("Privacy rules: a known client referred again, what travels, what is redacted")
struct PrivacyRuleTests {
    static let today = CalendarDate(Date())

    static func client(
        phone: String? = "+1 613 555 0142", email: String? = "elodie@example.org", language: String = "fr", channel: ContactChannel = .email,
        coordinates: Coordinates? = nil, consent: Consent = Consent(contact: true, shareWithPartners: true, evaluationUse: true),
        sociodemographics: Sociodemographics? = nil
    ) throws -> Client {
        try Client(
            id: UUID(), givenName: "Élodie", familyName: "Gagnon", birthDate: try CalendarDate("1948-05-12"),
            contact: try ContactDetails(phone: phone, email: email),
            preferredLanguage: language, postalCode: "K1Y 4E9", coordinates: coordinates, preferredChannel: channel, consent: consent,
            sociodemographics: sociodemographics, today: today)
    }

    @Test("a second referral's form defaults do not reset consent, channel or language")
    func consentFollowsThePerson() throws {
        let recorded = try Self.client()
        // What the FHIR door assumes when the EHR says nothing: no sharing, no evaluation use, English, SMS.
        let again = try Self.client(
            phone: "+1 613 555 0142", email: nil, language: "en", channel: .sms, consent: Consent(contact: true, shareWithPartners: false, evaluationUse: false)
        )
        let merged = recorded.referredAgain(with: again)
        #expect(merged.consent == recorded.consent)
        #expect(merged.preferredChannel == .email && merged.preferredLanguage == "fr")
        #expect(merged.id == recorded.id)
        #expect(merged == recorded, "nothing new: no new profile")
    }

    @Test("newer contact details and location replace stale ones; absent ones keep what is recorded")
    func contactFollowsTheNewestReferral() throws {
        let recorded = try Self.client()
        let again = try Self.client(phone: "+1 613 555 0199", email: nil, channel: .sms, coordinates: try Coordinates(latitude: 45.4, longitude: -75.7))
        let merged = recorded.referredAgain(with: again)
        #expect(merged.contact.phone == "+1 613 555 0199")
        #expect(merged.contact.email == "elodie@example.org", "an e-mail the new form left out is not erased by it")
        #expect(merged.coordinates == again.coordinates)
        #expect(merged != recorded)
    }

    @Test("sociodemographics newly given are kept only while the recorded consent allows evaluation use")
    func sociodemographicsFollowRecordedConsent() throws {
        let answers = Sociodemographics(gender: nil, incomeBand: nil, newcomer: true, disability: nil, racialOrEthnicGroup: nil)
        let withoutConsent = try Self.client(consent: Consent(contact: true, shareWithPartners: false, evaluationUse: false))
        #expect(withoutConsent.referredAgain(with: try Self.client(sociodemographics: answers)).sociodemographics == nil)
        let withConsent = try Self.client()
        #expect(withConsent.referredAgain(with: try Self.client(sociodemographics: answers)).sociodemographics == answers)
    }

    @Test("a location leaves intake as the centre of its 0.01° cell")
    func gridCell() throws {
        let point = try Coordinates(latitude: 45.40712, longitude: -75.71358)
        #expect(point.gridCell == (try Coordinates(latitude: 45.41, longitude: -75.71)))
        #expect(point.gridCell.distanceKilometres(to: point) < 1)
        #expect(point.gridCell.gridCell == point.gridCell)
    }

    @Test("codes travel; words a person wrote do not")
    func eventCodes() {
        #expect(EventCode.code("goals-met") == "goals-met")
        #expect(EventCode.code("client in hospital") == nil)
        #expect(EventCode.code("Hospitalisée") == nil)
        #expect(EventCode.code("-x") == nil && EventCode.code("a--b") == nil && EventCode.code(String(repeating: "a", count: 65)) == nil)
        #expect(EventCode.code(nil) == nil)
    }

    @Test("a referral carries the recorded consent, narrowed for itself when it says not to contact")
    func referralConsent() throws {
        let recorded = try Self.client()
        let defaults = Consent(contact: true, shareWithPartners: false, evaluationUse: false)
        #expect(recorded.consent(forReferralSubmitted: defaults) == recorded.consent)
        let prohibited = Consent(contact: false, shareWithPartners: false, evaluationUse: false)
        #expect(recorded.consent(forReferralSubmitted: prohibited) == Consent(contact: false, shareWithPartners: true, evaluationUse: true))
        // A referral cannot widen what the client refused.
        let refused = try Self.client(consent: Consent(contact: false, shareWithPartners: false, evaluationUse: false))
        #expect(refused.consent(forReferralSubmitted: Consent(contact: true, shareWithPartners: true, evaluationUse: true)) == refused.consent)
    }

    @Test("delivery errors lose addresses and numbers, whatever the relay quotes back")
    func redaction() {
        let smtp = "550 5.1.1 <invalid.elodie@example.org>: Recipient address rejected: no such mailbox"
        #expect(ContactRedaction.redact(smtp) == "550 5.1.1 <<address>>: Recipient address rejected: no such mailbox")
        #expect(ContactRedaction.redact("gateway said: +1 (613) 555-0142 is not reachable") == "gateway said: <number> is not reachable")
        #expect(ContactRedaction.redact("6135550142 unknown") == "<number> unknown")
        // The recipient's own address in any case, and a number written with dots.
        #expect(ContactRedaction.redact("ELODIE@EXAMPLE.ORG bounced", known: ["elodie@example.org"]) == "<recipient> bounced")
        #expect(ContactRedaction.redact("613.555.0142 refused", known: ["613.555.0142"]) == "<recipient> refused")
        // What is not a contact stays readable.
        #expect(ContactRedaction.redact("HTTP 503 from 127.0.0.1:8080 after 3 attempts") == "HTTP 503 from 127.0.0.1:8080 after 3 attempts")
        #expect(ContactRedaction.redact("451 4.3.0 mailbox busy, try later") == "451 4.3.0 mailbox busy, try later")
    }
}
