import Domain
import Foundation
import PostgresClient

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
    }

    static func resolve(_ notification: ClaimedNotification, settings: NotificationSettings, pool: PostgresConnectionPool) async throws -> Resolution {
        try await pool.withConnection { connection in
            guard let audience = try await connection.query("""
                SELECT a.client_id, a.link_worker_id, p.default_language FROM referral_audience a LEFT JOIN site_policy p ON p.site = a.site
                WHERE a.referral_id = \(notification.referralID)::uuid
                """).first
            else { return .withheld("the referral is no longer known here (erased)") }
            let clientID: UUID = try audience.decode("client_id")
            let siteLanguage = try audience.decode("default_language", as: String?.self) ?? settings.defaultLanguage
            var variables = notification.facts
            variables["reference"] = .text(String(notification.referralID.uuidString.prefix(8)))
            variables["callWithinDays"] = .text(String(settings.callWithinDays))
            if let worker = try audience.decode("link_worker_id", as: UUID?.self),
               let name = try await connection.query("SELECT display_name FROM recipient WHERE kind = 'link-worker' AND id = \(worker.uuidString.lowercased())").first {
                variables["linkWorkerName"] = .text(try name.decode("display_name"))
            }

            let channel: DeliveryChannel, address: String, language: String
            var webhook: (url: String, secret: String)?
            switch notification.recipientKind {
            case .client, .partner:
                guard let client = try await connection.query("SELECT * FROM client_contact WHERE client_id = \(clientID)::uuid").first else {
                    throw DeliveryError(transient: true, "the client's contact details have not arrived yet")
                }
                if notification.recipientKind == .partner {
                    guard try client.decode("consent_share_with_partners", as: Bool.self) else {
                        return .withheld("the client withdrew consent to sharing with partners before sending")
                    }
                    // First name and contact only.
                    variables["participantFirstName"] = .text(try client.decode("given_name"))
                    variables["participantPhone"] = .text(try client.decode("phone", as: String?.self) ?? "")
                    variables["participantEmail"] = .text(try client.decode("email", as: String?.self) ?? "")
                    let staff = try await staffAddress(notification, connection)
                    (channel, address, language, webhook) = (staff.channel, staff.address, staff.language, staff.webhook)
                    variables["recipientName"] = .text(staff.name)
                    break
                }
                let preferred = try client.decode("preferred_channel", as: String.self)
                if preferred == ContactChannel.none.rawValue { return .withheld("the client asked not to be contacted") }
                guard try client.decode("consent_contact", as: Bool.self) else { return .withheld("the client withdrew consent to be contacted before sending") }
                variables["recipientName"] = .text(try client.decode("given_name"))
                language = try client.decode("preferred_language")
                if preferred == ContactChannel.email.rawValue {
                    guard let email = try client.decode("email", as: String?.self) else { throw DeliveryError(transient: false, "the client has no e-mail address") }
                    (channel, address) = (.email, email)
                } else {
                    // A phone call is the link worker's job; what we send to a phone is an SMS.
                    guard let phone = try client.decode("phone", as: String?.self) else { throw DeliveryError(transient: false, "the client has no phone number") }
                    (channel, address) = (.sms, phone)
                }
            case .linkWorker, .referrer:
                let staff = try await staffAddress(notification, connection)
                (channel, address, language, webhook) = (staff.channel, staff.address, staff.language, staff.webhook)
                variables["recipientName"] = .text(staff.name)
            }

            // The recipient's language if the template exists in it, else the site's, else any.
            let candidates = try await connection.query("""
                SELECT language, subject, body, html FROM template WHERE key = \(notification.template.rawValue) AND channel = \(channel.templateChannel.rawValue)
                """)
            let byLanguage = Dictionary(try candidates.map { (try $0.decode("language", as: String.self), $0) }, uniquingKeysWith: { first, _ in first })
            guard let chosenLanguage = [language, siteLanguage, settings.defaultLanguage].first(where: { byLanguage[$0] != nil }) ?? byLanguage.keys.sorted().first,
                  let row = byLanguage[chosenLanguage]
            else { throw DeliveryError(transient: false, "no \(channel.templateChannel.rawValue) template for \(notification.template.rawValue)") }
            let template = MessageTemplate(
                key: notification.template, language: chosenLanguage, channel: channel.templateChannel, subject: try row.decode("subject", as: String?.self),
                body: try row.decode("body"), html: try row.decode("html", as: String?.self))
            let rendered: RenderedMessage
            do {
                rendered = try template.render(variables)
            } catch {
                throw DeliveryError(transient: false, "template \(notification.template.rawValue)/\(chosenLanguage) does not render: \(error)")
            }
            return .ready(AddressedMessage(
                channel: channel, language: chosenLanguage, address: address, webhook: webhook, message: rendered, template: notification.template))
        }
    }

    private static func staffRow(_ notification: ClaimedNotification, _ connection: PostgresConnection) async throws -> PostgresRow {
        guard let row = try await connection.query("""
            SELECT r.display_name, r.email, r.phone, r.language, r.channel, r.webhook_target, w.url, w.secret
            FROM recipient r LEFT JOIN webhook_target w ON w.id = r.webhook_target
            WHERE r.kind = \(notification.recipientKind.rawValue) AND r.id = \(notification.recipientID)
            """).first
        else { throw DeliveryError(transient: false, "no contact is registered for \(notification.recipientKind.rawValue) \(notification.recipientID)") }
        return row
    }

    private static func staffAddress(_ notification: ClaimedNotification, _ connection: PostgresConnection) async throws
        -> (channel: DeliveryChannel, address: String, language: String, webhook: (url: String, secret: String)?, name: String)
    {
        let row = try await staffRow(notification, connection)
        let language: String = try row.decode("language")
        let name: String = try row.decode("display_name")
        guard let channel = DeliveryChannel(rawValue: try row.decode("channel")) else { throw DeliveryError(transient: false, "unknown channel") }
        switch channel {
        case .email:
            guard let email = try row.decode("email", as: String?.self) else { throw DeliveryError(transient: false, "no e-mail address registered") }
            return (.email, email, language, nil, name)
        case .sms:
            guard let phone = try row.decode("phone", as: String?.self) else { throw DeliveryError(transient: false, "no phone number registered") }
            return (.sms, phone, language, nil, name)
        case .webhook:
            guard let target = try row.decode("webhook_target", as: String?.self), let url = try row.decode("url", as: String?.self) else {
                throw DeliveryError(transient: false, "no webhook target registered")
            }
            return (.webhook, target, language, (url, try row.decode("secret")), name)
        }
    }
}
