import Foundation
import Mustache
import WireFormats

/// What a message is about; each has a fixed set of variables a template may use.
public enum TemplateKey: String, Codable, Sendable, CaseIterable {
    case referralAssigned = "referral-assigned"
    case clientReferralAccepted = "client-referral-accepted"
    case clientConnectionProposed = "client-connection-proposed"
    case clientEnrolled = "client-enrolled"
    case referrerReferralAccepted = "referrer-referral-accepted"
    case referrerConnected = "referrer-connected"
    case referrerReferralClosed = "referrer-referral-closed"
    case partnerParticipantEnrolled = "partner-participant-enrolled"
    case linkWorkerFollowUpOverdue = "link-worker-follow-up-overdue"
    case coordinatorFollowUpEscalated = "coordinator-follow-up-escalated"

    /// The variables a template for this message may refer to (a section over a list uses `.`).
    public var variables: Set<String> {
        let common: Set<String> = ["recipientName", "reference", "site"]
        switch self {
        case .referralAssigned: return common.union(["urgent", "needs", "priority"])
        case .clientReferralAccepted: return common.union(["linkWorkerName", "callWithinDays"])
        case .clientConnectionProposed: return common.union(["resourceName", "resourceKind", "categories", "address", "schedule", "directions"])
        case .clientEnrolled: return common.union(["resourceName"])
        case .referrerReferralAccepted: return common.union(["linkWorkerName"])
        case .referrerConnected: return common.union(["resourceKind", "categories"])
        case .referrerReferralClosed: return common.union(["status", "reason", "outcome"])
        case .partnerParticipantEnrolled: return common.union(["participantFirstName", "participantPhone", "participantEmail", "resourceName"])
        case .linkWorkerFollowUpOverdue: return common.union(["step", "dueDate", "urgent", "priority"])
        case .coordinatorFollowUpEscalated: return common.union(["step", "dueDate", "urgent", "priority", "linkWorkerName"])
        }
    }

    /// Values that exercise every variable, for validating a template before it is saved.
    var sampleVariables: [String: TemplateValue] {
        var sample: [String: TemplateValue] = [:]
        for name in variables {
            switch name {
            case "urgent": sample[name] = .flag(true)
            case "needs", "categories": sample[name] = .list(["food-security", "social-isolation"])
            case "callWithinDays": sample[name] = .text("2")
            default: sample[name] = .text("Exemple Échantillon \(name)")
            }
        }
        return sample
    }
}

/// The two forms a message takes: an e-mail (subject, text, optional HTML), or a short text
/// sent by SMS or carried in a webhook.
public enum TemplateChannel: String, Codable, Sendable, CaseIterable {
    case email, text
}

/// A value handed to a template: text, a flag (for `{{#urgent}}` sections) or a list.
public enum TemplateValue: Codable, Sendable, Equatable {
    case text(String)
    case flag(Bool)
    case list([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            self = .flag(flag)
        } else if let list = try? container.decode([String].self) {
            self = .list(list)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .flag(let flag): try container.encode(flag)
        case .list(let list): try container.encode(list)
        }
    }

    var mustacheValue: Any {
        switch self {
        case .text(let text): return text
        case .flag(let flag): return flag
        case .list(let list): return list
        }
    }
}

/// One stored template: a message in one language for one channel.
public struct MessageTemplate: Codable, Sendable, Equatable {
    public var key: TemplateKey
    public var language: String
    public var channel: TemplateChannel
    /// E-mail only.
    public var subject: String?
    public var body: String
    /// E-mail only, optional.
    public var html: String?

    public init(key: TemplateKey, language: String, channel: TemplateChannel, subject: String? = nil, body: String, html: String? = nil) {
        self.key = key
        self.language = language
        self.channel = channel
        self.subject = subject
        self.body = body
        self.html = html
    }

    /// The longest text message: two concatenated SMS segments.
    public static let maximumTextLength = 306

    /// Checks syntax, variables and length; lists every problem with the field it concerns.
    public func validate() -> [TemplateProblem] {
        var problems: [TemplateProblem] = []
        let parts: [(field: String, text: String?, html: Bool)] = [("/subject", subject, false), ("/body", body, false), ("/html", html, true)]
        for part in parts {
            guard let text = part.text else { continue }
            do {
                _ = try MustacheTemplate(string: text)
            } catch {
                problems.append(TemplateProblem(pointer: part.field, detail: "not a valid Mustache template: \(error)"))
                continue
            }
            for name in Self.variableNames(in: text) where !key.variables.contains(name) && name != "." {
                problems.append(
                    TemplateProblem(
                        pointer: part.field,
                        detail: "unknown variable \"\(name)\"; \(key.rawValue) knows \(key.variables.sorted().joined(separator: ", "))"))
            }
        }
        switch channel {
        case .email:
            if (subject ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                problems.append(TemplateProblem(pointer: "/subject", detail: "an e-mail needs a subject"))
            }
        case .text:
            if subject != nil { problems.append(TemplateProblem(pointer: "/subject", detail: "a text message has no subject")) }
            if html != nil { problems.append(TemplateProblem(pointer: "/html", detail: "a text message has no HTML part")) }
        }
        if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append(TemplateProblem(pointer: "/body", detail: "must not be empty")) }
        if problems.isEmpty, channel == .text, let rendered = try? render(key.sampleVariables), rendered.body.count > Self.maximumTextLength {
            problems.append(
                TemplateProblem(
                    pointer: "/body",
                    detail: "renders to \(rendered.body.count) characters with sample values; a text message holds at most \(Self.maximumTextLength)"))
        }
        return problems
    }

    /// Renders every part; text parts are not HTML-escaped.
    public func render(_ variables: [String: TemplateValue]) throws -> RenderedMessage {
        try CompiledTemplate(self).render(variables)
    }

    /// Names used in `{{name}}`, `{{{name}}}`, `{{&name}}` and sections; comments, partials and
    /// pragmas are not variables.
    static func variableNames(in source: String) -> Set<String> {
        var names: Set<String> = []
        var rest = source[...]
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            var tag = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            if tag.hasPrefix("{") {
                tag.removeFirst()
                if rest.hasPrefix("}") { rest = rest.dropFirst() }
            }
            guard let first = tag.first else { continue }
            if "!>%=".contains(first) { continue }
            if "#^/&".contains(first) { tag.removeFirst() }
            let name = tag.trimmingCharacters(in: .whitespaces)
            if !name.isEmpty { names.insert(String(name.split(separator: ".").first ?? Substring(name))) }
        }
        return names
    }
}

public struct TemplateProblem: Sendable, Equatable, CustomStringConvertible {
    public var pointer: String
    public var detail: String
    public var description: String { "\(pointer): \(detail)" }
}

public struct RenderedMessage: Sendable, Equatable {
    public var subject: String?
    public var body: String
    public var html: String?
}

/// A template with its parts parsed, as the delivery loop keeps them (parsing a part cost more
/// than rendering it). A part that does not parse fails when rendered, as before it was kept.
struct CompiledTemplate: Sendable {
    let source: MessageTemplate
    private let parts: Result<(subject: MustacheTemplate?, body: MustacheTemplate, html: MustacheTemplate?), any Error>

    init(_ source: MessageTemplate) {
        self.source = source
        // Text parts are not HTML-escaped.
        func text(_ part: String) throws -> MustacheTemplate { try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + part) }
        parts = Result { (try source.subject.map(text), try text(source.body), try source.html.map { try MustacheTemplate(string: $0) }) }
    }

    func render(_ variables: [String: TemplateValue]) throws -> RenderedMessage {
        let parts = try parts.get()
        let context = variables.mapValues(\.mustacheValue)
        return RenderedMessage(
            subject: parts.subject?.render(context).trimmingWhitespace(),
            body: parts.body.render(context),
            html: parts.html?.render(context))
    }
}
