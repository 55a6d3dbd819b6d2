import Foundation

/// The templates a new deployment starts with, in French and English. Coordinators edit them
/// through the API; these are stored once and never overwrite an edit.
enum DefaultTemplates {
    static let all: [MessageTemplate] = french + english

    private static func email(_ key: TemplateKey, _ language: String, subject: String, body: String) -> MessageTemplate {
        MessageTemplate(
            key: key, language: language, channel: .email, subject: subject, body: body,
            html: "<p>" + body.replacingOccurrences(of: "\n\n", with: "</p><p>") + "</p>")
    }

    private static func text(_ key: TemplateKey, _ language: String, _ body: String) -> MessageTemplate {
        MessageTemplate(key: key, language: language, channel: .text, body: body)
    }

    static let french: [MessageTemplate] = [
        email(
            .referralAssigned, "fr", subject: "{{#urgent}}URGENT – {{/urgent}}Nouvelle orientation {{reference}}",
            body:
                "Bonjour {{recipientName}},\n\nUne nouvelle orientation ({{reference}}, site {{site}}) vous est confiée{{#urgent}} ; elle est urgente{{/urgent}}.\n\nBesoins : {{#needs}}{{.}} {{/needs}}"
        ),
        text(.referralAssigned, "fr", "{{#urgent}}URGENT : {{/urgent}}nouvelle orientation {{reference}} dans votre file ({{site}})."),
        email(
            .clientReferralAccepted, "fr", subject: "Votre orientation est prise en charge",
            body:
                "Bonjour {{recipientName}},\n\n{{linkWorkerName}}, agent·e de liaison, vous appellera d'ici {{callWithinDays}} jours ouvrables pour parler de ce qui compte pour vous."
        ),
        text(.clientReferralAccepted, "fr", "Bonjour {{recipientName}}, {{linkWorkerName}} vous appellera d'ici {{callWithinDays}} jours ouvrables."),
        email(
            .clientConnectionProposed, "fr", subject: "Une activité pour vous : {{resourceName}}",
            body:
                "Bonjour {{recipientName}},\n\nNous vous proposons : {{resourceName}}.\n\nOù : {{address}}\n\nQuand : {{schedule}}\n\nComment s'y rendre : {{directions}}"
        ),
        text(.clientConnectionProposed, "fr", "Bonjour {{recipientName}}, on vous propose {{resourceName}}. Où : {{address}}. Quand : {{schedule}}."),
        email(
            .clientEnrolled, "fr", subject: "Vous êtes inscrit·e : {{resourceName}}",
            body: "Bonjour {{recipientName}},\n\nVotre inscription à {{resourceName}} est confirmée. À bientôt !"),
        text(.clientEnrolled, "fr", "Bonjour {{recipientName}}, votre inscription à {{resourceName}} est confirmée."),
        email(
            .referrerReferralAccepted, "fr", subject: "Orientation {{reference}} acceptée",
            body: "Bonjour {{recipientName}},\n\nL'orientation {{reference}} a été acceptée par {{linkWorkerName}} ({{site}})."),
        text(.referrerReferralAccepted, "fr", "Orientation {{reference}} acceptée par {{linkWorkerName}} ({{site}})."),
        email(
            .referrerConnected, "fr", subject: "Orientation {{reference}} : personne reliée à une ressource",
            body:
                "Bonjour {{recipientName}},\n\nLa personne orientée ({{reference}}) participe maintenant à une ressource communautaire ({{resourceKind}} : {{#categories}}{{.}} {{/categories}})."
        ),
        text(.referrerConnected, "fr", "Orientation {{reference}} : personne reliée à une ressource ({{resourceKind}})."),
        email(
            .referrerReferralClosed, "fr", subject: "Orientation {{reference}} fermée : {{status}}",
            body:
                "Bonjour {{recipientName}},\n\nL'orientation {{reference}} est fermée ({{status}}).{{#reason}}\n\nMotif : {{reason}}{{/reason}}{{#outcome}}\n\nRésultat : {{outcome}}{{/outcome}}"
        ),
        text(.referrerReferralClosed, "fr", "Orientation {{reference}} fermée ({{status}}){{#reason}} : {{reason}}{{/reason}}."),
        email(
            .partnerParticipantEnrolled, "fr", subject: "Nouvelle personne inscrite : {{resourceName}}",
            body:
                "Bonjour {{recipientName}},\n\n{{participantFirstName}} est inscrit·e à {{resourceName}}.\n\nContact : {{participantPhone}} {{participantEmail}}"
        ),
        text(
            .partnerParticipantEnrolled, "fr", "{{participantFirstName}} est inscrit·e à {{resourceName}}. Contact : {{participantPhone}} {{participantEmail}}"),
        email(
            .linkWorkerFollowUpOverdue, "fr", subject: "{{#urgent}}URGENT – {{/urgent}}Suivi en retard : orientation {{reference}}",
            body:
                "Bonjour {{recipientName}},\n\nL'étape {{step}} de l'orientation {{reference}} (site {{site}}) était due le {{dueDate}} et n'est pas encore faite.\n\nLe dossier vous attend dans votre file."
        ),
        text(
            .linkWorkerFollowUpOverdue, "fr",
            "{{#urgent}}URGENT : {{/urgent}}suivi en retard ({{step}}, dû le {{dueDate}}) pour l'orientation {{reference}} ({{site}})."),
        email(
            .coordinatorFollowUpEscalated, "fr", subject: "Suivi non fait : orientation {{reference}} ({{site}})",
            body:
                "Bonjour {{recipientName}},\n\nL'étape {{step}} de l'orientation {{reference}} (site {{site}}) était due le {{dueDate}} et n'est toujours pas faite{{#linkWorkerName}} ; l'orientation est confiée à {{linkWorkerName}}{{/linkWorkerName}}.{{#urgent}} Elle est urgente.{{/urgent}}\n\nLe dossier est dans la console."
        ),
        text(
            .coordinatorFollowUpEscalated, "fr",
            "{{#urgent}}URGENT : {{/urgent}}suivi non fait ({{step}}, dû le {{dueDate}}) pour l'orientation {{reference}} ({{site}}){{#linkWorkerName}}, confiée à {{linkWorkerName}}{{/linkWorkerName}}."
        ),
    ]

    static let english: [MessageTemplate] = [
        email(
            .referralAssigned, "en", subject: "{{#urgent}}URGENT – {{/urgent}}New referral {{reference}}",
            body:
                "Hello {{recipientName}},\n\nA new referral ({{reference}}, site {{site}}) is assigned to you{{#urgent}}; it is urgent{{/urgent}}.\n\nNeeds: {{#needs}}{{.}} {{/needs}}"
        ),
        text(.referralAssigned, "en", "{{#urgent}}URGENT: {{/urgent}}new referral {{reference}} in your inbox ({{site}})."),
        email(
            .clientReferralAccepted, "en", subject: "Your referral has been picked up",
            body:
                "Hello {{recipientName}},\n\n{{linkWorkerName}}, a link worker, will call you within {{callWithinDays}} working days to talk about what matters to you."
        ),
        text(.clientReferralAccepted, "en", "Hello {{recipientName}}, {{linkWorkerName}} will call you within {{callWithinDays}} working days."),
        email(
            .clientConnectionProposed, "en", subject: "An activity for you: {{resourceName}}",
            body: "Hello {{recipientName}},\n\nWe suggest: {{resourceName}}.\n\nWhere: {{address}}\n\nWhen: {{schedule}}\n\nGetting there: {{directions}}"),
        text(.clientConnectionProposed, "en", "Hello {{recipientName}}, we suggest {{resourceName}}. Where: {{address}}. When: {{schedule}}."),
        email(
            .clientEnrolled, "en", subject: "You are enrolled: {{resourceName}}",
            body: "Hello {{recipientName}},\n\nYour place at {{resourceName}} is confirmed. See you soon!"),
        text(.clientEnrolled, "en", "Hello {{recipientName}}, your place at {{resourceName}} is confirmed."),
        email(
            .referrerReferralAccepted, "en", subject: "Referral {{reference}} accepted",
            body: "Hello {{recipientName}},\n\nReferral {{reference}} was accepted by {{linkWorkerName}} ({{site}})."),
        text(.referrerReferralAccepted, "en", "Referral {{reference}} accepted by {{linkWorkerName}} ({{site}})."),
        email(
            .referrerConnected, "en", subject: "Referral {{reference}}: connected to a resource",
            body:
                "Hello {{recipientName}},\n\nThe person you referred ({{reference}}) now takes part in a community resource ({{resourceKind}}: {{#categories}}{{.}} {{/categories}})."
        ),
        text(.referrerConnected, "en", "Referral {{reference}}: connected to a community resource ({{resourceKind}})."),
        email(
            .referrerReferralClosed, "en", subject: "Referral {{reference}} closed: {{status}}",
            body:
                "Hello {{recipientName}},\n\nReferral {{reference}} is closed ({{status}}).{{#reason}}\n\nReason: {{reason}}{{/reason}}{{#outcome}}\n\nOutcome: {{outcome}}{{/outcome}}"
        ),
        text(.referrerReferralClosed, "en", "Referral {{reference}} closed ({{status}}){{#reason}}: {{reason}}{{/reason}}."),
        email(
            .partnerParticipantEnrolled, "en", subject: "New participant enrolled: {{resourceName}}",
            body: "Hello {{recipientName}},\n\n{{participantFirstName}} is enrolled in {{resourceName}}.\n\nContact: {{participantPhone}} {{participantEmail}}"),
        text(.partnerParticipantEnrolled, "en", "{{participantFirstName}} is enrolled in {{resourceName}}. Contact: {{participantPhone}} {{participantEmail}}"),
        email(
            .linkWorkerFollowUpOverdue, "en", subject: "{{#urgent}}URGENT – {{/urgent}}Follow-up overdue: referral {{reference}}",
            body:
                "Hello {{recipientName}},\n\nStep {{step}} of referral {{reference}} (site {{site}}) was due on {{dueDate}} and is not done yet.\n\nThe referral is waiting in your inbox."
        ),
        text(
            .linkWorkerFollowUpOverdue, "en",
            "{{#urgent}}URGENT: {{/urgent}}follow-up overdue ({{step}}, due {{dueDate}}) for referral {{reference}} ({{site}})."),
        email(
            .coordinatorFollowUpEscalated, "en", subject: "Follow-up not done: referral {{reference}} ({{site}})",
            body:
                "Hello {{recipientName}},\n\nStep {{step}} of referral {{reference}} (site {{site}}) was due on {{dueDate}} and is still not done{{#linkWorkerName}}; the referral is with {{linkWorkerName}}{{/linkWorkerName}}.{{#urgent}} It is urgent.{{/urgent}}\n\nThe referral is in the console."
        ),
        text(
            .coordinatorFollowUpEscalated, "en",
            "{{#urgent}}URGENT: {{/urgent}}follow-up not done ({{step}}, due {{dueDate}}) for referral {{reference}} ({{site}}){{#linkWorkerName}}, with {{linkWorkerName}}{{/linkWorkerName}}."
        ),
    ]
}
