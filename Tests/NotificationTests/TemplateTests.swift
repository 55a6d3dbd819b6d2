import Foundation
import ServiceRuntime
import Testing
import Webhooks

@testable import NotificationService

@Suite struct TemplateTests {
    @Test func everyDefaultTemplateIsValidAndBothLanguagesCoverEveryMessage() {
        for template in DefaultTemplates.all {
            #expect(template.validate().isEmpty, "\(template.key.rawValue)/\(template.language)/\(template.channel.rawValue): \(template.validate())")
        }
        for key in TemplateKey.allCases {
            for language in ["fr", "en"] {
                for channel in TemplateChannel.allCases {
                    #expect(
                        DefaultTemplates.all.contains { $0.key == key && $0.language == language && $0.channel == channel },
                        "missing \(key)/\(language)/\(channel)")
                }
            }
        }
    }
}

@Suite struct TemplateValidationTests {
    @Test func validationListsEveryProblem() {
        let template = MessageTemplate(key: .clientEnrolled, language: "fr", channel: .email, subject: nil, body: "Bonjour {{prenom}}", html: "<p>{{#x}}</p>")
        let problems = template.validate()
        #expect(problems.contains { $0.pointer == "/subject" && $0.detail.contains("needs a subject") })
        #expect(problems.contains { $0.pointer == "/body" && $0.detail.contains("unknown variable \"prenom\"") })
        #expect(problems.contains { $0.pointer == "/html" && $0.detail.contains("Mustache") })
    }

    @Test func textIsNotHTMLEscapedButHTMLIs() throws {
        let template = MessageTemplate(
            key: .clientEnrolled, language: "en", channel: .email, subject: "{{resourceName}}", body: "{{resourceName}}", html: "<b>{{resourceName}}</b>")
        let rendered = try template.render(["resourceName": .text("Arts & Crafts <club>")])
        #expect(rendered.subject == "Arts & Crafts <club>")
        #expect(rendered.body == "Arts & Crafts <club>")
        #expect(rendered.html == "<b>Arts &amp; Crafts &lt;club&gt;</b>")
    }

    @Test func bothLanguagesRender() throws {
        let variables: [String: TemplateValue] = [
            "recipientName": .text("Élodie"), "linkWorkerName": .text("Sam"), "callWithinDays": .text("2"), "reference": .text("AB12"), "site": .text("s"),
        ]
        let fr = try #require(DefaultTemplates.all.first { $0.key == .clientReferralAccepted && $0.language == "fr" && $0.channel == .text })
        let en = try #require(DefaultTemplates.all.first { $0.key == .clientReferralAccepted && $0.language == "en" && $0.channel == .text })
        #expect(try fr.render(variables).body == "Bonjour Élodie, Sam vous appellera d'ici 2 jours ouvrables.")
        #expect(try en.render(variables).body == "Hello Élodie, Sam will call you within 2 working days.")
    }
}

@Suite struct DeliveryRuleTests {
    @Test func quietHoursWrapMidnight() throws {
        let zone = try #require(TimeZone(identifier: "America/Toronto"))
        let quiet = try #require(QuietHours("20:00-08:00", timeZone: zone))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let evening = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 23, hour: 21, minute: 30)))
        let morning = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 24, hour: 8)))
        #expect(quiet.earliestDelivery(at: evening) == morning)
        let noon = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 24, hour: 12)))
        #expect(quiet.earliestDelivery(at: noon) == noon)
        #expect(QuietHours("25:00-08:00", timeZone: zone) == nil)
    }

    @Test func notificationIDsAreStablePerEventRecipientAndTemplate() {
        let event = UUID()
        let a = NotificationID.derive(sourceEvent: event, recipient: "client:1", template: .clientEnrolled)
        #expect(a == NotificationID.derive(sourceEvent: event, recipient: "client:1", template: .clientEnrolled))
        #expect(a != NotificationID.derive(sourceEvent: event, recipient: "referrer:1", template: .clientEnrolled))
        #expect(a != NotificationID.derive(sourceEvent: UUID(), recipient: "client:1", template: .clientEnrolled))
    }

    @Test func retryDelaysGrowWithJitterAndACap() {
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .seconds(2), maxDelay: .seconds(10))
        for _ in 0..<50 {
            #expect((1...2).contains(policy.delay(afterAttempt: 1)))
            #expect((4...8).contains(policy.delay(afterAttempt: 3)))
            #expect((5...10).contains(policy.delay(afterAttempt: 9)))
        }
    }

    @Test func inwardTargetsAreRefusedUnlessAllowed() async throws {
        let settings = try NotificationSettings.fromEnvironment(Environment([:]))
        let policy = settings.webhookTargets
        #expect(await policy.problem(with: "http://169.254.169.254/latest") != nil)
        #expect(await policy.problem(with: "http://[fe80::1]/hook") != nil)
        #expect(await policy.problem(with: "ftp://example.org/") != nil)
        for url in ["http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://[fd12::1]/hook", "http://[::ffff:192.168.0.1]/", "http://100.64.0.1/"] {
            #expect(await policy.problem(with: url) != nil, "\(url)")
        }
        #expect(await policy.problem(with: "http://8.8.8.8/hook") == nil)
        var allowing = settings
        allowing.allowPrivateWebhookTargets = true
        #expect(await allowing.webhookTargets.problem(with: "http://127.0.0.1:9/hook") == nil)
        #expect(await allowing.webhookTargets.problem(with: "http://[fd12::1]/hook") == nil)
        // Metadata and link-local addresses are never a receiver's.
        #expect(await allowing.webhookTargets.problem(with: "http://169.254.169.254/") != nil)
    }

    @Test func anInwardSMSGatewayIsRefusedAtStartUnlessAllowed() throws {
        for url in ["http://127.0.0.1:8090/sms", "https://[::1]/sms", "http://10.0.0.5/sms", "http://[::ffff:192.168.1.1]/sms"] {
            let refused = #expect(throws: ConfigurationError.self) {
                try NotificationSettings.fromEnvironment(Environment(["PASSERELLE_SMS_GATEWAY_URL": url]))
            }
            #expect(refused?.variable == "PASSERELLE_SMS_GATEWAY_URL", "\(url)")
            let allowed = try NotificationSettings.fromEnvironment(
                Environment(["PASSERELLE_SMS_GATEWAY_URL": url, "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true"]))
            #expect(allowed.sms?.url == url)
        }
        #expect(try NotificationSettings.fromEnvironment(Environment(["PASSERELLE_SMS_GATEWAY_URL": "https://sms.example.org/messages"])).sms != nil)
        #expect(throws: ConfigurationError.self) {
            try NotificationSettings.fromEnvironment(
                Environment(["PASSERELLE_SMS_GATEWAY_URL": "http://169.254.169.254/", "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true"]))
        }
    }

    @Test func smtpRequiresSTARTTLSUnlessToldOtherwise() throws {
        let relay = try #require(try NotificationSettings.fromEnvironment(Environment(["PASSERELLE_SMTP_HOST": "smtp.example.org"])).smtp)
        #expect(relay.security == .required)
        let catcher = try #require(
            try NotificationSettings.fromEnvironment(Environment(["PASSERELLE_SMTP_HOST": "mailpit", "PASSERELLE_SMTP_SECURITY": "none"])).smtp)
        #expect(catcher.security == .none)
        let badFrom = #expect(throws: ConfigurationError.self) {
            try NotificationSettings.fromEnvironment(
                Environment(["PASSERELLE_SMTP_HOST": "smtp.example.org", "PASSERELLE_SMTP_FROM": "a@b.org\r\nBcc: x@y.org"]))
        }
        #expect(badFrom?.variable == "PASSERELLE_SMTP_FROM")
    }

    @Test func emailAddressesAreValidatedStrictly() async {
        for good in ["amelie.roy@ottawa-west-chc.example.org", "a@b.c", "o'neil+staff@example.org", "x_y@sub-domain.example.ca"] {
            #expect(EmailAddress.isValid(good), "\(good)")
        }
        let bad = [
            "a@b.org\r\nRCPT TO:<x@y.org>", "a@b.org\n", "a\u{0}@b.org", "a\t@b.org", "a b@c.org", "ab.org", "a@@b.org", "a@b@c.org",
            "@b.org", "a@", ".a@b.org", "a.@b.org", "a..b@c.org", "a@-b.org", "a@b-.org", "a@b..org", "<a@b.org>", "\"a\"@b.org",
            "a@[127.0.0.1]", "élise@example.org", "a@exämple.org", "a@" + Array(repeating: "bbbbbbbbbb", count: 25).joined(separator: "."),
            String(repeating: "a", count: 250) + "@b.org",
        ]
        for address in bad {
            #expect(!EmailAddress.isValid(address), "\(address.debugDescription)")
            #expect(!ConfigurationRules.isEmailAddress(address))
        }
        // The SMTP client refuses one however it got there, before connecting anywhere.
        let client = try? SMTPClient(settings: SMTPSettings(host: "127.0.0.1", port: 9, security: .none, from: "a@example.org"))
        let message = EmailMessage(
            notificationID: UUID(), domain: "passerelle.local", from: "a@example.org", fromName: "Passerelle", to: "b@example.org\r\nDATA",
            subject: "s", text: "t", html: nil, date: Date())
        await #expect { try await client?.send(message) } throws: { error in
            (error as? SMTPError).map { $0.kind == .invalidAddress && !$0.isTransient && !$0.description.contains("DATA") } ?? false
        }
    }

    @Test func emailIsMIMEWithEncodedHeaders() {
        let id = UUID()
        let message = EmailMessage(
            notificationID: id, domain: "passerelle.local", from: "a@example.org", fromName: "Passerelle", to: "b@example.org",
            subject: "Orientation acceptée", text: ".leading dot", html: "<p>x</p>", date: Date(timeIntervalSince1970: 0))
        #expect(message.rendered.contains("Subject: =?UTF-8?B?"))
        #expect(message.rendered.contains("Message-ID: <\(id.uuidString.lowercased())@passerelle.local>"))
        #expect(message.rendered.contains("Content-Type: multipart/alternative"))
        #expect(message.rendered.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"))
        #expect(
            EmailMessage(notificationID: id, domain: "d", from: "a", fromName: "n", to: "b", subject: "s", text: "", html: nil, date: Date())
                .dotStuffed.components(separatedBy: "\r\n").allSatisfy { !$0.hasPrefix(".") || $0.hasPrefix("..") })
    }
}
