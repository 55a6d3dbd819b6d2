import Domain
import Foundation
import HTTPTypes

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
    }

    static func submission(_ inputs: Inputs) throws(OperationOutcome) -> ReferralSubmission {
        let request = inputs.serviceRequest
        var issues: [OperationOutcome.Issue] = []
        func fail(_ expression: String, _ text: String, code: String = "invalid") {
            issues.append(.init(code: code, diagnostics: text, expression: [expression]))
        }
        if request.status != "active" { fail("ServiceRequest.status", "must be active, not \(request.status ?? "missing")") }
        if request.intent != "order" { fail("ServiceRequest.intent", "must be order, not \(request.intent ?? "missing")") }

        // Gravity SDOH categories → need codes; other code systems (e.g. SNOMED social service) are context only.
        var needs: [String] = []
        let gravity = (request.category ?? []).flatMap { $0.coding ?? [] }.filter { $0.system == gravityCategorySystem }
        for coding in gravity {
            guard let code = coding.code, let mapped = GravitySDOHCategory.needCategories(for: code) else {
                fail("ServiceRequest.category", "the Gravity SDOH category \(coding.code ?? "(no code)") has no Passerelle need category", code: "code-invalid")
                continue
            }
            needs += mapped.map(\.code).filter { !needs.contains($0) }
        }
        if gravity.isEmpty { fail("ServiceRequest.category", "at least one Gravity SDOH category (\(gravityCategorySystem)) is required", code: "required") }

        guard let site = request.performer?.first?.reference.flatMap(referenceID), !site.isEmpty else {
            fail("ServiceRequest.performer", "the performer must reference the Passerelle site, e.g. Organization/ottawa-west-chc", code: "required")
            throw OperationOutcome(status: .unprocessableContent, issues: issues)
        }
        guard let requester = request.requester?.reference else {
            fail("ServiceRequest.requester", "the requester (PractitionerRole or Practitioner) is required", code: "required")
            throw OperationOutcome(status: .unprocessableContent, issues: issues)
        }
        guard issues.isEmpty else { throw OperationOutcome(status: .unprocessableContent, issues: issues) }

        let patient = inputs.patient
        let name = patient.name?.first
        let phone = patient.telecom?.first { $0.system == "phone" || $0.system == "sms" }?.value
        let email = patient.telecom?.first { $0.system == "email" }?.value
        let preferred = patient.telecom?.filter { $0.value != nil }.min { ($0.rank ?? .max) < ($1.rank ?? .max) }
        let channel: String = switch preferred?.system {
        case "email": "email"
        case "sms": "sms"
        case "phone": "phone"
        default: phone != nil ? "sms" : (email != nil ? "email" : "none")
        }
        let language = (patient.communication?.first { $0.preferred == true } ?? patient.communication?.first)?
            .language?.coding?.first?.code.map { String($0.prefix { $0 != "-" }).lowercased() } ?? "en"

        var consent = ReferralSubmission.ConsentPart(contact: true, shareWithPartners: false, evaluationUse: false)
        if let given = inputs.consent, given.status == "active" {
            let permit = given.provision?.type != "deny"
            let actions = (given.provision?.action ?? []).flatMap { $0.coding ?? [] }.compactMap(\.code)
            let purposes = (given.provision?.purpose ?? []).compactMap(\.code)
            consent = .init(contact: permit, shareWithPartners: permit && actions.contains("disclose"), evaluationUse: permit && purposes.contains("HRESCH"))
        }
        var answers: [String: String] = [:]
        func collect(_ items: [FHIR.QuestionnaireResponse.Item]) {
            for item in items {
                if let linkId = item.linkId, let answer = item.answer?.first {
                    answers[linkId] = answer.valueCoding?.code ?? answer.valueString ?? answer.valueBoolean.map { $0 ? "true" : "false" } ?? answer.valueInteger.map(String.init)
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
                contact: .init(phone: phone, email: email), preferredLanguage: language, postalCode: patient.address?.first?.postalCode,
                coordinates: nil, accessibilityNeeds: nil, preferredChannel: channel, sociodemographics: nil),
            referrer: .init(id: requester, role: requester.hasPrefix("RelatedPerson") || requester.hasPrefix("Patient") ? "self" : "physician", organisation: nil),
            site: site, needs: needs, interests: [], supportLevel: "light", priority: priority, consent: consent,
            notes: request.note?.compactMap(\.text).joined(separator: "\n").nilIfEmpty, screeningAnswers: answers.isEmpty ? nil : answers)
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
