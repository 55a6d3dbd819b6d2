import Domain
import Foundation
import HTTPTypes
import ServiceRuntime
import WireFormats

/// Turns a Gravity-shaped ServiceRequest (with its Patient and optional Consent and
/// QuestionnaireResponse) into the same submission the JSON API takes, so both paths share one
/// validation. What cannot be mapped is refused with an OperationOutcome saying why.
enum FHIRReferralMapping {
    static let gravityCategorySystem = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

    struct Inputs: Sendable {
        var serviceRequest: FHIR.ServiceRequest
        var patient: FHIR.Patient
        var consent: FHIR.Consent?
        var questionnaire: FHIR.QuestionnaireResponse?
        /// Where each resource sits in the request, as FHIRPath (`ServiceRequest`, or
        /// `Bundle.entry[1].resource` in a Bundle), so every issue points at its element.
        var paths = Paths()
    }

    struct Paths: Sendable {
        var serviceRequest = "ServiceRequest"
        var patient = "Patient"
        var consent = "Consent"
        var questionnaire = "QuestionnaireResponse"
    }

    /// Who sent the request and what the deployment falls back on: a ServiceRequest naming no
    /// performer goes to the sender's own site (its token's `site` claim), else to the
    /// configured default organization.
    struct Sender: Sendable {
        var identity: Identity
        var defaultOrganization: String?
    }

    static func submission(_ inputs: Inputs, sender: Sender) throws(OperationOutcome) -> ReferralSubmission {
        let request = inputs.serviceRequest
        let path = inputs.paths.serviceRequest
        var issues: [OperationOutcome.Issue] = []
        func fail(_ expression: String, _ text: String, code: String = "invalid") {
            issues.append(.init(code: code, diagnostics: "\(expression): \(text)", expression: [expression]))
        }

        // Gravity SDOH categories → need codes; other code systems (e.g. SNOMED social service) are context only.
        var needs: [String] = []
        for (index, category) in (request.category ?? []).enumerated() {
            for (position, coding) in (category.coding ?? []).enumerated() where coding.system == gravityCategorySystem {
                guard let code = coding.code, let mapped = GravitySDOHCategory.needCategories(for: code) else {
                    fail(
                        "\(path).category[\(index)].coding[\(position)].code",
                        "the Gravity SDOH category \(coding.code ?? "(no code)") has no Passerelle need category", code: "code-invalid")
                    continue
                }
                needs += mapped.map(\.code).filter { !needs.contains($0) }
            }
        }
        if !(request.category ?? []).contains(where: { ($0.coding ?? []).contains { $0.system == gravityCategorySystem } }) {
            fail("\(path).category", "at least one Gravity SDOH category (\(gravityCategorySystem)) is required", code: "required")
        }

        let site: String
        if let performer = request.performer?.first {
            let named = performer.reference.flatMap(referenceID) ?? ""
            guard Site.isValid(named) else {
                fail(
                    "\(path).performer[0].reference",
                    "must reference the Passerelle site that receives the referral, e.g. Organization/ottawa-west-chc, not \(performer.reference ?? "nothing")")
                throw OperationOutcome(status: .unprocessableContent, issues: issues)
            }
            site = named
        } else if let own = sender.identity.site ?? sender.defaultOrganization {
            site = own
        } else {
            fail(
                "\(path).performer",
                "names no performer, the sender's token carries no site and no default organization is configured: name the receiving site, e.g. Organization/ottawa-west-chc",
                code: "required")
            throw OperationOutcome(status: .unprocessableContent, issues: issues)
        }
        // Without a requester the sender refers in its own name (the IG's examples name none).
        let requester = request.requester?.reference ?? sender.identity.subject
        guard issues.isEmpty else { throw OperationOutcome(status: .unprocessableContent, issues: issues) }

        let patient = inputs.patient
        let (name, address) = current(patient)
        let phone = patient.telecom?.first { $0.system == "phone" || $0.system == "sms" }?.value
        let email = patient.telecom?.first { $0.system == "email" }?.value
        let preferred = patient.telecom?.filter { $0.value != nil }.min { ($0.rank ?? .max) < ($1.rank ?? .max) }
        let channel: String =
            switch preferred?.system {
            case "email": "email"
            case "sms": "sms"
            case "phone": "phone"
            default: phone != nil ? "sms" : (email != nil ? "email" : "none")
            }
        let language =
            (patient.communication?.first { $0.preferred == true } ?? patient.communication?.first)?
            .language?.coding?.first?.code.map { String($0.prefix { $0 != "-" }).lowercased() } ?? "en"

        var consent = ReferralSubmission.ConsentPart(contact: true, shareWithPartners: false, evaluationUse: false)
        if let given = inputs.consent, given.status == "active" {
            let permit = given.provision?.type != "deny"
            let actions = (given.provision?.action ?? []).flatMap { $0.coding ?? [] }.compactMap(\.code)
            let purposes = (given.provision?.purpose ?? []).compactMap(\.code)
            consent = .init(contact: permit, shareWithPartners: permit && actions.contains("disclose"), evaluationUse: permit && purposes.contains("HRESCH"))
        }
        // The subject asked not to be contacted about this request (SDOHCC orderDetail, e.g. where
        // contact may put them at risk): whatever else was consented, Passerelle does not contact them.
        let contactProhibited = (request.orderDetail ?? []).contains { detail in
            (detail.coding ?? []).contains { $0.system == gravityCategorySystem && $0.code == "contacting-subject-prohibited" }
        }
        if contactProhibited { consent.contact = false }
        var answers: [String: String] = [:]
        func collect(_ items: [FHIR.QuestionnaireResponse.Item]) {
            for item in items {
                if let linkId = item.linkId, let answer = item.answer?.first {
                    answers[linkId] =
                        answer.valueCoding?.code ?? answer.valueString ?? answer.valueBoolean.map { $0 ? "true" : "false" }
                        ?? answer.valueInteger.map(String.init)
                }
                collect(item.item ?? [])
            }
        }
        collect(inputs.questionnaire?.item ?? [])

        let priority = request.priority == "urgent" || request.priority == "asap" || request.priority == "stat" ? "urgent" : "routine"
        return ReferralSubmission(
            externalId: request.id,
            client: .init(
                givenName: name?.given?.first, familyName: name?.family, birthDate: patient.birthDate,
                contact: .init(phone: phone, email: email), preferredLanguage: language, postalCode: address?.postalCode,
                coordinates: nil, accessibilityNeeds: nil, preferredChannel: channel, sociodemographics: nil),
            referrer: .init(
                id: requester, role: requester.hasPrefix("RelatedPerson") || requester.hasPrefix("Patient") ? "self" : "physician", organisation: nil),
            site: site, needs: needs, interests: [], supportLevel: "light", priority: priority, consent: consent,
            notes: request.note?.compactMap(\.text).joined(separator: "\n").nilIfEmpty, screeningAnswers: answers.isEmpty ? nil : answers)
    }

    /// The name and address in use now (no end to their period), else the first given.
    static func current(_ patient: FHIR.Patient) -> (name: FHIR.HumanName?, address: FHIR.Address?) {
        let name =
            patient.name?.first { ($0.use == "official" || $0.use == "usual" || $0.use == nil) && $0.period?.end == nil }
            ?? patient.name?.first { $0.period?.end == nil } ?? patient.name?.first
        return (name, patient.address?.first { $0.period?.end == nil } ?? patient.address?.first)
    }

    /// The client identity a Patient names (as a referral of it would record it), if it names one.
    static func identityKey(of patient: FHIR.Patient) -> String? {
        let (name, address) = current(patient)
        guard let given = name?.given?.first, let family = name?.family, let birth = patient.birthDate, let date = try? CalendarDate(birth) else { return nil }
        return Client.identityKey(givenName: given, familyName: family, birthDate: date, postalCode: address?.postalCode)
    }

    /// The same failures the JSON door reports with pointers into a referral, said as FHIRPath
    /// into the resources they were mapped from.
    static func outcome(_ problem: ProblemDetails, paths: Paths) -> OperationOutcome {
        guard !problem.errors.isEmpty else { return OperationOutcome(problem) }
        let issues = problem.errors.map { error -> OperationOutcome.Issue in
            let expression = expression(forPointer: error.pointer, paths: paths)
            return .init(code: "invalid", diagnostics: "\(expression): \(error.detail)", expression: [expression])
        }
        return OperationOutcome(status: problem.status, issues: issues)
    }

    /// The submission validated as the JSON door validates it, its failures said as FHIRPath.
    static func validated(_ submission: ReferralSubmission, paths: Paths) throws(OperationOutcome) -> ValidReferral {
        let result = Result { () throws(ProblemDetails) -> ValidReferral in
            try submission.validated(referralID: UUID.random(), clientID: UUID.random(), now: Date())
        }
        switch result {
        case .success(let valid): return valid
        case .failure(let problem): throw outcome(problem, paths: paths)
        }
    }

    static func expression(forPointer pointer: String, paths: Paths) -> String {
        let segments = pointer.split(separator: "/").map(String.init)
        let request = paths.serviceRequest
        let patient = paths.patient
        switch segments.first {
        case "externalId": return "\(request).id"
        case "site": return "\(request).performer"
        case "needs": return "\(request).category"
        case "priority": return "\(request).priority"
        case "notes": return "\(request).note"
        case "referrer": return "\(request).requester"
        case "screeningAnswers": return "\(paths.questionnaire).item"
        case "consent": return paths.consent
        case "client":
            switch segments.dropFirst().first {
            case "givenName": return "\(patient).name.given"
            case "familyName": return "\(patient).name.family"
            case "birthDate": return "\(patient).birthDate"
            case "contact", "preferredChannel": return "\(patient).telecom"
            case "preferredLanguage": return "\(patient).communication.language"
            case "postalCode": return "\(patient).address.postalCode"
            default: return patient
            }
        default: return request
        }
    }

    /// `Organization/ottawa-west-chc` → `ottawa-west-chc`.
    static func referenceID(_ reference: String) -> String? {
        reference.split(separator: "/").last.map(String.init)
    }

    /// Passerelle's status as a FHIR Task status.
    static func taskStatus(_ status: ReferralStatus) -> String {
        switch status {
        case .received: "requested"
        case .accepted: "accepted"
        case .inProgress: "in-progress"
        case .completed: "completed"
        case .rejected: "rejected"
        case .cancelled: "cancelled"
        case .onHold: "on-hold"
        case .failed: "failed"
        }
    }
}
