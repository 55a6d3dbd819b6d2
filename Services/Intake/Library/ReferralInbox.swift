import Domain
import Foundation
import HTTPTypes
import PostgresClient
import ServiceRuntime

/// `GET /v1/referrals`: the link worker's inbox, urgent first, then oldest first, in pages.
struct InboxQuery: Sendable {
    var site: String?
    /// The sites the caller may see (nil: every site).
    var sites: [String]?
    var status: ReferralStatus?
    var since: Date?
    /// The link worker who accepted the referrals; `owner=me` is the caller.
    var owner: String?
    var limit: Int
    var after: InboxCursor?
}

/// Where a page ended: the sort key of its last referral (stable under concurrent inserts).
struct InboxCursor: Codable, Sendable, Equatable {
    var urgency: Int
    var receivedAt: Date
    var id: UUID

    var token: String {
        let data = try! JSONEncoder().encode(self)
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    init(urgency: Int, receivedAt: Date, id: UUID) {
        self.urgency = urgency
        self.receivedAt = receivedAt
        self.id = id
    }

    init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let cursor = try? JSONDecoder().decode(InboxCursor.self, from: data) else { return nil }
        self = cursor
    }
}

struct InboxPage: Encodable, Sendable {
    var items: [ReferralView]
    var nextCursor: String?
}

extension InboxQuery {
    static func parse(_ parameters: Operations.ListReferrals.Input.Query, actor: Identity) throws(ProblemDetails) -> InboxQuery {
        var errors: [ProblemDetails.FieldError] = []
        var query = InboxQuery(limit: 50)
        if let site = parameters.site {
            if Site.isValid(site) { query.site = site } else { errors.append(.init(pointer: "?site", detail: "is not a site code")) }
        }
        if let status = parameters.status {
            if let parsed = ReferralStatus(rawValue: status) {
                query.status = parsed
            } else {
                errors.append(.init(pointer: "?status", detail: "must be one of \(ReferralStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        // A time that is not one is refused as the parameter is read (400).
        query.since = parameters.since
        if let owner = parameters.owner {
            if owner == "me" {
                query.owner = actor.subject
            } else if (1...200).contains(owner.unicodeScalars.count), owner.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) {
                query.owner = owner
            } else {
                errors.append(.init(pointer: "?owner", detail: "must be me or a staff id of 1 to 200 visible ASCII characters"))
            }
        }
        if let limit = parameters.limit {
            if (1...200).contains(limit) {
                query.limit = limit
            } else {
                errors.append(.init(pointer: "?limit", detail: "must be 1 to 200"))
            }
        }
        if let cursor = parameters.cursor {
            if let parsed = InboxCursor(token: cursor) {
                query.after = parsed
            } else {
                errors.append(.init(pointer: "?cursor", detail: "is not a cursor from a previous page"))
            }
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        // Everyone but a network-wide role sees the sites their token names, whatever they ask for.
        query.sites = actor.sitesInScope.map { $0.sorted() }
        return query
    }
}

extension ReferralStore {
    func inbox(_ query: InboxQuery, actor: Identity) async throws -> InboxPage {
        // Referrers (without a broader role) see the referrals they sent.
        let referrer: String? = actor.hasAny(.coordinator, .networkCoordinator, .service, .linkWorker) ? nil : actor.subject
        let after = query.after
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT \(fragment: ReferralView.columns), CASE priority WHEN 'urgent' THEN 0 ELSE 1 END AS urgency
                FROM \(fragment: ReferralView.source)
                WHERE (\(query.site)::text IS NULL OR site = \(query.site))
                  AND (\(query.sites)::text[] IS NULL OR site = ANY(\(query.sites)::text[]))
                  AND (\(query.status?.rawValue)::text IS NULL OR status = \(query.status?.rawValue))
                  AND (\(query.since)::timestamptz IS NULL OR received_at >= \(query.since)::timestamptz)
                  AND (\(referrer)::text IS NULL OR referrer_id = \(referrer))
                  AND (\(query.owner)::text IS NULL OR owner_id = \(query.owner))
                  AND (\(after?.urgency)::int IS NULL
                       OR (CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, received_at, id)
                          > (\(after?.urgency)::int, \(after?.receivedAt)::timestamptz, \(after?.id)::uuid))
                ORDER BY urgency, received_at, id
                LIMIT \(query.limit + 1)
                """)
        }
        var items: [ReferralView] = []
        var last: InboxCursor?
        for row in rows.prefix(query.limit) {
            let view = try ReferralView(row: row)
            items.append(view)
            last = InboxCursor(urgency: try row.decode("urgency"), receivedAt: try row.decode("received_at"), id: view.id)
        }
        return InboxPage(items: items, nextCursor: rows.count > query.limit ? last?.token : nil)
    }
}
