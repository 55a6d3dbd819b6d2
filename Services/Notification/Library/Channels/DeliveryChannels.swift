import Foundation
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

    public init(settings: NotificationSettings, http: HTTPDelivery = HTTPDelivery(userAgent: "passerelle-notification")) throws {
        smtp = try settings.smtp.map(SMTPClient.init(settings:))
        sms = settings.sms
        self.http = http
        targets = settings.webhookTargets
    }

    func send(_ addressed: AddressedMessage, notificationID: UUID) async throws(DeliveryError) {
        let id = notificationID.uuidString.lowercased()
        switch addressed.channel {
        case .email:
            guard let smtp else { throw DeliveryError(transient: false, "no SMTP relay is configured (PASSERELLE_SMTP_HOST)") }
            let email = EmailMessage(
                notificationID: notificationID, domain: smtp.settings.domain, from: smtp.settings.from, fromName: smtp.settings.fromName,
                to: addressed.address, subject: addressed.message.subject ?? "", text: addressed.message.body, html: addressed.message.html, date: Date())
            do {
                try await smtp.send(email)
            } catch {
                throw DeliveryError(transient: error.isTransient, error.description)
            }
        case .sms:
            guard let sms else { throw DeliveryError(transient: false, "no SMS gateway is configured (PASSERELLE_SMS_GATEWAY_URL)") }
            let body = try encode(SMSRequest(id: id, to: addressed.address, body: addressed.message.body))
            var headers = [("Idempotency-Key", id)]
            if let token = sms.token { headers.append(("Authorization", "Bearer \(token)")) }
            try await http.post(url: sms.url, body: body, headers: headers)
        case .webhook:
            guard let webhook = addressed.webhook else { throw DeliveryError(transient: false, "no webhook target") }
            if let problem = await targets.problem(with: webhook.url) {
                throw DeliveryError(transient: false, "webhook target \(addressed.address) refused: \(problem)")
            }
            let body = try encode(
                WebhookPayload(
                    type: "passerelle.notification", id: id, template: addressed.template.rawValue, language: addressed.language,
                    subject: addressed.message.subject, text: addressed.message.body))
            try await http.post(url: webhook.url, body: body, headers: WebhookSignature(secret: webhook.secret).headers(id: id, body: body))
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
