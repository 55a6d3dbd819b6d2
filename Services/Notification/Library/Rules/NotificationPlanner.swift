import Contracts
import Crypto
import Domain
import Foundation
import PostgresClient
import WireFormats

extension Occasion {
    /// A stable text form, for parking an occasion until its referral arrives.
    var code: String {
        switch self {
        case .assigned: return "assigned"
        case .referralStatus(let status): return "referral-status:\(status.rawValue)"
        case .connectionProposed: return "connection-proposed"
        case .connectionStatus(let status): return "connection-status:\(status.rawValue)"
        case .followUpOverdue: return "follow-up-overdue"
        case .followUpEscalated: return "follow-up-escalated"
        }
    }

    init?(code: String) {
        let parts = code.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first, parts.count > 1 ? parts[1] : nil) {
        case ("assigned", nil): self = .assigned
        case ("connection-proposed", nil): self = .connectionProposed
        case ("follow-up-overdue", nil): self = .followUpOverdue
        case ("follow-up-escalated", nil): self = .followUpEscalated
        case ("referral-status", let status?):
            guard let s = ReferralStatus(rawValue: status) else { return nil }
            self = .referralStatus(s)
        case ("connection-status", let status?):
            guard let s = ConnectionStatus(rawValue: status) else { return nil }
            self = .connectionStatus(s)
        default: return nil
        }
    }
}

/// An occasion with the facts its templates need, as parked or planned.
struct OccasionRecord: Codable, Sendable {
    var occasion: String
    var facts: [String: TemplateValue]
    var linkWorkerID: UUID?
    var resourceID: UUID?
    /// The link worker the event names as the referral's owner (a staff id), who is told
    /// rather than the one matching assigned.
    var ownerID: String?
    /// What makes the occasion happen once, whatever event carries it (e.g. a follow-up step
    /// and level): notifications are derived from it instead of the event's id, so the same
    /// occasion raised again under another event id tells no one twice.
    var once: String?
}

/// A notification's id, derived from (source event, recipient, template): the same event
/// consumed again yields the same ids, and the insert does nothing.
public enum NotificationID {
    public static func derive(sourceEvent: UUID, recipient: String, template: TemplateKey) -> UUID {
        let digest = Array(SHA256.hash(data: Data("\(sourceEvent.uuidString.lowercased())|\(recipient)|\(template.rawValue)".utf8)))
        return uuid(digest)
    }

    /// A notification's id for an occasion that happens once per referral and `once` key.
    public static func derive(referral: UUID, once: String, recipient: String, template: TemplateKey) -> UUID {
        let text = "\(referral.uuidString.lowercased())|\(once)|\(recipient)|\(template.rawValue)"
        return uuid(Array(SHA256.hash(data: Data(text.utf8))))
    }

    private static func uuid(_ digest: [UInt8]) -> UUID {
        var bytes = Array(digest.prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8: custom, name-based
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}

/// Turns an occasion into notification rows, inside the consumer's transaction: the rules say
/// who, consent decides whether, quiet hours decide when. Sending happens later (`DeliveryLoop`).
struct NotificationPlanner: Sendable {
    let settings: NotificationSettings
    /// The delivery loop's channel, notified once notifications planned here are committed.
    let deliveryWakeUp: String

    /// Serialises, until the transaction ends, everything done for one referral: its arrival
    /// and its occasions come on different topics, possibly to different lanes or replicas, and
    /// an occasion parked while the referral is being recorded must not be missed by both.
    func lock(referralID: UUID, on connection: PostgresConnection) async throws {
        // Sent with the next statement: the lock is held before that one runs.
        try await connection.execute("SELECT pg_advisory_xact_lock(hashtext(\("notification.referral." + referralID.uuidString.lowercased())))")
    }

    func plan(_ record: OccasionRecord, referralID: UUID, sourceEventID: UUID, at time: Date, on connection: PostgresConnection) async throws {
        guard let occasion = Occasion(code: record.occasion) else { return }
        try await lock(referralID: referralID, on: connection)
        if let linkWorker = record.linkWorkerID {
            try await connection.execute("UPDATE referral_audience SET link_worker_id = \(linkWorker)::uuid WHERE referral_id = \(referralID)::uuid")
        }
        guard
            let audience = try await connection.query(
                """
                SELECT a.client_id, a.site, a.referrer_id, a.link_worker_id, a.priority, a.needs, a.preferred_channel, a.consent_contact,
                       a.consent_share_with_partners, p.time_zone, p.quiet_start::text AS quiet_start, p.quiet_end::text AS quiet_end
                FROM referral_audience a LEFT JOIN site_policy p ON p.site = a.site WHERE a.referral_id = \(referralID)::uuid
                """
            ).first
        else {
            // An erased referral is told about no more (a late or replayed occasion), and not
            // parked either: nothing will ever arrive to plan it.
            if try await connection.query("SELECT 1 FROM erased_referral WHERE referral_id = \(referralID)::uuid").first != nil { return }
            // The referral has not reached us yet (another topic); plan when it does.
            let json = try JSONCoding.stored.encodeText(record)
            try await connection.query(
                """
                INSERT INTO parked_occasion (source_event_id, referral_id, occasion) VALUES (\(sourceEventID)::uuid, \(referralID)::uuid, \(json)::jsonb)
                ON CONFLICT (source_event_id) DO NOTHING
                """)
            return
        }
        var facts = record.facts
        facts["site"] = .text(try audience.decode("site"))
        facts["urgent"] = .flag(try audience.decode("priority", as: String.self) == ReferralPriority.urgent.rawValue)
        facts["priority"] = .text(try audience.decode("priority"))
        facts["needs"] = .list(try audience.decode("needs"))
        let factsJSON = try JSONCoding.stored.encodeText(facts)
        let quietHours = try siteQuietHours(audience)

        for rule in NotificationRules.rules(for: occasion) {
            var status = "pending"
            var reason: String?
            var notBefore = time
            // Usually one recipient; every coordinator of the site for an escalation.
            let recipientIDs: [String]
            switch rule.recipient {
            case .client:
                recipientIDs = [try audience.decode("client_id", as: UUID.self).uuidString.lowercased()]
                if try audience.decode("preferred_channel", as: String.self) == ContactChannel.none.rawValue {
                    (status, reason) = ("withheld", "the client asked not to be contacted")
                } else if try !audience.decode("consent_contact", as: Bool.self) {
                    (status, reason) = ("withheld", "the client did not consent to be contacted")
                } else if let quietHours {
                    notBefore = quietHours.earliestDelivery(at: time)
                    if notBefore > time { status = "deferred" }
                }
            case .linkWorker:
                if let owner = record.ownerID {
                    recipientIDs = [owner]
                } else {
                    guard let worker = try audience.decode("link_worker_id", as: UUID?.self) else { continue }
                    recipientIDs = [worker.uuidString.lowercased()]
                }
            case .referrer:
                recipientIDs = [try audience.decode("referrer_id")]
            case .partner:
                guard let resource = record.resourceID else { continue }
                recipientIDs = [resource.uuidString.lowercased()]
                if try !audience.decode("consent_share_with_partners", as: Bool.self) {
                    (status, reason) = ("withheld", "the client did not consent to sharing with partners")
                }
            case .coordinator:
                // The coordinators of the referral's own site, as this service recorded it: never
                // the site an occasion claims.
                let site: String = try audience.decode("site")
                let registered = try await connection.query("SELECT id FROM recipient WHERE kind = 'coordinator' AND site = \(site) ORDER BY id")
                    .map { try $0.decode("id", as: String.self) }
                // An escalation that reaches no one is not silent: the delivery log says so.
                if registered.isEmpty { (status, reason) = ("failed", "no coordinator is registered for site \(site)") }
                recipientIDs = registered.isEmpty ? ["\(site)/"] : registered
            }
            for recipientID in recipientIDs {
                let recipient = "\(rule.recipient.rawValue):\(recipientID)"
                let id =
                    record.once.map { NotificationID.derive(referral: referralID, once: $0, recipient: recipient, template: rule.template) }
                    ?? NotificationID.derive(sourceEvent: sourceEventID, recipient: recipient, template: rule.template)
                try await connection.execute(
                    """
                    INSERT INTO notification (id, referral_id, source_event_id, recipient_kind, recipient_id, template, facts, status, not_before,
                        last_error, created_at, updated_at)
                    VALUES (\(id)::uuid, \(referralID)::uuid, \(sourceEventID)::uuid, \(rule.recipient.rawValue), \(recipientID), \(rule.template.rawValue),
                        \(factsJSON)::jsonb, \(status), \(notBefore)::timestamptz, \(reason), \(time)::timestamptz, \(time)::timestamptz)
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
        }
        try await connection.notifyAfterCommit(deliveryWakeUp)
    }

    /// Plans what arrived before the referral did.
    func planParked(referralID: UUID, on connection: PostgresConnection) async throws {
        let parked = try await connection.query(
            """
            DELETE FROM parked_occasion WHERE referral_id = \(referralID)::uuid
            RETURNING source_event_id, occasion::text AS occasion, parked_at
            """)
        for row in parked.sorted(by: {
            (try? $0.decode("parked_at", as: Date.self)) ?? .distantPast < (try? $1.decode("parked_at", as: Date.self)) ?? .distantPast
        }) {
            let record = try JSONCoding.stored.decode(OccasionRecord.self, from: try row.decode("occasion", as: String.self))
            try await plan(record, referralID: referralID, sourceEventID: try row.decode("source_event_id"), at: try row.decode("parked_at"), on: connection)
        }
    }

    private func siteQuietHours(_ audience: PostgresRow) throws -> QuietHours? {
        let zone = try audience.decode("time_zone", as: String?.self).flatMap(TimeZone.init(identifier:)) ?? settings.defaultTimeZone
        if let start = try audience.decode("quiet_start", as: String?.self), let end = try audience.decode("quiet_end", as: String?.self) {
            return QuietHours("\(start.prefix(5))-\(end.prefix(5))", timeZone: zone)
        }
        if try audience.decode("time_zone", as: String?.self) != nil { return nil }  // the site chose no quiet hours
        return settings.defaultQuietHours.flatMap { QuietHours($0, timeZone: zone) }
    }
}
