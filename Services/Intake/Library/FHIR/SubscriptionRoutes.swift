import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime
import Webhooks
import WireFormats

/// `POST /fhir/r4/Subscription` (R4 backport, Gravity Task topic, rest-hook), `GET` and `DELETE`
/// by id. The subscriber gives the secret its notifications are signed with in the
/// `webhook-secret` extension of `Subscription.channel`; it is never shown again.
struct SubscriptionRoutes: Sendable {
    let store: ReferralStore
    let settings: FHIRSettings

    struct Parsed: Sendable {
        var reason: String
        var filters: [String: [String]]
        var endpoint: String
        var secret: String
        var headers: [String]
        var content: String
        var end: Date?
    }

    func create(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let (raw, _) = try await FHIRBody.read(request, context: context, root: "Subscription")
        try FHIRBody.expect("Subscription", raw, at: "Subscription")
        var validator = FHIRValidator()
        validator.scanStrings(raw, at: "Subscription")
        try FHIRBody.refuse(validator)
        let parsed = try await parse(raw)
        let id = UUID.random()
        try await store.pool.sessionTransaction { session in
            let count = try session.query(
                """
                SELECT count(*) AS n FROM fhir_subscription WHERE owner_subject = \(actor.subject) AND status <> 'off'
                """
            ).first!.decode("n", as: Int.self)
            guard count < 100 else {
                throw OperationOutcome(
                    status: .unprocessableContent, code: "too-costly", "at most 100 live subscriptions per sender: delete some first",
                    expression: "Subscription")
            }
            try session.execute(
                """
                INSERT INTO fhir_subscription (id, owner_subject, owner_roles, owner_site, owner_sites, topic, filters, endpoint, secret, headers, content, reason, status, end_at)
                VALUES (\(id)::uuid, \(actor.subject), \(actor.roles.map(\.rawValue).sorted())::text[], \(actor.site),
                    \(actor.sites.sorted())::text[], \(FHIRSubscriptions.taskTopic),
                    \(try PostgresJSON(encoding: parsed.filters))::jsonb, \(parsed.endpoint), \(parsed.secret), \(parsed.headers)::text[],
                    \(parsed.content), \(parsed.reason), 'requested', \(parsed.end)::timestamptz)
                """)
            // The handshake goes first; the subscription is active once it is delivered.
            try session.execute(
                """
                INSERT INTO fhir_subscription_notification (id, subscription_id, kind) VALUES (\(UUID.random())::uuid, \(id)::uuid, 'handshake')
                """)
        }
        let resource = try await load(id, actor: actor)!
        return try Response.json(
            resource, status: .created, headers: [.location: "Subscription/\(id.uuidString.lowercased())"], contentType: "application/fhir+json")
    }

    func read(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        guard let resource = try await load(try context.pathID(), actor: actor) else {
            throw OperationOutcome.notFound("Subscription")
        }
        return try Response.json(resource, status: .ok, contentType: "application/fhir+json")
    }

    /// `$status`: the subscription's SubscriptionStatus (R4 backport), in a searchset Bundle.
    func status(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let row = try await store.pool.withConnection { connection in
            try await connection.query("SELECT owner_subject, status, events_since_start, error FROM fhir_subscription WHERE id = \(id)::uuid").first
        }
        guard let row else { throw OperationOutcome.notFound("Subscription") }
        let owner: String = try row.decode("owner_subject")
        guard actor.isNetworkWide || owner == actor.subject else { throw OperationOutcome.notFound("Subscription") }
        let subscriptionURL = "\(settings.baseURL)/Subscription/\(id.uuidString.lowercased())"
        var parameters: [AnyJSON] = [
            .object(["name": .string("subscription"), "valueReference": .object(["reference": .string(subscriptionURL)])]),
            .object(["name": .string("topic"), "valueCanonical": .string(FHIRSubscriptions.taskTopic)]),
            .object(["name": .string("status"), "valueCode": .string(try row.decode("status"))]),
            .object(["name": .string("type"), "valueCode": .string("query-status")]),
            .object(["name": .string("events-since-subscription-start"), "valueString": .string(String(try row.decode("events_since_start", as: Int.self)))]),
        ]
        if let error = try row.decode("error", as: String?.self) {
            parameters.append(.object(["name": .string("error"), "valueCodeableConcept": .object(["text": .string(error)])]))
        }
        let bundle: AnyJSON = .object([
            "resourceType": .string("Bundle"), "type": .string("searchset"), "total": .number(1),
            "entry": .array([
                .object([
                    "fullUrl": .string("urn:uuid:\(UUID.random().uuidString.lowercased())"),
                    "resource": .object([
                        "resourceType": .string("Parameters"),
                        "meta": .object(["profile": .array([.string(FHIRSubscriptions.statusProfile)])]),
                        "parameter": .array(parameters),
                    ]),
                    "search": .object(["mode": .string("match")]),
                ])
            ]),
        ])
        return try Response.json(bundle, status: .ok, contentType: "application/fhir+json")
    }

    /// Turns the subscription off and drops what it had not sent yet.
    func delete(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let found = try await store.pool.sessionTransaction { session -> Bool in
            guard let row = try session.query("SELECT owner_subject FROM fhir_subscription WHERE id = \(id)::uuid FOR UPDATE").first else { return false }
            let owner: String = try row.decode("owner_subject")
            guard actor.isNetworkWide || owner == actor.subject else { return false }
            try session.execute("UPDATE fhir_subscription SET status = 'off', updated_at = now() WHERE id = \(id)::uuid")
            try session.execute("DELETE FROM fhir_subscription_notification WHERE subscription_id = \(id)::uuid AND sent_at IS NULL")
            return true
        }
        guard found else { throw OperationOutcome.notFound("Subscription") }
        return Response(status: .noContent)
    }

    /// The subscription as its owner (or a coordinator) sees it, without its secret.
    private func load(_ id: UUID, actor: Identity) async throws -> AnyJSON? {
        try await store.pool.withConnection { connection -> AnyJSON? in
            guard
                let row = try await connection.query(
                    """
                    SELECT owner_subject, filters::text AS filters, endpoint, headers, content, reason, status, end_at, error
                    FROM fhir_subscription WHERE id = \(id)::uuid
                    """
                ).first
            else { return nil }
            let owner: String = try row.decode("owner_subject")
            guard actor.isNetworkWide || owner == actor.subject else { return nil }
            let filters = try JSONDecoder().decode([String: [String]].self, from: Data(try row.decode("filters", as: String.self).utf8))
            let headers: [String] = try row.decode("headers")
            var fields: [String: AnyJSON] = [
                "resourceType": .string("Subscription"),
                "id": .string(id.uuidString.lowercased()),
                "meta": .object(["profile": .array([.string(FHIRSubscriptions.backport + "backport-subscription")])]),
                "status": .string(try row.decode("status")),
                "reason": .string(try row.decode("reason")),
                "criteria": .string(FHIRSubscriptions.taskTopic),
                "channel": .object([
                    "type": .string("rest-hook"),
                    "endpoint": .string(try row.decode("endpoint")),
                    "payload": .string("application/fhir+json"),
                    "_payload": .object([
                        "extension": .array([
                            .object([
                                "url": .string(FHIRSubscriptions.payloadContentExtension), "valueCode": .string(try row.decode("content")),
                            ])
                        ])
                    ]),
                    // Header values may be credentials: only their names are shown.
                    "header": .array(headers.map { .string(String($0.prefix { $0 != ":" }) + ": (hidden)") }),
                ]),
            ]
            if !filters.isEmpty {
                let criteria = "Task?" + filters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ","))" }.joined(separator: "&")
                fields["_criteria"] = .object([
                    "extension": .array([.object(["url": .string(FHIRSubscriptions.filterCriteriaExtension), "valueString": .string(criteria)])])
                ])
            }
            if let end = try row.decode("end_at", as: Date?.self) { fields["end"] = .string(end.formatted(.iso8601)) }
            if let error = try row.decode("error", as: String?.self) { fields["error"] = .string(error) }
            return .object(fields)
        }
    }

    /// Everything wrong with the Subscription at once, each issue with its FHIRPath.
    private func parse(_ raw: AnyJSON) async throws(OperationOutcome) -> Parsed {
        var issues: [OperationOutcome.Issue] = []
        func fail(_ expression: String, _ text: String, code: String = "invalid") {
            issues.append(.init(code: code, diagnostics: "\(expression): \(text)", expression: [expression]))
        }
        guard case .object(let fields) = raw else { throw OperationOutcome("expected a Subscription", expression: "Subscription") }
        func string(_ json: AnyJSON?) -> String? {
            if case .string(let text)? = json { return text }
            return nil
        }
        func extensions(_ json: AnyJSON?) -> [[String: AnyJSON]] {
            guard case .object(let fields)? = json, case .array(let list)? = fields["extension"] else { return [] }
            return list.compactMap { if case .object(let item) = $0 { return item } else { return nil } }
        }

        switch string(fields["status"]) {
        case "requested"?, "active"?: break
        case nil: fail("Subscription.status", "is required (1..1): send requested", code: "required")
        case let other?: fail("Subscription.status", "must be requested (or active) when created, not \(other)", code: "code-invalid")
        }
        let reason = string(fields["reason"])?.trimmingWhitespace() ?? ""
        if reason.isEmpty { fail("Subscription.reason", "is required (1..1)", code: "required") }
        if reason.count > 500 { fail("Subscription.reason", "must be at most 500 characters", code: "too-long") }

        let criteria = string(fields["criteria"]) ?? ""
        let topic = String(criteria.prefix { $0 != "|" })
        if criteria.isEmpty {
            fail("Subscription.criteria", "is required: the topic canonical \(FHIRSubscriptions.taskTopic)", code: "required")
        } else if topic == FHIRSubscriptions.serviceRequestTopic {
            fail(
                "Subscription.criteria",
                "the ServiceRequest topic is for fulfillers watching requests; Passerelle offers the Task topic \(FHIRSubscriptions.taskTopic)",
                code: "not-supported")
        } else if topic != FHIRSubscriptions.taskTopic {
            fail("Subscription.criteria", "must be the topic \(FHIRSubscriptions.taskTopic), not \(criteria)", code: "not-supported")
        }
        var filters: [String: [String]] = [:]
        for (index, item) in extensions(fields["_criteria"]).enumerated() where string(item["url"]) == FHIRSubscriptions.filterCriteriaExtension {
            let expression = "Subscription.criteria.extension[\(index)].value"
            guard let value = string(item["valueString"]) else {
                fail(expression, "must be a valueString such as Task?owner=Organization/ottawa-west-chc", code: "required")
                continue
            }
            switch FHIRSubscriptions.parseFilter(value) {
            case .success(let parsed): filters.merge(parsed) { $0 + $1 }
            case .failure(let problem): fail(expression, problem.detail, code: "not-supported")
            }
        }

        var endpoint = ""
        var secret = ""
        var headers: [String] = []
        var content = "id-only"
        if case .object(let channel)? = fields["channel"] {
            if string(channel["type"]) != "rest-hook" {
                fail(
                    "Subscription.channel.type", "must be rest-hook, not \(string(channel["type"]) ?? "missing")",
                    code: string(channel["type"]) == nil ? "required" : "not-supported")
            }
            endpoint = string(channel["endpoint"]) ?? ""
            if endpoint.isEmpty {
                fail("Subscription.channel.endpoint", "is required for a rest-hook", code: "required")
            } else if endpoint.utf8.count > 2_000 {
                fail("Subscription.channel.endpoint", "must be at most 2000 bytes", code: "too-long")
            } else if endpoint.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f }) {
                // URL percent-encodes spaces and control characters instead of refusing them; an
                // endpoint holding them is not the one its EHR meant.
                fail("Subscription.channel.endpoint", WebhookTargetRefusal.notHTTP.description, code: "security")
            } else if let problem = await settings.endpoints.problem(with: endpoint) {
                fail("Subscription.channel.endpoint", problem, code: "security")
            }
            if let payload = string(channel["payload"]), payload != "application/fhir+json", payload != "application/json" {
                fail("Subscription.channel.payload", "must be application/fhir+json, not \(payload)", code: "not-supported")
            }
            for item in extensions(channel["_payload"]) where string(item["url"]) == FHIRSubscriptions.payloadContentExtension {
                switch string(item["valueCode"]) {
                case "id-only"?: content = "id-only"
                case "empty"?: content = "empty"
                case let other:
                    fail(
                        "Subscription.channel.payload.extension",
                        "payload content \(other ?? "missing") is not offered: use id-only or empty (then read the Task)", code: "not-supported")
                }
            }
            if case .array(let list)? = channel["header"] {
                for (index, header) in list.enumerated() {
                    let expression = "Subscription.channel.header[\(index)]"
                    guard let text = string(header) else {
                        fail(expression, "must be a string", code: "structure")
                        continue
                    }
                    let parts = text.split(separator: ":", maxSplits: 1)
                    let name = parts.first.map { String($0).trimmingWhitespace() } ?? ""
                    let reserved = WebhookSignature.headerNames.union(["content-type", "content-length", "host", "user-agent"])
                    if parts.count != 2 || name.isEmpty
                        || !name.unicodeScalars.allSatisfy({ $0.isASCII && $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" })
                        || text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) || text.utf8.count > 1_000
                    {
                        fail(expression, "must be a single \"Name: value\" HTTP header", code: "invalid")
                    } else if reserved.contains(name.lowercased()) {
                        fail(expression, "\(name) is set by Passerelle", code: "invalid")
                    } else {
                        headers.append(text)
                    }
                }
                if list.count > 10 { fail("Subscription.channel.header", "at most 10 headers", code: "too-costly") }
            }
            let secrets = extensions(.object(channel)).filter { string($0["url"]) == FHIRSubscriptions.secretExtension }
            secret = secrets.first.flatMap { string($0["valueString"]) } ?? ""
            if secret.isEmpty {
                fail(
                    "Subscription.channel.extension",
                    "a \(FHIRSubscriptions.secretExtension) extension (valueString) is required: the secret notifications are signed with (Standard Webhooks)",
                    code: "required")
            } else if !WebhookSignature.isStrongEnough(secret) || secret.utf8.count > 200 {
                fail(
                    "Subscription.channel.extension", "the webhook secret must be 32 to 200 characters, or whsec_ and base64 of at least 24 bytes",
                    code: "security")
            } else if let weakness = SecretStrength(signingSecret: secret).weakness {
                // As the services' own secrets: whoever guesses it can forge notifications.
                fail("Subscription.channel.extension", "the webhook secret \(weakness); use a random one (e.g. `openssl rand -base64 32`)", code: "security")
            }
        } else {
            fail("Subscription.channel", "is required (1..1)", code: "required")
        }
        var end: Date?
        if let text = string(fields["end"]) {
            if let date = try? Date.ISO8601FormatStyle().parse(text) {
                end = date
            } else {
                fail("Subscription.end", "must be an instant such as 2027-01-31T00:00:00Z")
            }
        }
        guard issues.isEmpty else { throw OperationOutcome(status: .unprocessableContent, issues: issues) }
        return Parsed(reason: reason, filters: filters, endpoint: endpoint, secret: secret, headers: headers, content: content, end: end)
    }
}
