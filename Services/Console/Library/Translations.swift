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
        "onThisPage": ("Sur cette page", "On this page"),
        "backToReferral": ("Retour à la demande", "Back to the referral"),
        "clientRef": ("Client·e (référence)", "Client (reference)"),
        "owner": ("Agent·e de liaison", "Link worker"),
        "contacts": ("Contacts", "Contacts"),
        "contactLog": ("Journal des contacts, les plus récents d'abord", "Contact log, newest first"),
        "logContact": ("Noter un contact", "Log a contact"),
        "noContacts": ("Aucun contact noté.", "No contact logged."),
        "when": ("Quand", "When"),
        "whenHint": ("Vide : maintenant (heure de l'Ontario).", "Empty: now (Ontario time)."),
        "reached": ("Joint·e", "Reached"),
        "notReached": ("Non joint·e", "Not reached"),
        "yes": ("Oui", "Yes"),
        "no": ("Non", "No"),
        "choose": ("— Choisir —", "— Choose —"),
        "plan": ("Plan", "Plan"),
        "whatMatters": ("Ce qui compte pour moi", "What matters to me"),
        "savePlan": ("Enregistrer le plan", "Save the plan"),
        "updated": ("Mis à jour le", "Updated"),
        "goals": ("Objectifs", "Goals"),
        "noGoals": ("Aucun objectif pour l'instant.", "No goals yet."),
        "newGoal": ("Nouvel objectif", "New goal"),
        "setGoal": ("Ajouter l'objectif", "Add the goal"),
        "progress": ("Progrès", "Progress"),
        "setOn": ("Fixé le", "Set"),
        "reviewedOn": ("revu le", "reviewed"),
        "reviewGoal": ("Noter le progrès", "Record progress"),
        "notes": ("Notes privées", "Private notes"),
        "notesPrivate": (
            "Visibles seulement des agent·e·s de liaison et coordonnateur·rice·s du site; chaque lecture est journalisée.",
            "Seen only by the site's link workers and coordinators; every read is logged."
        ),
        "writeNote": ("Ajouter la note", "Add the note"),
        "consent": ("Consentement", "Consent"),
        "consentHint": (
            "Le consentement actuel n'est pas affiché : répondez aux trois questions avec la personne et dites pourquoi il change.",
            "The current consent is not shown: answer all three questions with the person and say why it changes."
        ),
        "changeConsent": ("Enregistrer le consentement", "Record the consent"),
        "consent.contact": ("Accepte d'être contacté·e", "Agrees to be contacted"),
        "consent.shareWithPartners": ("Accepte le partage avec les partenaires", "Agrees to sharing with partners"),
        "consent.evaluationUse": ("Accepte l'usage pour l'évaluation", "Agrees to use in evaluation"),
        "consent.changed": ("Consentement modifié.", "Consent changed."),
        "timeline": ("Historique", "Timeline"),
        "logUnavailable": ("Le journal des messages n'est pas disponible.", "The message log is not available."),
        "partUnavailable": ("Cette partie n'est pas disponible pour l'instant.", "This part is not available right now."),
        "seeMatches": ("Voir les ressources proposées", "See the suggested resources"),
        "matchesIntro": ("Classées par le service de jumelage, avec ses raisons", "Ranked by the matching service, with its reasons"),
        "resource": ("Ressource", "Resource"),
        "proposeHint": (
            "Proposer une ressource la réserve pour la personne : une place est prise.",
            "Proposing a resource holds it for the person: it takes a seat."
        ),
        "propose": ("Proposer à la personne", "Propose to the person"),
        "proposed": ("Proposée.", "Proposed."),
        "saved.connection": ("Connexion proposée : ", "Connection proposed: "),
        "field.occurredAt": ("Date et heure", "Date and time"),
        "field.mode": ("Mode", "Mode"),
        "field.minutes": ("Durée (minutes)", "Duration (minutes)"),
        "field.party": ("Avec qui", "With whom"),
        "field.reached": ("Personne jointe ?", "Was the person reached?"),
        "field.note": ("Note brève", "Short note"),
        "field.whatMatters": ("Dans les mots de la personne", "In the person's words"),
        "field.lifeDomain": ("Domaine de vie", "Life domain"),
        "field.description": ("Objectif", "Goal"),
        "field.progress": ("Progrès", "Progress"),
        "field.reviewNote": ("Ce qui a été dit", "What was said"),
        "field.body": ("Note", "Note"),
        "field.reason": ("Raison du changement", "Reason for the change"),
        "field.contact": ("Contact", "Contact"),
        "field.shareWithPartners": ("Partage avec les partenaires", "Sharing with partners"),
        "field.evaluationUse": ("Usage pour l'évaluation", "Use in evaluation"),
        "invalid.form": ("Le formulaire a des erreurs; rien n'a été enregistré.", "The form has errors; nothing was recorded."),
        "invalid.choose": ("choisissez une réponse", "choose an answer"),
        "invalid.minutes": ("un nombre entier de minutes, de 0 à 600", "a whole number of minutes, 0 to 600"),
        "invalid.date": ("une date et une heure", "a date and a time"),
        "invalid.reason": ("dites pourquoi", "say why"),
        "saved.contact": ("Contact noté.", "Contact logged."),
        "saved.plan": ("Plan enregistré.", "Plan saved."),
        "saved.goal": ("Objectif ajouté.", "Goal added."),
        "saved.review": ("Progrès noté.", "Progress recorded."),
        "saved.note": ("Note ajoutée.", "Note added."),
        "saved.consent": ("Consentement enregistré, et sa raison dans les notes.", "Consent recorded, and its reason in the notes."),
        "saved.consent-without-note": (
            "Consentement enregistré, mais sa raison n'a pas pu être notée : ajoutez-la aux notes.",
            "Consent recorded, but its reason could not be noted: add it to the notes."
        ),
        "mode.phone": ("Téléphone", "Phone"),
        "mode.in-person": ("En personne", "In person"),
        "mode.video": ("Vidéo", "Video"),
        "mode.text": ("Texto ou courriel", "Text or e-mail"),
        "party.client": ("Client·e", "Client"),
        "party.caregiver": ("Proche aidant·e", "Caregiver"),
        "party.referrer": ("Référent·e", "Referrer"),
        "party.partner": ("Partenaire", "Partner"),
        "party.other": ("Autre", "Other"),
        "domain.social-connection": ("Liens sociaux", "Social connection"),
        "domain.mental-wellbeing": ("Bien-être mental", "Mental wellbeing"),
        "domain.physical-health": ("Santé physique", "Physical health"),
        "domain.money": ("Argent", "Money"),
        "domain.housing": ("Logement", "Housing"),
        "domain.work-learning": ("Travail et apprentissage", "Work and learning"),
        "domain.leisure-creativity": ("Loisirs et créativité", "Leisure and creativity"),
        "domain.daily-living": ("Vie quotidienne", "Daily living"),
        "domain.caring": ("Rôle d'aidant·e", "Caring"),
        "domain.safety": ("Sécurité", "Safety"),
        "progress.not-started": ("Pas commencé", "Not started"),
        "progress.started": ("Commencé", "Started"),
        "progress.partly-achieved": ("En partie atteint", "Partly achieved"),
        "progress.achieved": ("Atteint", "Achieved"),
        "progress.no-longer-relevant": ("Plus pertinent", "No longer relevant"),
        "kind.referral": ("Demande", "Referral"),
        "kind.status": ("Statut", "Status"),
        "kind.contact": ("Contact", "Contact"),
        "kind.plan": ("Plan", "Plan"),
        "kind.goal": ("Objectif", "Goal"),
        "kind.note": ("Note", "Note"),
        "kind.message": ("Message", "Message"),
        "timeline.received": ("Demande reçue", "Referral received"),
        "timeline.lastChange": ("Dernier changement; statut : ", "Last change; status: "),
        "timeline.plan": ("Plan mis à jour", "Plan updated"),
        "timeline.goalSet": ("Objectif fixé : ", "Goal set: "),
        "timeline.goalReviewed": ("Progrès noté : ", "Progress recorded: "),
        "timeline.note": ("Note privée ajoutée", "Private note added"),
        "notification.pending": ("Message en file", "Message queued"),
        "notification.deferred": ("Message différé", "Message deferred"),
        "notification.sending": ("Message en cours d'envoi", "Message sending"),
        "notification.sent": ("Message envoyé", "Message sent"),
        "notification.failed": ("Message en échec", "Message failed"),
        "notification.withheld": ("Message retenu", "Message withheld"),
        "recipient.link-worker": ("agent·e de liaison", "link worker"),
        "recipient.client": ("client·e", "client"),
        "recipient.referrer": ("référent·e", "referrer"),
        "recipient.partner": ("partenaire", "partner"),
        "channel.email": ("courriel", "e-mail"),
        "channel.sms": ("texto", "SMS"),
        "channel.webhook": ("webhook", "webhook"),
        "role.physician": ("Médecin", "Physician"),
        "role.nurse-practitioner": ("Infirmier·ère praticien·ne", "Nurse practitioner"),
        "role.nurse": ("Infirmier·ère", "Nurse"),
        "role.social-worker": ("Travailleur·euse social·e", "Social worker"),
        "role.allied-health": ("Professionnel·le paramédical·e", "Allied health professional"),
        "role.self": ("Autoréférence", "Self-referral"),
        "role.community-partner": ("Partenaire communautaire", "Community partner"),
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

    /// The whole table in one language, for templates (`{{t.caseload}}`, and the form fields'
    /// labels as `{{t.field.minutes}}`).
    static func strings(_ language: Language) -> [String: Any] {
        var strings: [String: Any] = [:]
        var fields: [String: String] = [:]
        for (key, entry) in table {
            let value = language == .fr ? entry.fr : entry.en
            if !key.contains(".") {
                strings[key] = value
            } else if key.hasPrefix("field.") {
                fields[String(key.dropFirst("field.".count))] = value
            }
        }
        strings["field"] = fields
        return strings
    }
}
