import Domain
import Foundation
import PostgresClient
import Webhooks

/// The ways a message leaves Passerelle.
public enum DeliveryChannel: String, Codable, Sendable {
    case email, sms, webhook

    var templateChannel: TemplateChannel { self == .email ? .email : .text }
}

/// A notification resolved at sending time: today's contact, consent and template, rendered.
struct AddressedMessage: Sendable {
    var channel: DeliveryChannel
    var language: String
    /// E-mail address, phone number or webhook target id.
    var address: String
    var webhook: (url: String, secret: String)?
    var message: RenderedMessage
    var template: TemplateKey

    enum Resolution: Sendable {
        case ready(AddressedMessage)
        case withheld(String)
        /// Something it needs has not arrived from another topic yet: no attempt was made.
        case awaiting(String)
    }

    /// Addresses and renders a claimed notification from what the claim read with it.
    static func resolve(_ notification: ClaimedNotification, templates: TemplateSet, settings: NotificationSettings) throws -> Resolution {
        guard let audience = notification.audience else { return .withheld("the referral is no longer known here (erased)") }
        let siteLanguage = audience.siteLanguage ?? settings.defaultLanguage
        var variables = notification.facts
        variables["reference"] = .text(String(notification.referralID.uuidString.prefix(8)))
        variables["callWithinDays"] = .text(String(settings.callWithinDays))
        if let name = audience.linkWorkerName { variables["linkWorkerName"] = .text(name) }

        let channel: DeliveryChannel
        let address: String
        let language: String
        var webhook: (url: String, secret: String)?
        switch notification.recipientKind {
        case .client, .partner:
            guard let client = audience.client else { return .awaiting("the client's contact details have not arrived yet") }
            // What the recipient may know of the client: one rule per kind (`Disclosure`).
            switch Disclosure.about(client, to: notification.recipientKind) {
            case .withhold(let reason): return .withheld(reason)
            case .disclose(let personal): variables.merge(personal) { _, disclosed in disclosed }
            }
            if notification.recipientKind == .partner {
                let staff = try staffAddress(notification)
                (channel, address, language, webhook) = (staff.channel, staff.address, staff.language, staff.webhook)
                variables["recipientName"] = .text(staff.name)
                break
            }
            if client.preferredChannel == ContactChannel.none.rawValue { return .withheld("the client asked not to be contacted") }
            guard client.consentContact else { return .withheld("the client withdrew consent to be contacted before sending") }
            language = client.preferredLanguage
            if client.preferredChannel == ContactChannel.email.rawValue {
                guard let email = client.email else { throw DeliveryError(transient: false, "the client has no e-mail address") }
                (channel, address) = (.email, email)
            } else {
                // A phone call is the link worker's job; what we send to a phone is an SMS.
                guard let phone = client.phone else { throw DeliveryError(transient: false, "the client has no phone number") }
                (channel, address) = (.sms, phone)
            }
        case .linkWorker, .referrer, .coordinator:
            let staff = try staffAddress(notification)
            (channel, address, language, webhook) = (staff.channel, staff.address, staff.language, staff.webhook)
            variables["recipientName"] = .text(staff.name)
        }

        // The recipient's language if the template exists in it, else the site's, else any.
        guard
            let template = templates.template(
                notification.template, channel: channel.templateChannel, languages: [language, siteLanguage, settings.defaultLanguage])
        else { throw DeliveryError(transient: false, "no \(channel.templateChannel.rawValue) template for \(notification.template.rawValue)") }
        let rendered: RenderedMessage
        do {
            rendered = try template.render(variables)
        } catch {
            throw DeliveryError(transient: false, "template \(notification.template.rawValue)/\(template.source.language) does not render: \(error)")
        }
        return .ready(
            AddressedMessage(
                channel: channel, language: template.source.language, address: address, webhook: webhook, message: rendered, template: notification.template))
    }

    private static func staffAddress(_ notification: ClaimedNotification) throws
        -> (channel: DeliveryChannel, address: String, language: String, webhook: (url: String, secret: String)?, name: String)
    {
        guard let staff = notification.staff else {
            throw DeliveryError(transient: false, "no contact is registered for \(notification.recipientKind.rawValue) \(notification.recipientID)")
        }
        guard let channel = DeliveryChannel(rawValue: staff.channel) else { throw DeliveryError(transient: false, "unknown channel") }
        switch channel {
        case .email:
            guard let email = staff.email else { throw DeliveryError(transient: false, "no e-mail address registered") }
            return (.email, email, staff.language, nil, staff.name)
        case .sms:
            guard let phone = staff.phone else { throw DeliveryError(transient: false, "no phone number registered") }
            return (.sms, phone, staff.language, nil, staff.name)
        case .webhook:
            guard let target = staff.webhookTarget, let url = staff.webhookURL, let secret = staff.webhookSecret else {
                throw DeliveryError(transient: false, "no webhook target registered")
            }
            return (.webhook, target, staff.language, (url, secret), staff.name)
        }
    }
}

/// A notification claimed for sending, with what addressing it needs, read in the same statement
/// that claimed it (so consent and contact are as of the moment of sending).
struct ClaimedNotification: Sendable {
    var id: UUID
    var referralID: UUID
    var sourceEventID: UUID
    var recipientKind: RecipientKind
    var recipientID: String
    var template: TemplateKey
    var facts: [String: TemplateValue]
    var attempts: Int
    /// When it was planned: how long it may wait for what it needs from other topics.
    var createdAt: Date
    /// Nil once the referral is erased.
    var audience: Audience?
    /// The registered link worker, referrer or partner, if any.
    var staff: StaffContact?

    struct Audience: Sendable {
        var siteLanguage: String?
        var linkWorkerName: String?
        var client: ClientContact?
    }

    struct ClientContact: Sendable {
        var givenName: String
        var phone: String?
        var email: String?
        var preferredLanguage: String
        var preferredChannel: String
        var consentContact: Bool
        var consentShareWithPartners: Bool
    }

    struct StaffContact: Sendable {
        var name: String
        var email: String?
        var phone: String?
        var language: String
        var channel: String
        var webhookTarget: String?
        var webhookURL: String?
        var webhookSecret: String?
    }

    /// Claims up to `limit` due notifications (or ones whose lease ran out) for `lease` seconds,
    /// and reads with them their audience, the client's contact and the registered recipient;
    /// also returns the templates' stamp.
    static func claim(limit: Int, leaseSeconds: Int, on connection: PostgresConnection) async throws -> (claimed: [ClaimedNotification], templatesStamp: String)
    {
        let rows = try await connection.query(
            """
            WITH claimed AS (
                UPDATE notification n SET status = 'sending', attempts = n.attempts + 1,
                    lease_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
                FROM (SELECT id FROM notification
                      -- A row is only ever claimed once due, so a lease (status 'sending') has
                      -- not_before <= now() too. Written as the partial index's predicate plus a
                      -- range, this is an ordered index scan that stops at the limit and lets
                      -- PostgreSQL mark the entries of sent rows dead; the same condition with an
                      -- OR was a bitmap scan visiting every row updated since the last vacuum.
                      WHERE status IN ('pending', 'deferred', 'sending') AND not_before <= now()
                        AND (status <> 'sending' OR lease_until < now())
                      ORDER BY not_before LIMIT \(limit) FOR UPDATE SKIP LOCKED) due
                WHERE n.id = due.id
                RETURNING n.id, n.referral_id, n.source_event_id, n.recipient_kind, n.recipient_id, n.template, n.facts, n.attempts, n.created_at
            )
            SELECT c.id, c.referral_id, c.source_event_id, c.recipient_kind, c.recipient_id, c.template, c.facts::text AS facts, c.attempts, c.created_at,
                a.referral_id IS NOT NULL AS known, p.default_language AS site_language, lw.display_name AS link_worker_name,
                cc.client_id IS NOT NULL AS has_client, cc.given_name, cc.phone AS client_phone, cc.email AS client_email,
                cc.preferred_language AS client_language, cc.preferred_channel AS client_channel, cc.consent_contact, cc.consent_share_with_partners,
                r.id IS NOT NULL AS has_staff, r.display_name AS staff_name, r.email AS staff_email, r.phone AS staff_phone, r.language AS staff_language,
                r.channel AS staff_channel, r.webhook_target, w.url AS webhook_url, w.secret AS webhook_secret,
                (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM template) AS templates_stamp
            FROM claimed c
            LEFT JOIN referral_audience a ON a.referral_id = c.referral_id
            LEFT JOIN site_policy p ON p.site = a.site
            LEFT JOIN recipient lw ON lw.kind = 'link-worker' AND lw.id = a.link_worker_id::text
            LEFT JOIN client_contact cc ON cc.client_id = a.client_id
            LEFT JOIN recipient r ON r.kind = c.recipient_kind AND r.id = c.recipient_id
            LEFT JOIN webhook_target w ON w.id = r.webhook_target
            """)
        let decoder = JSONDecoder()
        let claimed = try rows.map { row in
            var audience: Audience?
            if try row.decode("known", as: Bool.self) {
                var client: ClientContact?
                if try row.decode("has_client", as: Bool.self) {
                    client = ClientContact(
                        givenName: try row.decode("given_name"), phone: try row.decode("client_phone", as: String?.self),
                        email: try row.decode("client_email", as: String?.self), preferredLanguage: try row.decode("client_language"),
                        preferredChannel: try row.decode("client_channel"), consentContact: try row.decode("consent_contact"),
                        consentShareWithPartners: try row.decode("consent_share_with_partners"))
                }
                audience = Audience(
                    siteLanguage: try row.decode("site_language", as: String?.self), linkWorkerName: try row.decode("link_worker_name", as: String?.self),
                    client: client)
            }
            var staff: StaffContact?
            if try row.decode("has_staff", as: Bool.self) {
                staff = StaffContact(
                    name: try row.decode("staff_name"), email: try row.decode("staff_email", as: String?.self),
                    phone: try row.decode("staff_phone", as: String?.self),
                    language: try row.decode("staff_language"), channel: try row.decode("staff_channel"),
                    webhookTarget: try row.decode("webhook_target", as: String?.self), webhookURL: try row.decode("webhook_url", as: String?.self),
                    webhookSecret: try row.decode("webhook_secret", as: String?.self))
            }
            return ClaimedNotification(
                id: try row.decode("id"), referralID: try row.decode("referral_id"), sourceEventID: try row.decode("source_event_id"),
                recipientKind: RecipientKind(rawValue: try row.decode("recipient_kind")) ?? .client, recipientID: try row.decode("recipient_id"),
                template: TemplateKey(rawValue: try row.decode("template")) ?? .referralAssigned,
                facts: try decoder.decode([String: TemplateValue].self, from: Data(try row.decode("facts", as: String.self).utf8)),
                attempts: try row.decode("attempts"), createdAt: try row.decode("created_at"), audience: audience, staff: staff)
        }
        let stamp = try rows.first?.decode("templates_stamp", as: String.self) ?? ""
        return (claimed, stamp)
    }
}
