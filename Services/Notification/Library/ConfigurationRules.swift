import Foundation
import ServiceRuntime

/// What the configuration API (templates, recipients, webhook targets, site policies) takes,
/// in the same terms as the OpenAPI document's patterns and enums: a value the document calls
/// valid is stored, one it calls invalid is a 422 with its pointer.
enum ConfigurationRules {
    /// A language tag such as `fr`, `en` or `fr-CA`: a 2 or 3 letter code and up to two subtags.
    nonisolated(unsafe) static let languageTagPattern = /[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}/
    static let languageTagDetail = "a language tag such as fr, en or fr-CA"

    static func isLanguageTag(_ text: String) -> Bool {
        text.wholeMatch(of: languageTagPattern) != nil
    }

    /// `HH:MM-HH:MM` on the 24-hour clock.
    nonisolated(unsafe) static let quietHoursPattern = /([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]/

    /// A site code, as intake takes them: 2 to 64 lowercase letters, digits and dashes.
    static func isSiteCode(_ text: String) -> Bool {
        (2...64).contains(text.unicodeScalars.count)
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// Recipient and webhook target ids (a link worker's id, a referrer's subject, a partner's
    /// name): 1 to 200 characters that PostgreSQL can store.
    /// The generated code hands path parameters over percent-decoded: the id is what they spell.
    static func id(_ id: String, at pointer: String) throws(ProblemDetails) -> String {
        if let problem = StorableText.problem(id, at: pointer) { throw ProblemDetails.validation([problem]) }
        guard (1...200).contains(id.unicodeScalars.count) else { throw ProblemDetails.validation([.init(pointer: pointer, detail: "1 to 200 characters")]) }
        return id
    }

    /// Only ASCII white space counts as blank, as the document's pattern says.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r"].contains($0) }
    }

    /// A plain address (see `EmailAddress`): it ends up in SMTP commands and headers.
    static func isEmailAddress(_ text: String) -> Bool {
        EmailAddress.isValid(text)
    }

    /// At least 7 ASCII digits among whatever punctuation the number is written with.
    static func isPhoneNumber(_ text: String) -> Bool {
        text.unicodeScalars.filter { ("0"..."9").contains($0) }.count >= 7
    }

    /// What is wrong with how a person is reached: a name, a language, a valid address whatever
    /// the channel (a stored address may be used later, and ends up in SMTP commands), and the
    /// address the channel needs. `channels` are those this kind of recipient may use.
    static func contactErrors(
        displayName: String, language: String, email: String?, phone: String?, channel: String, webhookTarget: String?,
        channels: [DeliveryChannel]
    ) -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        if isBlank(displayName) { errors.append(.init(pointer: "/displayName", detail: "must not be blank")) }
        if !isLanguageTag(language) { errors.append(.init(pointer: "/language", detail: languageTagDetail)) }
        if let email, !isEmailAddress(email) {
            errors.append(
                .init(pointer: "/email", detail: "must be a plain e-mail address: one @, ASCII, no spaces or control characters, at most 254 characters"))
        }
        switch DeliveryChannel(rawValue: channel).flatMap({ channels.contains($0) ? $0 : nil }) {
        case .email?: if email == nil { errors.append(.init(pointer: "/email", detail: "an e-mail address is needed for the email channel")) }
        case .sms?:
            if !(phone.map(isPhoneNumber) ?? false) {
                errors.append(.init(pointer: "/phone", detail: "a phone number of at least 7 digits is needed for the sms channel"))
            }
        case .webhook?:
            if webhookTarget == nil { errors.append(.init(pointer: "/webhookTarget", detail: "a webhook target id is needed for the webhook channel")) }
        case nil: errors.append(.init(pointer: "/channel", detail: "one of " + channels.map(\.rawValue).joined(separator: ", ")))
        }
        return errors
    }

    /// An IANA time zone this machine knows (the document lists them), or UTC.
    static func timeZone(_ name: String) -> TimeZone? {
        guard name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name) else { return nil }
        return TimeZone(identifier: name)
    }
}
