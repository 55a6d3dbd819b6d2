import Domain
import EvaluationAPI
import Foundation
import HTTPTypes
import Hummingbird
import MatchingAPI

/// The referral's pathway on its page: the connections to resources with the changes each allows
/// (matching), and the outcome questionnaires answered with the client (evaluation). As with the
/// casework, a refusal shows the form again as it was sent, with the service's words beside it.
extension ConsoleRoutes {
    /// The questionnaires the console offers, with their items and answer scales: UCLA-3's and
    /// ONS4's published wording is in Translations; SWEMWBS's is licensed, so it is offered only
    /// with the items a network loaded (`licensed`).
    struct Questionnaire: Sendable {
        var code: String
        var items: Int
        var range: ClosedRange<Int>
        var licensed: LicensedItems? = nil

        static let ucla3 = Questionnaire(code: "ucla3", items: 3, range: 1...3)
        static let ons4 = Questionnaire(code: "ons4", items: 4, range: 0...10)
        static let timepoints = ["baseline", "follow-up-6w", "follow-up-12w", "closure"]

        /// UCLA-3 and ONS4, and SWEMWBS when its items are loaded.
        static func offered(swemwbs: LicensedItems?) -> [Questionnaire] {
            [ucla3, ons4] + (swemwbs.map { [Questionnaire(code: "swemwbs", items: 7, range: 1...5, licensed: $0)] } ?? [])
        }

        /// Item `number` (from 1) in `language`: the loaded wording, else the published one.
        func wording(_ number: Int, _ language: Language) -> String {
            guard let item = licensed?.items[number - 1] else { return Translations.text("\(code).item\(number)", language) }
            return language == .fr ? item.fr : item.en
        }
    }

    var questionnaires: [Questionnaire] { Questionnaire.offered(swemwbs: settings.swemwbsItems) }

    func questionnaire(named code: String?) -> Questionnaire? { questionnaires.first { $0.code == code } }

    func addPathway(to router: Router<BasicRequestContext>) {
        router.post("/referrals/:id/connections/:connection") { request, context in
            try await changeConnection(request, id: context.parameters.get("id") ?? "", connection: context.parameters.get("connection") ?? "")
        }
        router.post("/referrals/:id/outcomes") { request, context in
            try await recordOutcome(request, id: context.parameters.get("id") ?? "")
        }
        router.post("/referrals/:id/service-use") { request, context in
            try await recordServiceUse(request, id: context.parameters.get("id") ?? "")
        }
    }

    /// The service-use form's fields and the JSON pointers evaluation names them by.
    static let serviceUseFields: [(field: String, period: String, count: String)] = [
        ("beforePrimary", "before", "primaryCareVisits"), ("beforeEmergency", "before", "emergencyVisits"),
        ("afterPrimary", "after", "primaryCareVisits"), ("afterEmergency", "after", "emergencyVisits"),
    ]

    /// The service-use form, from what evaluation holds (or what was typed when it was refused),
    /// with the periods as recorded and their change.
    func serviceUseForm(_ recorded: EvaluationAPI.Components.Schemas.ServiceUse?, failure: FormFailure?, language: Language) -> [String: Any] {
        var defaults: [String: String] = [:]
        for (field, period, count) in Self.serviceUseFields {
            let counts = period == "before" ? recorded?.before : recorded?.after
            let value = count == "primaryCareVisits" ? counts?.primaryCareVisits : counts?.emergencyVisits
            if let value { defaults[field] = "\(value)" }
        }
        var form = formValues("service-use", failure: failure, defaults: defaults, language: language)
        for (field, _, _) in Self.serviceUseFields where form[field] == nil { form[field] = "" }
        func shown(_ value: Int?) -> String { value.map { "\($0)" } ?? text("unknown", language) }
        func change(_ value: Int?) -> String { value.map { $0 > 0 ? "+\($0)" : "\($0)" } ?? "—" }
        form["available"] = recorded != nil
        form["rows"] = [
            [
                "label": text("primaryCare", language), "before": shown(recorded?.before?.primaryCareVisits),
                "after": shown(recorded?.after?.primaryCareVisits),
                "change": change(recorded?.change?.primaryCareVisits),
            ],
            [
                "label": text("emergency", language), "before": shown(recorded?.before?.emergencyVisits), "after": shown(recorded?.after?.emergencyVisits),
                "change": change(recorded?.change?.emergencyVisits),
            ],
        ]
        form["recorded"] = recorded?.before != nil || recorded?.after != nil
        return form
    }

    /// Sends the periods filled in: a period left empty is left out (evaluation keeps it), an
    /// empty box in a period sent is unknown.
    func recordServiceUse(_ request: Request, id: String) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil else {
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                    signIn: false)
            }
            func failed(_ message: String, _ errors: [(field: String, detail: String)], status: HTTPResponse.Status) async throws -> Response {
                let failure = FormFailure(form: "service-use", message: message, errors: errors, typed: fields)
                return try await referral(id: id, session: session, language: language, notice: nil, problem: nil, status: status, failure: failure)
            }
            var errors: [(field: String, detail: String)] = []
            var periods: [String: [String: Int]] = [:]
            for (field, period, count) in Self.serviceUseFields {
                guard let typed = Self.given(fields, field) else { continue }
                guard let value = Int(typed) else {
                    errors.append((field, text("invalid.visits", language)))
                    continue
                }
                // The range is evaluation's to check, and to say.
                periods[period, default: [:]][count] = value
            }
            if errors.isEmpty && periods.isEmpty { errors.append(("beforePrimary", text("invalid.noPeriod", language))) }
            guard errors.isEmpty else { return try await failed(text("invalid.form", language), errors, status: .unprocessableContent) }
            let answer: ServiceClients.Answer
            do {
                answer = try await ServiceClients(settings: settings, token: session.accessToken).recordServiceUse(referral: id, periods: periods)
            } catch {
                return unavailable(error, language, session)
            }
            switch answer {
            case .done:
                return .redirect(to: "/referrals/\(id)?done=service-use#service-use", type: .normal)
            case .refused(let status, let problem):
                // `/before/primaryCareVisits` is the form's beforePrimary.
                let refusal = refusal(status: status, problem: problem, about: .serviceUse, language: language) { pointer in
                    Self.serviceUseFields.first { "/\($0.period)/\($0.count)" == pointer }?.field
                }
                return try await failed(refusal.message, refusal.errors, status: refusal.status)
            }
        }
    }

    // MARK: The page's part

    /// The connections as the page lists them, each change a form of its own.
    func connectionRows(_ listed: MatchingAPI.Components.Schemas.ConnectionList?, failure: FormFailure?, dates: DateFormatter, language: Language)
        -> [[String: Any]]
    {
        (listed?.connections ?? []).map { connection in
            let failed = failure?.form == "connection" && failure?.goalId == connection.id.lowercased() ? failure : nil
            var row: [String: Any] = [
                "id": connection.id, "name": connection.resourceName, "status": text("connection.\(connection.status.rawValue)", language),
                "proposed": dates.string(from: connection.proposedAt), "updated": dates.string(from: connection.updatedAt),
                "changes": connection.allowedNext.map { next -> [String: Any] in
                    let ends = next == .dropped || next == .declined
                    var change: [String: Any] = [
                        "status": next.rawValue, "label": text("connectionAction.\(next.rawValue)", language), "ends": ends, "connectionId": connection.id,
                        // Set even when empty: Mustache would otherwise show the connection's own reason.
                        "reason": "", "invalid": false,
                    ]
                    if let failed, failed.typed["status"] == next.rawValue {
                        change["reason"] = failed.typed["reason"] ?? ""
                        change["invalid"] = failed.invalidFields.contains("reason")
                    }
                    return change
                },
                "hasChanges": !connection.allowedNext.isEmpty,
            ]
            if let reason = connection.reason, !reason.isEmpty { row["reason"] = reason }
            if let failed { row["problem"] = failed.message }
            return row
        }
    }

    /// One questionnaire's form: its items in order, each with its answer scale, and what was
    /// chosen when it was refused.
    func questionnaireForm(_ questionnaire: Questionnaire, failure: FormFailure?, language: Language) -> [String: Any] {
        Self.questionnaireForm(questionnaire, failure: failure, language: language)
    }

    static func questionnaireForm(_ questionnaire: Questionnaire, failure: FormFailure?, language: Language) -> [String: Any] {
        let name = "outcome-\(questionnaire.code)"
        let failed = failure?.form == name ? failure : nil
        var form = formValues(name, failure: failure, defaults: [:], language: language)
        let code = questionnaire.code
        func text(_ key: String) -> String { Translations.text(key, language) }
        form["instrument"] = code
        form["title"] = text("instrument.\(code)")
        form["intro"] = text("\(code).intro")
        form["scale"] = text("\(code).scale")
        // Set even when absent: Mustache would otherwise look for a licence in the page around it.
        form["licence"] = questionnaire.licensed?.licence ?? ""
        form["timepoints"] = Questionnaire.timepoints.map { point -> [String: Any] in
            ["value": point, "label": text("timepoint.\(point)"), "selected": failed?.typed["timepoint"] == point]
        }
        form["timepointInvalid"] = failed?.invalidFields.contains("timepoint") == true
        form["items"] = (1...questionnaire.items).map { item -> [String: Any] in
            let field = "item\(item)"
            return [
                "field": field, "number": item, "wording": questionnaire.wording(item, language),
                "invalid": failed?.invalidFields.contains(field) == true,
                "answers": questionnaire.range.map { value -> [String: Any] in
                    let label = Translations.table["\(code).answer\(value)"] != nil ? text("\(code).answer\(value)") : "\(value)"
                    return ["value": value, "label": label, "checked": failed?.typed[field] == "\(value)"]
                },
            ]
        }
        return form
    }

    /// The measures evaluation holds, one row each: its scores, and its change from baseline
    /// (a lower UCLA-3 total is less lonely; a lower ONS4 anxiety is better, the rest higher).
    func recordedOutcomeRows(_ listed: EvaluationAPI.Components.Schemas.OutcomeList?, dates: DateFormatter, language: Language) -> [[String: Any]] {
        func scores(_ values: [String: Double]) -> String {
            values.sorted { $0.key < $1.key }.map { name, value in
                let label = Translations.table["score.\(name)"] != nil ? text("score.\(name)", language) : name
                return "\(label) \(Self.number(value, language))"
            }.joined(separator: ", ")
        }
        return (listed?.outcomes ?? []).map { measure in
            var row: [String: Any] = [
                "instrument": text("instrument.\(measure.instrument.rawValue)", language), "code": measure.instrument.rawValue,
                "timepoint": text("timepoint.\(measure.timepoint.rawValue)", language), "scores": scores(measure.scores.additionalProperties),
                "recorded": dates.string(from: measure.recordedAt), "by": measure.recordedBy,
            ]
            if let change = measure.changeFromBaseline?.additionalProperties, !change.isEmpty {
                row["change"] = change.sorted { $0.key < $1.key }.map { name, value in
                    let label = Translations.table["score.\(name)"] != nil ? text("score.\(name)", language) : name
                    return "\(label) \(value > 0 ? "+" : "")\(Self.number(value, language))"
                }.joined(separator: ", ")
            }
            return row
        }
    }

    /// 8, 19,25 or 19.25: no trailing zeros, the language's decimal mark.
    static func number(_ value: Double, _ language: Language) -> String {
        let text = String(format: "%g", value)
        return language == .fr ? text.replacingOccurrences(of: ".", with: ",") : text
    }

    // MARK: Connections

    func changeConnection(_ request: Request, id: String, connection: String) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil, UUID(uuidString: connection) != nil else {
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                    signIn: false)
            }
            func failed(_ message: String, _ errors: [(field: String, detail: String)], status: HTTPResponse.Status) async throws -> Response {
                let failure = FormFailure(form: "connection", goalId: connection.lowercased(), message: message, errors: errors, typed: fields)
                return try await referral(id: id, session: session, language: language, notice: nil, problem: nil, status: status, failure: failure)
            }
            guard let next = fields["status"].flatMap(ConnectionStatus.init(rawValue:)), next != .proposed else {
                return try await failed(text("invalid.form", language), [("status", text("invalid.choose", language))], status: .unprocessableContent)
            }
            let reason = Self.given(fields, "reason")
            if (next == .dropped || next == .declined) && reason == nil {
                return try await failed(text("invalid.form", language), [("reason", text("invalid.reason", language))], status: .unprocessableContent)
            }
            let clients = ServiceClients(settings: settings, token: session.accessToken)
            let answer: ServiceClients.Answer
            do {
                // Only a connection of this referral, changed from this referral's page: the page
                // the browser comes back to is the one whose connection changed.
                guard case .ok(let listed) = try await clients.matching.listConnections(path: .init(id: id)),
                    try listed.body.json.connections.contains(where: { $0.id.lowercased() == connection.lowercased() })
                else {
                    return message(
                        text("connections", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                        signIn: false)
                }
                answer = try await clients.changeConnection(connection, status: next.rawValue, reason: reason)
            } catch {
                return unavailable(error, language, session)
            }
            switch answer {
            case .done:
                return .redirect(to: "/referrals/\(id)?done=connection-\(next.rawValue)#connections", type: .normal)
            case .refused(let status, let problem):
                let refusal = refusal(status: status, problem: problem, about: .connection, language: language)
                return try await failed(refusal.message, refusal.errors, status: refusal.status)
            }
        }
    }

    // MARK: Outcomes

    func recordOutcome(_ request: Request, id: String) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil else {
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                    signIn: false)
            }
            guard let questionnaire = self.questionnaire(named: fields["instrument"]) else {
                return try await referral(
                    id: id, session: session, language: language, notice: nil, problem: text("invalid.instrument", language), status: .unprocessableContent)
            }
            func failed(_ message: String, _ errors: [(field: String, detail: String)], status: HTTPResponse.Status) async throws -> Response {
                let failure = FormFailure(form: "outcome-\(questionnaire.code)", message: message, errors: errors, typed: fields)
                return try await referral(id: id, session: session, language: language, notice: nil, problem: nil, status: status, failure: failure)
            }
            // Every item answered and a timepoint chosen; the ranges are evaluation's to check.
            var errors: [(field: String, detail: String)] = []
            let timepoint = fields["timepoint"].flatMap { Questionnaire.timepoints.contains($0) ? $0 : nil }
            if timepoint == nil { errors.append(("timepoint", text("invalid.choose", language))) }
            var answers: [Int] = []
            for item in 1...questionnaire.items {
                if let answer = Self.given(fields, "item\(item)").flatMap({ Int($0) }) {
                    answers.append(answer)
                } else {
                    errors.append(("item\(item)", text("invalid.choose", language)))
                }
            }
            guard errors.isEmpty, let timepoint else { return try await failed(text("invalid.form", language), errors, status: .unprocessableContent) }
            let answer: ServiceClients.Answer
            do {
                answer = try await ServiceClients(settings: settings, token: session.accessToken).recordOutcome(
                    referral: id, instrument: questionnaire.code, timepoint: timepoint, answers: answers)
            } catch {
                return unavailable(error, language, session)
            }
            switch answer {
            case .done(let body):
                // What evaluation scored, shown once on the page the browser is sent back to.
                struct Recorded: Decodable {
                    var scores: [String: Double]
                    var changeFromBaseline: [String: Double]?
                }
                let recorded = try? JSONDecoder().decode(Recorded.self, from: body)
                var query = "done=outcome-\(questionnaire.code)&timepoint=\(timepoint)"
                if let recorded {
                    query += "&scores=" + Self.scoreList(recorded.scores)
                    if let change = recorded.changeFromBaseline { query += "&change=" + Self.scoreList(change) }
                }
                return .redirect(to: "/referrals/\(id)?\(query)#outcomes", type: .normal)
            case .refused(let status, let problem):
                // `/answers/0` is the form's first item.
                let refusal = refusal(status: status, problem: problem, about: .outcome, language: language) { pointer in
                    let parts = pointer.split(separator: "/")
                    guard parts.count == 2, parts[0] == "answers", let index = Int(parts[1]) else { return nil }
                    return "item\(index + 1)"
                }
                return try await failed(refusal.message, refusal.errors, status: refusal.status)
            }
        }
    }

    /// `total:7` or `life-satisfaction:7,worthwhile:6`: names and numbers only, sorted.
    static func scoreList(_ scores: [String: Double]) -> String {
        scores.sorted { $0.key < $1.key }.map { "\($0.key):\(String(format: "%g", $0.value))" }.joined(separator: ",")
    }

    /// The notice after an outcome was recorded, from the query the redirect carried; anything
    /// that is not a known score with a number is left out rather than shown.
    func outcomeNotice(_ notice: String, query: (String) -> String?, language: Language) -> String? {
        guard notice.hasPrefix("outcome-"), let questionnaire = self.questionnaire(named: String(notice.dropFirst("outcome-".count))),
            let timepoint = query("timepoint").flatMap({ Questionnaire.timepoints.contains($0) ? $0 : nil })
        else { return nil }
        func scores(_ list: String?) -> String? {
            let shown = (list ?? "").split(separator: ",").compactMap { pair -> String? in
                let parts = pair.split(separator: ":")
                guard parts.count == 2, let value = Double(parts[1]), Translations.table["score.\(parts[0])"] != nil else { return nil }
                return "\(text("score.\(parts[0])", language)) \(Self.number(value, language))"
            }
            return shown.isEmpty ? nil : shown.joined(separator: ", ")
        }
        var words = "\(text("saved.outcome", language)) \(text("instrument.\(questionnaire.code)", language)), \(text("timepoint.\(timepoint)", language))"
        if let recorded = scores(query("scores")) { words += " — \(recorded)" }
        if let change = scores(query("change")) { words += " (\(text("outcome.change", language)) \(change))" }
        return words + "."
    }
}
