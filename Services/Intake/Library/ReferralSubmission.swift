import Domain
import Foundation
import HTTPTypes
import ServiceRuntime
import WireFormats

/// The body of `POST /v1/referrals` (from the JSON door or a FHIR bundle), every member optional
/// so that validation can report every problem at once (with its JSON pointer) instead of
/// stopping at the first.
struct ReferralSubmission: Sendable {
    struct ClientPart: Sendable {
        var givenName: String?
        var familyName: String?
        var birthDate: String?
        var contact: ContactPart?
        var preferredLanguage: String?
        var postalCode: String?
        var coordinates: CoordinatesPart?
        var accessibilityNeeds: [String]?
        var preferredChannel: String?
        var sociodemographics: SociodemographicsPart?
    }
    struct SociodemographicsPart: Sendable {
        var gender: String?
        var incomeBand: String?
        var newcomer: Bool?
        var disability: Bool?
        var racialOrEthnicGroup: String?
    }
    struct ContactPart: Sendable {
        var phone: String?
        var email: String?
    }
    struct CoordinatesPart: Sendable {
        var latitude: Double
        var longitude: Double
    }
    struct ReferrerPart: Sendable {
        var id: String?
        var role: String?
        var organisation: String?
    }
    struct ConsentPart: Sendable {
        var contact: Bool?
        var shareWithPartners: Bool?
        var evaluationUse: Bool?
    }

    var externalId: String?
    var client: ClientPart?
    var referrer: ReferrerPart?
    var site: String?
    var needs: [String]?
    var interests: [String]?
    var supportLevel: String?
    var priority: String?
    var consent: ConsentPart?
    var notes: String?
    var screeningAnswers: [String: String]?
}

extension ReferralSubmission {
    /// The body the generated code has decoded (its types checked, unknown members refused),
    /// member by member: one decode per submission, not a second read of the bytes.
    init(_ body: Components.Schemas.ReferralSubmission) {
        let client = body.client
        self.init(
            externalId: body.externalId,
            client: ClientPart(
                givenName: client.givenName, familyName: client.familyName, birthDate: client.birthDate,
                contact: client.contact.map { ContactPart(phone: $0.phone, email: $0.email) },
                preferredLanguage: client.preferredLanguage, postalCode: client.postalCode,
                coordinates: client.coordinates.map { CoordinatesPart(latitude: $0.latitude, longitude: $0.longitude) },
                accessibilityNeeds: client.accessibilityNeeds, preferredChannel: client.preferredChannel,
                sociodemographics: client.sociodemographics.map {
                    SociodemographicsPart(
                        gender: $0.gender, incomeBand: $0.incomeBand, newcomer: $0.newcomer, disability: $0.disability,
                        racialOrEthnicGroup: $0.racialOrEthnicGroup)
                }),
            referrer: ReferrerPart(id: body.referrer.id, role: body.referrer.role, organisation: body.referrer.organisation),
            site: body.site, needs: body.needs, interests: body.interests, supportLevel: body.supportLevel, priority: body.priority,
            consent: ConsentPart(
                contact: body.consent.contact, shareWithPartners: body.consent.shareWithPartners, evaluationUse: body.consent.evaluationUse),
            notes: body.notes, screeningAnswers: body.screeningAnswers?.additionalProperties)
    }
}

/// A submission that passed validation.
struct ValidReferral: Sendable {
    var referral: Referral
    var client: Client
}

extension ReferralSubmission {
    /// Checks every field; returns the referral and client, or every failure with its pointer.
    func validated(referralID: UUID, clientID: UUID, now: Date) throws(ProblemDetails) -> ValidReferral {
        var checks = FieldChecks()
        func fail(_ pointer: String, _ detail: String) { checks.fail(pointer, detail) }
        func required<T>(_ value: T?, _ pointer: String) -> T? { checks.required(value, at: pointer) }
        func text(_ value: String?, _ pointer: String, max: Int, required isRequired: Bool = true) -> String? {
            checks.text(value, at: pointer, max: max, required: isRequired)
        }
        func choice<E: RawRepresentable & CaseIterable>(_ value: String?, _ type: E.Type, _ pointer: String) -> E? where E.RawValue == String {
            checks.choice(value, type, at: pointer)
        }

        if let externalId, externalId.isEmpty || externalId.unicodeScalars.count > 128 { fail("/externalId", "must be 1 to 128 characters") }
        let site = text(self.site, "/site", max: 64)
        if let site, !Site.isValid(site) { fail("/site", "must be a site code: lowercase letters, digits and dashes") }

        var needs: [NeedCategory] = []
        if let codes = required(self.needs, "/needs") {
            if codes.isEmpty { fail("/needs", "must list at least one need category") }
            for (index, code) in codes.enumerated() {
                do { needs.append(try NeedCategory(code: code)) } catch {
                    fail("/needs/\(index)", "\"\(code)\" is not a need category (see the need code list)")
                }
            }
            if Set(codes).count != codes.count { fail("/needs", "lists a need category twice") }
        }
        let interests = (self.interests ?? []).enumerated().compactMap { index, tag -> String? in
            if tag.unicodeScalars.count > 40 {
                fail("/interests/\(index)", "must be 1 to 40 characters")
                return nil
            }
            let tag = tag.trimmingWhitespace(.whitespaces).lowercased()
            if tag.isEmpty {
                fail("/interests/\(index)", "must be 1 to 40 characters")
                return nil
            }
            return tag
        }
        if interests.count > 30 { fail("/interests", "at most 30 interests") }
        let supportLevel = choice(self.supportLevel, SupportLevel.self, "/supportLevel")
        let priority = self.priority == nil ? ReferralPriority.routine : choice(self.priority, ReferralPriority.self, "/priority")
        let notes = text(self.notes, "/notes", max: 4000, required: false)
        if let answers = screeningAnswers {
            if answers.count > 100 { fail("/screeningAnswers", "at most 100 answers") }
            for (code, answer) in answers where code.isEmpty || code.unicodeScalars.count > 64 || answer.unicodeScalars.count > 500 {
                fail("/screeningAnswers/\(code)", "question codes are 1 to 64 characters, answers at most 500")
            }
        }

        var referrerValue: Referrer?
        if let referrer = required(self.referrer, "/referrer") {
            let id = text(referrer.id, "/referrer/id", max: 128)
            let role = choice(referrer.role, ReferrerRole.self, "/referrer/role")
            let organisation = text(referrer.organisation, "/referrer/organisation", max: 200, required: false)
            if let id, let role { referrerValue = Referrer(id: id, role: role, organisation: organisation) }
        }

        var consentValue: Consent?
        if let consent = required(self.consent, "/consent") {
            let contact = required(consent.contact, "/consent/contact")
            let share = required(consent.shareWithPartners, "/consent/shareWithPartners")
            let evaluation = required(consent.evaluationUse, "/consent/evaluationUse")
            if let contact, let share, let evaluation { consentValue = Consent(contact: contact, shareWithPartners: share, evaluationUse: evaluation) }
        }

        var clientValue: Client?
        if let client = required(self.client, "/client") {
            let given = text(client.givenName, "/client/givenName", max: 100)
            let family = text(client.familyName, "/client/familyName", max: 100)
            var birthDate: CalendarDate?
            if let text = required(client.birthDate, "/client/birthDate") {
                do {
                    let date = try CalendarDate(text)
                    if date > CalendarDate(now) { fail("/client/birthDate", "is in the future") } else { birthDate = date }
                } catch { fail("/client/birthDate", "must be a date written YYYY-MM-DD") }
            }
            var contact: ContactDetails?
            let phone = client.contact?.phone
            let email = client.contact?.email
            if let phone, !ContactDetails.isPhone(phone) { fail("/client/contact/phone", "is not a phone number") }
            if let email, !ContactDetails.isEmail(email) { fail("/client/contact/email", "is not an e-mail address") }
            contact = try? ContactDetails(phone: phone, email: email)
            let language = text(client.preferredLanguage, "/client/preferredLanguage", max: 3)?.lowercased()
            if let language, !Language.isValid(language) { fail("/client/preferredLanguage", "must be a language code such as fr or en") }
            if let postal = client.postalCode, PostalCode.normalised(postal) == nil { fail("/client/postalCode", "is not a postal code") }
            var coordinates: Coordinates?
            if let point = client.coordinates {
                do { coordinates = try Coordinates(latitude: point.latitude, longitude: point.longitude) } catch {
                    fail("/client/coordinates", "latitude must be within ±90 and longitude within ±180")
                }
            }
            let channel = choice(client.preferredChannel, ContactChannel.self, "/client/preferredChannel")
            if channel == .email && email == nil { fail("/client/contact/email", "is required when the preferred channel is email") }
            if (channel == .sms || channel == .phone) && phone == nil {
                fail("/client/contact/phone", "is required when the preferred channel is \(channel!.rawValue)")
            }
            var sociodemographics: Sociodemographics?
            if let answers = client.sociodemographics {
                if consentValue?.evaluationUse == false { fail("/client/sociodemographics", "are collected only with consent to evaluation use") }
                func optionalChoice<E: RawRepresentable & CaseIterable>(_ value: String?, _ type: E.Type, _ field: String) -> E? where E.RawValue == String {
                    value == nil ? nil : choice(value, type, "/client/sociodemographics/\(field)")
                }
                sociodemographics = Sociodemographics(
                    gender: optionalChoice(answers.gender, Gender.self, "gender"),
                    incomeBand: optionalChoice(answers.incomeBand, IncomeBand.self, "incomeBand"), newcomer: answers.newcomer,
                    disability: answers.disability,
                    racialOrEthnicGroup: optionalChoice(answers.racialOrEthnicGroup, PopulationGroup.self, "racialOrEthnicGroup"))
            }
            if checks.errors.isEmpty, let given, let family, let birthDate, let contact, let language, let channel, let consentValue {
                do {
                    clientValue = try Client(
                        id: clientID, givenName: given, familyName: family, birthDate: birthDate, contact: contact,
                        preferredLanguage: language, postalCode: client.postalCode, coordinates: coordinates,
                        accessibilityNeeds: client.accessibilityNeeds ?? [], preferredChannel: channel, consent: consentValue,
                        sociodemographics: sociodemographics, today: CalendarDate(now))
                } catch {
                    fail("/client", error.description)
                }
            }
        }

        guard checks.errors.isEmpty, let clientValue, let referrerValue, let site, let supportLevel, let priority, let consentValue else {
            throw ProblemDetails.validation(checks.errors.isEmpty ? [.init(pointer: "", detail: "the referral is incomplete")] : checks.errors)
        }
        do {
            let referral = try Referral(
                id: referralID, externalID: externalId, clientID: clientValue.id, referrer: referrerValue, site: site, needs: needs,
                interests: interests, supportLevel: supportLevel, priority: priority, consent: consentValue, notes: notes,
                screeningAnswers: screeningAnswers ?? [:], receivedAt: now)
            return ValidReferral(referral: referral, client: clientValue)
        } catch {
            throw ProblemDetails.validation([.init(pointer: "", detail: error.description)])
        }
    }
}
