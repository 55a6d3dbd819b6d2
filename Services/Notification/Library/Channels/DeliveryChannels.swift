import Backoff
import Domain
import Foundation
import NIOCore
import Webhooks
import WireFormats

/// The configured ways out: SMTP for e-mail, the SMS gateway, and partners' webhooks. Every
/// message carries the notification id (Message-ID, `Idempotency-Key`, `webhook-id`), so a
/// receiver can drop a repeat.
public struct DeliveryChannels: Sendable {
    let smtp: SMTPClient?
    let sms: SMSGatewaySettings?
    let http: HTTPDelivery
    let targets: WebhookTargetPolicy

    public init(settings: NotificationSettings, http: HTTPDelivery? = nil) throws {
        smtp = try settings.smtp.map(SMTPClient.init(settings:))
        sms = settings.sms
        self.http = http ?? HTTPDelivery(userAgent: "passerelle-notification", timeout: .nanoseconds(Int64(settings.httpTimeout.inSeconds * 1e9)))
        targets = settings.webhookTargets
    }

    /// Sends, and says why not without naming the recipient: what a relay or gateway answers
    /// often quotes the address or number back, and the error is stored, published and logged.
    /// `deadline`: when the sender must have given up (the end of its lease); read before each
    /// step, as renewing the lease moves it. An HTTP exchange (SMS gateway, webhook) reads it
    /// once, as it starts: it then lasts at most what was left of the lease, less the margin.
    func send(
        _ addressed: AddressedMessage, notificationID: UUID, deadline: (@Sendable () -> ContinuousClock.Instant)? = nil
    ) async throws(DeliveryError) {
        do {
            try await attempt(addressed, notificationID: notificationID, deadline: deadline)
        } catch {
            throw DeliveryError(
                transient: error.transient, ContactRedaction.redact(error.detail, known: addressed.channel == .webhook ? [] : [addressed.address]),
                retryAfter: error.retryAfter)
        }
    }

    private func attempt(
        _ addressed: AddressedMessage, notificationID: UUID, deadline: (@Sendable () -> ContinuousClock.Instant)?
    ) async throws(DeliveryError) {
        let id = notificationID.uuidString.lowercased()
        switch addressed.channel {
        case .email:
            guard let smtp else { throw DeliveryError(transient: false, "no SMTP relay is configured (PASSERELLE_SMTP_HOST)") }
            let email = EmailMessage(
                notificationID: notificationID, domain: smtp.settings.domain, from: smtp.settings.from, fromName: smtp.settings.fromName,
                to: addressed.address, subject: addressed.message.subject ?? "", text: addressed.message.body, html: addressed.message.html, date: Date())
            do {
                try await smtp.send(email, deadline: deadline)
            } catch {
                throw DeliveryError(transient: error.isTransient, error.description)
            }
        case .sms:
            guard let sms else { throw DeliveryError(transient: false, "no SMS gateway is configured (PASSERELLE_SMS_GATEWAY_URL)") }
            // The gateway is held to the webhooks' reach: its URL comes from configuration, but a
            // name it uses may still come to resolve inward.
            let gateway = try await checked(sms.url, refused: "the SMS gateway")
            let body = try encode(SMSRequest(id: id, to: addressed.address, body: addressed.message.body))
            var headers = [("Idempotency-Key", id)]
            if let token = sms.token { headers.append(("Authorization", "Bearer \(token)")) }
            try await http.post(to: gateway, body: body, headers: headers, deadline: deadline?())
        case .webhook:
            guard let webhook = addressed.webhook else { throw DeliveryError(transient: false, "no webhook target") }
            let target = try await checked(webhook.url, refused: "webhook target \(addressed.address)")
            let body = try encode(
                WebhookPayload(
                    type: "passerelle.notification", id: id, template: addressed.template.rawValue, language: addressed.language,
                    subject: addressed.message.subject, text: addressed.message.body))
            try await http.post(
                to: target, body: body, headers: WebhookSignature(secret: webhook.secret).headers(id: id, body: body), deadline: deadline?())
        }
    }

    /// The URL checked against the reach, with the address the delivery will connect to.
    private func checked(_ url: String, refused what: String) async throws(DeliveryError) -> CheckedTarget {
        do {
            return try await targets.target(url)
        } catch {
            throw DeliveryError(transient: false, "\(what) refused: \(error)")
        }
    }

    private func encode(_ value: some Encodable) throws(DeliveryError) -> Data {
        do { return Data(try StreamingJSONEncoder().encode(value)) } catch { throw DeliveryError(transient: false, "could not encode the request: \(error)") }
    }
}

struct SMSRequest: Codable {
    var id: String
    var to: String
    var body: String
}

/// What a partner's endpoint receives.
public struct WebhookPayload: Codable, Sendable, Equatable {
    public var type: String
    public var id: String
    public var template: String
    public var language: String
    public var subject: String?
    public var text: String
}
