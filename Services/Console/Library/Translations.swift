import Foundation

/// The console's two languages. Every string a page shows comes from `Translations`.
public enum Language: String, Sendable, CaseIterable {
    case fr, en

    /// The user's choice (cookie) when it is one of ours, else the first of the browser's
    /// Accept-Language ranges that is, else French.
    static func chosen(cookie: String?, acceptLanguage: String?) -> Language {
        if let cookie, let language = Language(rawValue: cookie) { return language }
        let ranges = (acceptLanguage ?? "").split(separator: ",").compactMap { part -> (String, Double)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first, !tag.isEmpty else { return nil }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag.lowercased(), quality)
        }
        for (tag, quality) in ranges.sorted(by: { $0.1 > $1.1 }) where quality > 0 {
            if let language = Language(rawValue: String(tag.prefix(2))) { return language }
        }
        return .fr
    }
}

/// Every string of every page, in French and English.
enum Translations {
    static let table: [String: (fr: String, en: String)] = [
        "app": ("Passerelle — console", "Passerelle — console"),
        "skip": ("Aller au contenu", "Skip to content"),
        "signedInAs": ("Connecté·e :", "Signed in as"),
        "signOut": ("Se déconnecter", "Sign out"),
        "signIn": ("Se connecter", "Sign in"),
        "language": ("Langue", "Language"),
        "change": ("Changer", "Change"),
        "caseload": ("Ma file de cas", "My caseload"),
        "caseloadIntro": (
            "Vos demandes et les nouvelles demandes de votre site, les urgentes d'abord, puis les plus anciennes.",
            "Your referrals and your site's new referrals, urgent first, then oldest."
        ),
        "counts": ("Mes demandes par statut", "My referrals by status"),
        "myReferrals": ("Mes demandes", "My referrals"),
        "newAtSite": ("Nouvelles à mon site", "New at my site"),
        "showStatus": ("Statut affiché", "Status shown"),
        "allStatuses": ("Tous les statuts", "All statuses"),
        "show": ("Afficher", "Show"),
        "nextStep": ("Prochaine étape due", "Next step due"),
        "dueBy": ("pour le", "by"),
        "overdue": ("En retard", "Overdue"),
        "overdueOnPage": ("Au moins une de vos demandes a une étape en retard.", "At least one of your referrals has an overdue step."),
        "nextPage": ("Page suivante", "Next page"),
        "firstPage": ("Première page", "First page"),
        "step.first-contact": ("Premier contact", "First contact"),
        "step.hold-review": ("Revoir la mise en attente", "Review the hold"),
        "step.follow-up": ("Suivi à {weeks} semaines", "{weeks}-week follow-up"),
        "none": ("Aucune.", "None."),
        "received": ("Reçue le", "Received"),
        "priority": ("Priorité", "Priority"),
        "needs": ("Besoins", "Needs"),
        "supportLevel": ("Niveau de soutien", "Support level"),
        "status": ("Statut", "Status"),
        "referral": ("Demande", "Referral"),
        "open_referral": ("Ouvrir", "Open"),
        "back": ("Retour à ma file de cas", "Back to my caseload"),
        "details": ("Détails", "Details"),
        "interests": ("Intérêts", "Interests"),
        "referrer": ("Référent·e", "Referrer"),
        "site": ("Site", "Site"),
        "matches": ("Ressources proposées", "Suggested resources"),
        "noMatches": ("Pas encore de ressources proposées.", "No resources suggested yet."),
        "score": ("Score", "Score"),
        "reasons": ("Raisons", "Reasons"),
        "notifications": ("Notifications", "Notifications"),
        "noNotifications": ("Aucune notification.", "No notifications."),
        "template": ("Modèle", "Template"),
        "channel": ("Canal", "Channel"),
        "sentAt": ("Envoyée le", "Sent"),
        "actions": ("Prochaines étapes", "Next steps"),
        "noActions": ("Cette demande est fermée.", "This referral is closed."),
        "reason": ("Raison", "Reason"),
        "outcome": ("Résultat", "Outcome"),
        "done": ("C'est fait : ", "Done: "),
        "error": ("Erreur", "Error"),
        "notFound": ("Cette demande n'existe pas ou n'est pas de votre site.", "This referral does not exist or is not at your site."),
        "unavailable": ("Un service ne répond pas; réessayez dans un instant.", "A service is not answering; try again in a moment."),
        "refused": ("Le service a refusé : ", "The service refused: "),
        "expired": ("Le formulaire a expiré; rechargez la page et réessayez.", "The form has expired; reload the page and try again."),
        "signedOut": ("Vous êtes déconnecté·e.", "You are signed out."),
        "signInAgain": ("Se connecter de nouveau", "Sign in again"),
        "signInFailed": ("La connexion a échoué.", "Signing in failed."),
        "welcome": ("Console des agent·e·s de liaison", "Link workers' console"),
        "urgent": ("Urgente", "Urgent"),
        "routine": ("Courante", "Routine"),
        "count": ("Nombre", "Count"),
        "total": ("Total", "Total"),
        "status.received": ("Reçue", "Received"),
        "status.accepted": ("Acceptée", "Accepted"),
        "status.in-progress": ("En cours", "In progress"),
        "status.on-hold": ("En attente", "On hold"),
        "status.completed": ("Terminée", "Completed"),
        "status.rejected": ("Refusée", "Rejected"),
        "status.cancelled": ("Annulée", "Cancelled"),
        "status.failed": ("Échouée", "Failed"),
        "action.accept": ("Accepter", "Accept"),
        "action.start": ("Commencer", "Start"),
        "action.hold": ("Mettre en attente", "Put on hold"),
        "action.resume": ("Reprendre", "Resume"),
        "action.complete": ("Terminer", "Complete"),
        "action.reject": ("Refuser", "Decline"),
        "action.cancel": ("Annuler", "Cancel"),
        "action.fail": ("Client·e injoignable", "Client unreachable"),
        "support.signposting": ("Orientation", "Signposting"),
        "support.light": ("Léger", "Light"),
        "support.medium": ("Moyen", "Medium"),
        "support.holistic": ("Global", "Holistic"),
        "need.social-isolation": ("Isolement social", "Social isolation"),
        "need.loneliness": ("Solitude", "Loneliness"),
        "need.bereavement": ("Deuil", "Bereavement"),
        "need.mental-wellbeing": ("Bien-être mental", "Mental wellbeing"),
        "need.physical-activity": ("Activité physique", "Physical activity"),
        "need.food-security": ("Sécurité alimentaire", "Food security"),
        "need.housing": ("Logement", "Housing"),
        "need.income": ("Revenu", "Income"),
        "need.employment": ("Emploi", "Employment"),
        "need.legal": ("Droit", "Legal"),
        "need.transportation": ("Transport", "Transportation"),
        "need.caregiver-support": ("Soutien aux proches aidants", "Caregiver support"),
        "need.learning-literacy": ("Apprentissage et alphabétisation", "Learning and literacy"),
        "need.digital-literacy": ("Littératie numérique", "Digital literacy"),
        "need.arts-culture": ("Arts et culture", "Arts and culture"),
        "need.nature": ("Nature", "Nature"),
        "need.newcomer-support": ("Soutien aux nouveaux arrivants", "Newcomer support"),
        "need.substance-use-support": ("Soutien en consommation de substances", "Substance use support"),
        "need.parenting": ("Parentalité", "Parenting"),
        "need.childcare": ("Garde d'enfants", "Childcare"),
        "need.utilities": ("Services publics (chauffage, électricité)", "Utilities"),
        "need.personal-safety": ("Sécurité personnelle", "Personal safety"),
        "need.health-literacy": ("Littératie en santé", "Health literacy"),
    ]

    /// The string for `key`; a key missing from the table shows as itself, so a gap is seen
    /// (and the test that walks every page finds it) rather than hidden.
    static func text(_ key: String, _ language: Language) -> String {
        guard let entry = table[key] else { return key }
        return language == .fr ? entry.fr : entry.en
    }

    /// The whole table in one language, for templates (`{{t.caseload}}`).
    static func strings(_ language: Language) -> [String: String] {
        var strings: [String: String] = [:]
        for (key, entry) in table where !key.contains(".") { strings[key] = language == .fr ? entry.fr : entry.en }
        return strings
    }
}
