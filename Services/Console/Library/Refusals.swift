import Foundation
import HTTPTypes

/// The services refuse in English (RFC 9457 problem details). The console says what it knows
/// of a refusal in the user's language: the field errors by pointer and reason, the 409s of the
/// loop and the pathway, the 404s; where it knows nothing better, the service's own words.
extension ConsoleRoutes {
    /// What the refused request was about: a 404 is said in its terms.
    enum RefusalSubject {
        case referral, goal, transition, connection, proposal, outcome, serviceUse, consent
    }

    /// A refusal as a page shows it: the message above the form, the fields it names, and the
    /// status the page answers with.
    struct Refusal {
        var message: String
        var errors: [(field: String, detail: String)]
        var status: HTTPResponse.Status
    }

    /// One pattern of a service's English detail and its words in French; `$1`… are what the
    /// pattern captured (codes are turned into the console's labels first).
    struct KnownDetail: Sendable {
        var pattern: String
        var french: String
        /// The translation key prefix for each capture (`status.`, `action.`…), or nil to keep it.
        var labels: [String?] = []
    }

    static let knownDetails: [KnownDetail] = [
        // Field errors.
        KnownDetail(pattern: #"is required"#, french: "obligatoire"),
        KnownDetail(pattern: #"is required to ([a-z-]+) a referral"#, french: "obligatoire pour « $1 »", labels: ["action."]),
        KnownDetail(pattern: #"is required when a connection ends"#, french: "dites pourquoi la connexion prend fin"),
        KnownDetail(pattern: #"must be at most ([0-9]+) characters"#, french: "au plus $1 caractères"),
        KnownDetail(pattern: #"must not be in the future"#, french: "ne peut pas être dans le futur"),
        KnownDetail(pattern: #"must not be before the referral was received"#, french: "ne peut pas précéder la réception de la demande"),
        KnownDetail(pattern: #"must be a date-time when given"#, french: "une date et une heure"),
        KnownDetail(pattern: #"must be between (-?[0-9]+) and (-?[0-9]+)"#, french: "doit être entre $1 et $2"),
        KnownDetail(
            pattern: #"item ([0-9]+) must be between ([0-9]+) and ([0-9]+), got (-?[0-9]+)"#, french: "la réponse doit être entre $2 et $3 (reçu : $4)"),
        KnownDetail(pattern: #"item ([0-9]+) is unanswered"#, french: "sans réponse"),
        KnownDetail(pattern: #"[a-z0-9]+ has ([0-9]+) items, got ([0-9]+)"#, french: "le questionnaire a $1 questions, $2 réponses reçues"),
        KnownDetail(pattern: #"must be a count of visits in six months, 0 to ([0-9]+)"#, french: "un nombre de visites en six mois, de 0 à $1"),
        KnownDetail(pattern: #"give primaryCareVisits, emergencyVisits or both"#, french: "indiquez au moins un nombre de visites"),
        KnownDetail(pattern: #"give before, after or both"#, french: "indiquez au moins un nombre de visites"),
        KnownDetail(pattern: #"must be one of .*"#, french: "choisissez une réponse de la liste"),
        // The whole request.
        KnownDetail(pattern: #"[0-9]+ fields? failed validation"#, french: "le formulaire a des erreurs; rien n'a été enregistré."),
        KnownDetail(
            pattern: #"cannot ([a-z-]+) a referral that is ([a-z-]+); allowed: .*"#, french: "impossible de « $1 » une demande au statut « $2 ».",
            labels: ["action.", "status."]),
        KnownDetail(
            pattern: #"casework changes while a referral is accepted, in progress or on hold; this one is ([a-z-]+)"#,
            french: "le suivi ne change que pour une demande acceptée, en cours ou en attente; celle-ci est « $1 ».", labels: ["status."]),
        KnownDetail(
            pattern: #"a ([a-z-]+) connection cannot become ([a-z-]+)"#, french: "une connexion « $1 » ne peut pas devenir « $2 ».",
            labels: ["connection.", "connection."]),
        KnownDetail(pattern: #"the resource is full"#, french: "cette ressource n'a plus de place."),
        KnownDetail(pattern: #"no active resource with that id"#, french: "cette ressource n'existe pas ou n'est plus active."),
        KnownDetail(pattern: #"a referrer can only cancel a referral"#, french: "une personne qui réfère peut seulement annuler sa demande."),
        KnownDetail(pattern: #"the token does not name the site .*"#, french: "votre accès ne couvre pas ce site."),
    ]

    /// The service's English detail in the user's language when its pattern is known; as the
    /// service wrote it otherwise.
    static func translatedDetail(_ detail: String, _ language: Language) -> String {
        guard language == .fr else { return detail }
        for known in Self.knownDetails {
            guard let regex = try? Regex<AnyRegexOutput>("^" + known.pattern + "$"), let match = detail.wholeMatch(of: regex) else { continue }
            var words = known.french
            for index in stride(from: match.output.count - 1, through: 1, by: -1) {
                guard let captured = match.output[index].substring.map(String.init) else { continue }
                let prefix = index - 1 < known.labels.count ? known.labels[index - 1] : nil
                let shown = prefix.flatMap { Translations.table["\($0)\(captured)"] != nil ? Translations.text("\($0)\(captured)", language) : nil } ?? captured
                words = words.replacingOccurrences(of: "$\(index)", with: shown)
            }
            return words
        }
        return detail
    }

    /// What the page says of a refusal. `field` names the form field a JSON pointer is (nil: the
    /// pointer's first part, `/minutes` is minutes).
    func refusal(
        status: Int, detail: String?, title: String?, errors: [(pointer: String, detail: String)], about subject: RefusalSubject, language: Language,
        field: (String) -> String? = { _ in nil }
    ) -> Refusal {
        let named = errors.map { error -> (field: String, detail: String) in
            (field(error.pointer) ?? String(error.pointer.drop { $0 == "/" }), Self.translatedDetail(error.detail, language))
        }
        let said: String
        switch status {
        case 404:
            switch subject {
            case .goal: said = text("refusal.goal404", language)
            case .connection: said = text("refusal.connection404", language)
            case .proposal: said = detail.map { Self.translatedDetail($0, language) } ?? text("notFound", language)
            default: said = text("notFound", language)
            }
        case 403: said = text("refusal.forbidden", language) + (detail.map { " (" + Self.translatedDetail($0, language) + ")" } ?? "")
        case 409 where subject == .outcome: said = text("outcome.already", language)
        case 413: said = text("refusal.tooLarge", language)
        default: said = (detail ?? title).map { Self.translatedDetail($0, language) } ?? "\(status)"
        }
        let answered: HTTPResponse.Status =
            switch status {
            case 404: .notFound
            case 403: .forbidden
            case 409: .conflict
            case 413: .contentTooLarge
            default: .unprocessableContent
            }
        return Refusal(message: text("refused", language) + said, errors: named, status: answered)
    }

    func refusal(
        status: Int, problem: ServiceClients.Problem?, about subject: RefusalSubject, language: Language, field: (String) -> String? = { _ in nil }
    ) -> Refusal {
        refusal(
            status: status, detail: problem?.detail, title: problem?.title, errors: (problem?.errors ?? []).map { ($0.pointer, $0.detail) }, about: subject,
            language: language, field: field)
    }
}
