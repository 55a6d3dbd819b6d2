import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import Webhooks

/// The notification API: the delivery log for link workers and coordinators; templates,
/// recipients, webhook targets and site policies for coordinators.
struct NotificationRoutes: Sendable {
    let pool: PostgresConnectionPool
    let targets: WebhookTargetPolicy

    /// What was sent to whom, when, how, with status and attempts. Addresses are not shown:
    /// the log answers "was the loop closed", not "what is their e-mail".
    func log(_ input: Operations.ListNotifications.Input) async throws -> Operations.ListNotifications.Output {
        let identity = try OperationRequest.caller()
        guard let referral = UUID(uuidString: input.query.referral) else {
            throw ProblemDetails.validation([.init(pointer: "?referral", detail: "a referral id is required")])
        }
        // Every role but a network-wide one sees the log of its own sites' referrals only; another
        // site's referral has an empty log, as an unknown one does.
        let sites = identity.sitesInScope?.sorted()
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT n.* FROM notification n LEFT JOIN referral_audience a ON a.referral_id = n.referral_id
                WHERE n.referral_id = \(referral)::uuid AND (\(sites)::text[] IS NULL OR a.site = ANY(\(sites)::text[]))
                ORDER BY n.created_at, n.id
                """)
        }
        let entries = try rows.map { row in
            Components.Schemas.DeliveryEntry(
                id: try row.decode("id", as: UUID.self).uuidString, referralId: try row.decode("referral_id", as: UUID.self).uuidString,
                recipientKind: try row.decode("recipient_kind"), recipientId: try row.decode("recipient_id"),
                template: try row.decode("template"), language: try row.decode("language", as: String?.self),
                channel: try row.decode("channel", as: String?.self), status: try row.decode("status"),
                attempts: try row.decode("attempts"), lastError: try row.decode("last_error", as: String?.self), createdAt: try row.decode("created_at"),
                notBefore: try row.decode("not_before"), sentAt: try row.decode("sent_at", as: Date?.self))
        }
        return .ok(.init(body: .json(.init(notifications: entries))))
    }

    func templates(_ input: Operations.ListTemplates.Input) async throws -> Operations.ListTemplates.Output {
        _ = try OperationRequest.caller()
        let rows = try await pool.withConnection { try await $0.query("SELECT * FROM template ORDER BY key, language, channel") }
        let templates = try rows.map { row in
            MessageTemplate(
                key: TemplateKey(rawValue: try row.decode("key")) ?? .referralAssigned, language: try row.decode("language"),
                channel: TemplateChannel(rawValue: try row.decode("channel")) ?? .text, subject: try row.decode("subject", as: String?.self),
                body: try row.decode("body"), html: try row.decode("html", as: String?.self))
        }
        let variables = Dictionary(uniqueKeysWithValues: TemplateKey.allCases.map { ($0.rawValue, $0.variables.sorted()) })
        return .ok(.init(body: .json(.init(templates: try templates.map(Self.generated), variables: .init(additionalProperties: variables)))))
    }

    static func generated(_ template: MessageTemplate) throws -> Components.Schemas.MessageTemplate {
        Components.Schemas.MessageTemplate(
            key: template.key.rawValue, language: template.language, channel: template.channel.rawValue,
            subject: template.subject, body: template.body, html: template.html)
    }

    /// Validated on save: the syntax parses, every variable is known, it renders, a text fits.
    func saveTemplate(_ input: Operations.SaveTemplate.Input) async throws -> Operations.SaveTemplate.Output {
        let identity = try OperationRequest.caller()
        var errors: [ProblemDetails.FieldError] = []
        let key = TemplateKey(rawValue: input.path.key)
        if key == nil { errors.append(.init(pointer: "/path/key", detail: "one of \(TemplateKey.allCases.map(\.rawValue).joined(separator: ", "))")) }
        let channel = TemplateChannel(rawValue: input.path.channel)
        if channel == nil { errors.append(.init(pointer: "/path/channel", detail: "one of email, text")) }
        let language = input.path.language
        if !ConfigurationRules.isLanguageTag(language) { errors.append(.init(pointer: "/path/language", detail: ConfigurationRules.languageTagDetail)) }
        guard errors.isEmpty, let key, let channel else { throw ProblemDetails.validation(errors) }
        let body: Components.Schemas.TemplateSubmission
        switch input.body {
        case .json(let submission): body = try OperationRequest.storable(submission)
        }
        let template = MessageTemplate(key: key, language: language, channel: channel, subject: body.subject, body: body.body, html: body.html)
        let problems = template.validate()
        guard problems.isEmpty else { throw ProblemDetails.validation(problems.map { .init(pointer: $0.pointer, detail: $0.detail) }) }
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO template (key, language, channel, subject, body, html, updated_by, updated_at)
                VALUES (\(key.rawValue), \(language), \(channel.rawValue), \(template.subject), \(template.body), \(template.html), \(identity.subject), now())
                ON CONFLICT (key, language, channel) DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body, html = EXCLUDED.html,
                    updated_by = EXCLUDED.updated_by, updated_at = now()
                """)
        }
        return .ok(.init(body: .json(try Self.generated(template))))
    }

    struct RecipientBody: Codable {
        var displayName: String
        var email: String?
        var phone: String?
        var webhookTarget: String?
        var language: String
        var channel: String
    }

    func saveRecipient(_ input: Operations.SaveRecipient.Input) async throws -> Operations.SaveRecipient.Output {
        _ = try OperationRequest.caller()
        let kind = input.path.kind
        guard ["link-worker", "referrer", "partner"].contains(kind) else {
            throw ProblemDetails.validation([.init(pointer: "/path/kind", detail: "one of link-worker, referrer, partner")])
        }
        let id = try ConfigurationRules.id(input.path.id, at: "/path/id")
        // Checked here: how the recipient is reached decides which address is required.
        let body: RecipientBody
        switch input.body {
        case .json(let submission): body = try convertJSON(submission, to: RecipientBody.self)
        }
        let errors = ConfigurationRules.contactErrors(
            displayName: body.displayName, language: body.language, email: body.email, phone: body.phone, channel: body.channel,
            webhookTarget: body.webhookTarget, channels: [.email, .sms, .webhook])
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        do {
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO recipient (kind, id, display_name, email, phone, webhook_target, language, channel)
                    VALUES (\(kind), \(id), \(body.displayName), \(body.email), \(body.phone), \(body.webhookTarget), \(body.language), \(body.channel))
                    ON CONFLICT (kind, id) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email, phone = EXCLUDED.phone,
                        webhook_target = EXCLUDED.webhook_target, language = EXCLUDED.language, channel = EXCLUDED.channel
                    """)
            }
        } catch let error as PostgresError where error.kind == .foreignKeyViolation {
            // The body names a target that is not registered (PUT /v1/webhook-targets/{id} first).
            throw ProblemDetails(
                status: .notFound, title: "Not found", detail: "no webhook target with that id",
                errors: [.init(pointer: "/webhookTarget", detail: "no webhook target with that id")])
        }
        return .ok(.init(body: .json(try convertJSON(body))))
    }

    func saveTarget(_ input: Operations.SaveWebhookTarget.Input) async throws -> Operations.SaveWebhookTarget.Output {
        _ = try OperationRequest.caller()
        let id = try ConfigurationRules.id(input.path.id, at: "/path/id")
        let body: Components.Schemas.WebhookTargetSubmission
        switch input.body {
        case .json(let submission): body = try OperationRequest.storable(submission)
        }
        var errors: [ProblemDetails.FieldError] = []
        if let problem = await targets.problem(with: body.url) { errors.append(.init(pointer: "/url", detail: problem)) }
        // As intake's subscriptions: a `whsec_` secret counts by its decoded key, not its text.
        if !WebhookSignature.isStrongEnough(body.secret) {
            errors.append(.init(pointer: "/secret", detail: "at least 32 characters (or whsec_<base64>)"))
        } else if let weakness = SecretStrength(signingSecret: body.secret).weakness {
            errors.append(.init(pointer: "/secret", detail: "\(weakness); use a random one (e.g. `openssl rand -base64 32`)"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO webhook_target (id, url, secret, description) VALUES (\(id), \(body.url), \(body.secret), \(body.description))
                ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret, description = EXCLUDED.description, updated_at = now()
                """)
        }
        // The secret is never echoed back.
        return .ok(.init(body: .json(.init(id: id, url: body.url, description: body.description))))
    }

    struct PolicyBody: Codable {
        var defaultLanguage: String
        var timeZone: String
        /// "HH:MM-HH:MM", or null for none.
        var quietHours: String?
    }

    func savePolicy(_ input: Operations.SaveSitePolicy.Input) async throws -> Operations.SaveSitePolicy.Output {
        let actor = try OperationRequest.caller()
        let site = input.path.site
        guard ConfigurationRules.isSiteCode(site) else {
            throw ProblemDetails.validation([.init(pointer: "/path/site", detail: "a site code: 2 to 64 lowercase letters, digits and dashes")])
        }
        // A coordinator sets the policy of the sites their token names; another site is unknown to them.
        guard actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        // Checked here: the language tag, the time zone, the quiet hours.
        let body: PolicyBody
        switch input.body {
        case .json(let submission): body = try convertJSON(submission, to: PolicyBody.self)
        }
        var errors: [ProblemDetails.FieldError] = []
        if !ConfigurationRules.isLanguageTag(body.defaultLanguage) {
            errors.append(.init(pointer: "/defaultLanguage", detail: ConfigurationRules.languageTagDetail))
        }
        let zone = ConfigurationRules.timeZone(body.timeZone)
        if zone == nil { errors.append(.init(pointer: "/timeZone", detail: "an IANA time zone such as America/Toronto")) }
        var quiet: QuietHours?
        if let text = body.quietHours {
            quiet = text.wholeMatch(of: ConfigurationRules.quietHoursPattern) == nil ? nil : QuietHours(text, timeZone: zone ?? .gmt)
            if quiet == nil { errors.append(.init(pointer: "/quietHours", detail: "HH:MM-HH:MM, e.g. 20:00-08:00")) }
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let start = quiet.map { String(format: "%02d:%02d", $0.start / 60, $0.start % 60) }
        let end = quiet.map { String(format: "%02d:%02d", $0.end / 60, $0.end % 60) }
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO site_policy (site, default_language, time_zone, quiet_start, quiet_end)
                VALUES (\(site), \(body.defaultLanguage), \(body.timeZone), \(start)::time, \(end)::time)
                ON CONFLICT (site) DO UPDATE SET default_language = EXCLUDED.default_language, time_zone = EXCLUDED.time_zone,
                    quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end
                """)
        }
        return .ok(.init(body: .json(.init(defaultLanguage: body.defaultLanguage, timeZone: body.timeZone, quietHours: body.quietHours))))
    }
}
