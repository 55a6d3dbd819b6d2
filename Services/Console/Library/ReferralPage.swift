import Domain
import EvaluationAPI
import Foundation
import HTTPTypes
import Hummingbird
import IntakeAPI
import Logging
import MatchingAPI
import NotificationAPI

/// A form the service refused: what it said, the fields it named, and what the person typed, so
/// the page shows the form again as it was sent, with the service's words beside it.
struct FormFailure {
    /// contact, plan, goal, review, note, consent or transition.
    var form: String
    /// The goal a review was for.
    var goalId: String?
    var message: String
    /// JSON pointers (`/minutes`) or form field names, with what is wrong with them.
    var errors: [(field: String, detail: String)] = []
    var typed: [String: String] = [:]

    /// The names of the fields the errors point at (`/occurredAt` is occurredAt).
    var invalidFields: Set<String> {
        Set(errors.map { $0.field.split(separator: "/").first.map(String.init) ?? $0.field })
    }
}

/// The referral page: what the referral says, its next step, the casework (contacts, plan and
/// goals, private notes), the client's consent, and a timeline of everything that happened.
extension ConsoleRoutes {
    typealias Schemas = IntakeAPI.Components.Schemas

    /// The console's time zone: the sites are in Ontario.
    static let timeZone = TimeZone(identifier: "America/Toronto")!

    /// A `datetime-local` value (the site's local time) as a date; nil when it is not one.
    static func localDate(_ value: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: value) { return date }
        }
        return nil
    }

    func options<Value: RawRepresentable>(_ values: [Value], _ prefix: String, selected: String?, _ language: Language) -> [[String: Any]]
    where Value.RawValue == String {
        values.map { ["value": $0.rawValue, "label": text("\(prefix).\($0.rawValue)", language), "selected": $0.rawValue == selected] }
    }

    /// The values a form shows: what was typed when this form failed, else `defaults`.
    func formValues(_ name: String, goalId: String? = nil, failure: FormFailure?, defaults: [String: String], language: Language) -> [String: Any] {
        Self.formValues(name, goalId: goalId, failure: failure, defaults: defaults, language: language)
    }

    static func formValues(_ name: String, goalId: String? = nil, failure: FormFailure?, defaults: [String: String], language: Language)
        -> [String: Any]
    {
        var context: [String: Any] = [:]
        let failed = failure.flatMap { $0.form == name && $0.goalId == goalId ? $0 : nil }
        let values = failed?.typed ?? defaults
        for (key, value) in values where key != "csrf" { context[key] = value }
        // A new key for each form shown: a form sent twice (a double click, a reload) records once.
        context["key"] = UUID().uuidString
        if let failed {
            context["problem"] = failed.message
            context["errors"] = failed.errors.map { ["field": fieldLabel($0.field, language), "detail": $0.detail] }
            context["invalid"] = Dictionary(uniqueKeysWithValues: failed.invalidFields.map { ($0, true) })
            context["hasErrors"] = !failed.errors.isEmpty
        }
        return context
    }

    func fieldLabel(_ pointer: String, _ language: Language) -> String { Self.fieldLabel(pointer, language) }

    static func fieldLabel(_ pointer: String, _ language: Language) -> String {
        let name = pointer.split(separator: "/").first.map(String.init) ?? pointer
        let label = Translations.text("field.\(name)", language)
        return label == "field.\(name)" ? name : label
    }

    /// The timeline's status steps from intake's history: each transition (the submission is the
    /// referral received) as the status it left and the one it reached, who took it, and the
    /// reason or outcome they wrote.
    static func statusSteps(_ history: [Schemas.StatusStep], language: Language) -> [(at: Date, what: String, detail: String)] {
        history.compactMap { step in
            guard step.action != nil else { return nil }
            let reached = Translations.text("status.\(step.to.rawValue)", language)
            let what = step.from.map { "\(Translations.text("status.\($0.rawValue)", language)) → \(reached)" } ?? reached
            let roles = step.actorRoles.split(separator: ",").map { Translations.text("actor.\($0)", language) }.joined(separator: ", ")
            let who = Translations.text("timeline.by", language) + step.actorId + (roles.isEmpty ? "" : " (\(roles))")
            return (step.at, what, [who, step.reason, step.outcome].compactMap { $0 }.joined(separator: " — "))
        }
    }

    func referral(
        id: String, session: ConsoleSession, language: Language, notice: String?, problem: String?, status: HTTPResponse.Status = .ok,
        failure: FormFailure? = nil, query: @Sendable (String) -> String? = { _ in nil }
    ) async throws -> Response {
        // Intake's ids are UUIDs: anything else is no referral, and never part of a URL built here.
        guard UUID(uuidString: id) != nil else {
            return message(
                text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session, signIn: false)
        }
        let clients = ServiceClients(settings: settings, token: session.accessToken)
        let intake = clients.intake
        let view: Schemas.ReferralView
        let screeningAnswers: [String: String]
        do {
            switch try await intake.getReferral(path: .init(id: id)) {
            case .ok(let ok):
                view = try ok.body.json
                screeningAnswers = view.screeningAnswers?.additionalProperties ?? [:]
            case .notFound:
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session, signIn: false)
            default: return unavailable(IntakeAnswer.unexpected, language, session)
            }
        } catch {
            return unavailable(error, language, session)
        }
        // The casework and the message log in parallel; a part its service will not give this
        // person (or cannot give now) is shown as unavailable, the rest of the page still is.
        async let contactsAnswer = try? intake.listContacts(path: .init(id: view.id)).ok.body.json
        async let planAnswer = try? intake.getPlan(path: .init(id: view.id)).ok.body.json
        async let notesAnswer = try? intake.listNotes(path: .init(id: view.id)).ok.body.json
        async let logAnswer = try? clients.notification.listNotifications(query: .init(referral: view.id)).ok.body.json
        // Every status step with who took it and why, for everyone who may read the referral.
        async let historyAnswer = try? intake.listStatusHistory(path: .init(id: view.id)).ok.body.json
        // Only coordinators may read the audit trail: it adds what the history does not say.
        let mayAudit = session.roles.contains("coordinator") || session.roles.contains("network-coordinator")
        @Sendable func readAudit() async -> [Schemas.AuditEntry]? {
            guard mayAudit else { return nil }
            return try? await intake.getReferralAudit(path: .init(id: view.id)).ok.body.json
        }
        async let auditAnswer = readAudit()
        // Who the client is and how to reach them: for those who do the casework, each read audited.
        let mayReadClient = session.roles.contains("link-worker") || session.roles.contains("coordinator")
        @Sendable func readClient() async -> Schemas.ClientView? {
            guard mayReadClient else { return nil }
            return try? await intake.readClient(path: .init(id: view.clientId)).ok.body.json
        }
        async let clientAnswer = readClient()
        // The connections to resources, from matching: only for those who do the casework.
        @Sendable func readConnections() async -> MatchingAPI.Components.Schemas.ConnectionList? {
            guard mayReadClient else { return nil }
            return try? await clients.matching.listConnections(path: .init(id: view.id)).ok.body.json
        }
        async let connectionsAnswer = readConnections()
        // The outcomes recorded so far, from evaluation: for the same people.
        @Sendable func readOutcomes() async -> EvaluationAPI.Components.Schemas.OutcomeList? {
            guard mayReadClient else { return nil }
            return try? await clients.evaluation.listOutcomes(path: .init(id: view.id)).ok.body.json
        }
        async let outcomesAnswer = readOutcomes()
        @Sendable func readServiceUse() async -> EvaluationAPI.Components.Schemas.ServiceUse? {
            guard mayReadClient else { return nil }
            return try? await clients.evaluation.getServiceUse(path: .init(id: view.id)).ok.body.json
        }
        async let serviceUseAnswer = readServiceUse()
        let (contacts, plan, notes, log, audit, client) = await (contactsAnswer, planAnswer, notesAnswer, logAnswer, auditAnswer, clientAnswer)
        let connections = await connectionsAnswer
        let outcomes = await outcomesAnswer
        let serviceUse = await serviceUseAnswer
        let history = await historyAnswer

        let dates = dateFormatter(language)
        var context = row(view, language, dates)
        context["referralId"] = view.id
        context["client"] = String(view.clientId.prefix(8))
        context["interests"] = view.interests.isEmpty ? "—" : view.interests.joined(separator: ", ")
        context["site"] = view.site
        context["referrer"] = [view.referrer.organisation, text("role.\(view.referrer.role.rawValue)", language)].compactMap { $0 }.joined(separator: " — ")
        context["owner"] = view.ownerId ?? "—"
        // The answers as the referrer sent them, codes as sent, in the order of their codes.
        context["screeningAnswers"] = screeningAnswers.sorted { $0.key < $1.key }.map { ["code": $0.key, "answer": $0.value] }
        context["hasScreeningAnswers"] = !screeningAnswers.isEmpty
        if let step = view.nextStep {
            context["step"] = ["label": stepLabel(step.step, language), "due": dates.string(from: step.dueAt), "overdue": step.overdue]
        }
        // Casework is the site's link workers' and coordinators'; a referrer following their
        // referral sees its status and steps, not the forms intake would refuse them.
        let casework = session.roles.contains("link-worker") || session.roles.contains("coordinator")
        let open = casework && [.accepted, .inProgress, .onHold].contains(view.status)
        context["open"] = open
        context["casework"] = casework
        let allowed = ReferralStatus(rawValue: view.status.rawValue)?.allowedActions ?? []
        context["actions"] = allowed.map { action -> [String: Any] in
            var values: [String: Any] = [
                "action": action.rawValue, "label": text("action.\(action.rawValue)", language), "needsReason": action.requiresReason,
                "needsOutcome": action.requiresOutcome,
            ]
            if let failure, failure.form == "transition", failure.typed["action"] == action.rawValue {
                values["reason"] = failure.typed["reason"] ?? ""
                values["outcome"] = failure.typed["outcome"] ?? ""
            }
            return values
        }

        // Contacts, newest first.
        context["contactsAvailable"] = contacts != nil
        context["contacts"] = (contacts ?? []).reversed().map { contact -> [String: Any] in
            [
                "when": dates.string(from: contact.occurredAt), "mode": text("mode.\(contact.mode.rawValue)", language),
                "party": text("party.\(contact.party.rawValue)", language), "reached": text(contact.reached ? "reached" : "notReached", language),
                "wasReached": contact.reached, "minutes": contact.minutes, "note": contact.note ?? "", "author": contact.authorId,
            ]
        }
        context["hasContacts"] = !(contacts ?? []).isEmpty
        let typedContact = failure?.form == "contact" ? failure?.typed : nil
        var contactForm = formValues("contact", failure: failure, defaults: ["minutes": "5", "party": "client"], language: language)
        contactForm["modes"] = options(Schemas.ContactMode.allCases, "mode", selected: typedContact?["mode"] ?? "phone", language)
        contactForm["parties"] = options(Schemas.ContactParty.allCases, "party", selected: typedContact?["party"] ?? "client", language)
        contactForm["reachedYes"] = typedContact?["reached"] == "yes"
        contactForm["reachedNo"] = typedContact?["reached"] == "no"
        context["contactForm"] = contactForm

        // The plan: what matters, the goals with a review form each, a new goal.
        context["planAvailable"] = plan != nil
        context["planForm"] = formValues("plan", failure: failure, defaults: ["whatMatters": plan?.whatMatters ?? ""], language: language)
        context["whatMatters"] = plan?.whatMatters ?? ""
        // The support level, revised after assessing the client, with the reason.
        var supportForm = formValues("support", failure: failure, defaults: [:], language: language)
        let typedLevel = failure?.form == "support" ? failure?.typed["supportLevel"] : nil
        supportForm["levels"] = options(Schemas.SupportLevel.allCases, "support", selected: typedLevel ?? view.supportLevel.rawValue, language)
        context["supportForm"] = supportForm
        if let updated = plan?.updatedAt { context["planUpdated"] = dates.string(from: updated) }
        context["goals"] = (plan?.goals ?? []).map { goal -> [String: Any] in
            let typed = failure?.form == "review" && failure?.goalId == goal.id ? failure?.typed : nil
            var review = formValues("review", goalId: goal.id, failure: failure, defaults: [:], language: language)
            review["progresses"] = options(Schemas.GoalProgress.allCases, "progress", selected: typed?["progress"] ?? goal.progress.rawValue, language)
            review["goalId"] = goal.id
            return [
                "id": goal.id, "domain": text("domain.\(goal.lifeDomain.rawValue)", language), "description": goal.description,
                "progress": text("progress.\(goal.progress.rawValue)", language), "set": dates.string(from: goal.setAt),
                "reviewed": goal.reviewedAt.map { dates.string(from: $0) } ?? "—", "review": review,
            ]
        }
        context["hasGoals"] = !(plan?.goals ?? []).isEmpty
        let typedGoal = failure?.form == "goal" ? failure?.typed : nil
        var goalForm = formValues("goal", failure: failure, defaults: [:], language: language)
        goalForm["domains"] = options(Schemas.LifeDomain.allCases, "domain", selected: typedGoal?["lifeDomain"], language)
        goalForm["progresses"] = options(Schemas.GoalProgress.allCases, "progress", selected: typedGoal?["progress"] ?? "not-started", language)
        context["goalForm"] = goalForm

        // The pathway: connections with the changes each allows, and the outcome questionnaires.
        context["connectionsAvailable"] = connections != nil
        context["connections"] = connectionRows(connections, failure: failure, dates: dates, language: language)
        context["hasConnections"] = !(connections?.connections ?? []).isEmpty
        context["outcomeForms"] = questionnaires.map { questionnaireForm($0, failure: failure, language: language) }
        context["outcomesAvailable"] = outcomes != nil
        context["recordedOutcomes"] = recordedOutcomeRows(outcomes, dates: dates, language: language)
        context["hasOutcomes"] = !(outcomes?.outcomes ?? []).isEmpty
        context["serviceUseForm"] = serviceUseForm(serviceUse, failure: failure, language: language)

        // Private notes, newest first.
        context["notesAvailable"] = notes != nil
        context["notes"] = (notes ?? []).reversed().map { ["body": $0.body, "author": $0.authorId, "written": dates.string(from: $0.writtenAt)] }
        context["hasNotes"] = !(notes ?? []).isEmpty
        context["noteForm"] = formValues("note", failure: failure, defaults: [:], language: language)

        if let client {
            func answer(_ value: Bool) -> String { text(value ? "yes" : "no", language) }
            var identity: [String: Any] = [
                "name": "\(client.givenName) \(client.familyName)", "birthDate": client.birthDate,
                "language": Translations.table["language.\(client.preferredLanguage)"] != nil
                    ? text("language.\(client.preferredLanguage)", language) : client.preferredLanguage,
                "channel": text("channelPref.\(client.preferredChannel.rawValue)", language),
                "accessibility": client.accessibilityNeeds.isEmpty ? "—" : client.accessibilityNeeds.joined(separator: ", "),
                "consentContact": answer(client.consent.contact), "consentShare": answer(client.consent.shareWithPartners),
                "consentEvaluation": answer(client.consent.evaluationUse),
            ]
            if let phone = client.phone {
                identity["phone"] = phone
                identity["tel"] = phone.filter { $0.isNumber || $0 == "+" }
            }
            if let email = client.email { identity["email"] = email }
            if let postalCode = client.postalCode { identity["postalCode"] = postalCode }
            context["clientIdentity"] = identity
        } else if mayReadClient {
            context["clientUnavailable"] = true
        }

        // Consent: the current answers are chosen when intake showed them; otherwise nothing
        // is, so that a form sent half-filled never withdraws a consent by default.
        var consentForm = formValues("consent", failure: failure, defaults: [:], language: language)
        var typedConsent = failure?.form == "consent" ? failure?.typed ?? [:] : [:]
        if failure?.form != "consent", let consent = client?.consent {
            typedConsent = [
                "contact": consent.contact ? "yes" : "no", "shareWithPartners": consent.shareWithPartners ? "yes" : "no",
                "evaluationUse": consent.evaluationUse ? "yes" : "no",
            ]
        }
        consentForm["known"] = client != nil
        consentForm["questions"] = ["contact", "shareWithPartners", "evaluationUse"].map { name -> [String: Any] in
            [
                "name": name, "label": text("consent.\(name)", language), "yes": typedConsent[name] == "yes", "no": typedConsent[name] == "no",
                "invalid": failure?.form == "consent" && failure?.invalidFields.contains(name) == true,
            ]
        }
        context["consentForm"] = consentForm

        // The timeline, newest first.
        var events: [(Date, [String: Any])] = []
        func event(_ at: Date, _ kind: String, _ what: String, _ detail: String = "", failed: Bool = false) {
            var values: [String: Any] = ["when": dates.string(from: at), "kind": text("kind.\(kind)", language), "what": what, "failed": failed]
            if !detail.isEmpty { values["detail"] = detail }
            events.append((at, values))
        }
        event(view.receivedAt, "referral", text("timeline.received", language), context["referrer"] as? String ?? "")
        // Each status step from the history, with who took it and why; without the history, the
        // status reached and when.
        if let history {
            for step in Self.statusSteps(history, language: language) { event(step.at, "status", step.what, step.detail) }
        } else if view.status != .received {
            event(view.updatedAt, "status", text("timeline.statusNow", language) + text("status.\(view.status.rawValue)", language))
        }
        context["historyAvailable"] = history != nil
        // What only the audit trail says: who changed the support level, and when.
        for entry in audit ?? [] where entry.action == "support-level-change" {
            event(entry.at, "plan", text("timeline.supportChanged", language), text("timeline.by", language) + entry.actorId)
        }
        for contact in contacts ?? [] {
            let what =
                "\(text("mode.\(contact.mode.rawValue)", language)), \(text("party.\(contact.party.rawValue)", language)) — "
                + "\(text(contact.reached ? "reached" : "notReached", language)), \(contact.minutes) min"
            event(contact.occurredAt, "contact", what, contact.note ?? "", failed: !contact.reached)
        }
        if let plan, let updated = plan.updatedAt { event(updated, "plan", text("timeline.plan", language), plan.updatedBy ?? "") }
        for goal in plan?.goals ?? [] {
            event(goal.setAt, "goal", "\(text("timeline.goalSet", language))\(text("domain.\(goal.lifeDomain.rawValue)", language))", goal.description)
            if let reviewed = goal.reviewedAt {
                event(
                    reviewed, "goal", "\(text("timeline.goalReviewed", language))\(text("progress.\(goal.progress.rawValue)", language))",
                    goal.description)
            }
        }
        for note in notes ?? [] { event(note.writtenAt, "note", text("timeline.note", language), note.authorId) }
        // A connection's proposal, and where it stands when it moved on (matching keeps no history).
        for connection in connections?.connections ?? [] {
            event(connection.proposedAt, "connection", text("timeline.connectionProposed", language), connection.resourceName)
            if connection.status != .proposed {
                event(
                    connection.updatedAt, "connection", text("saved.connectionChanged", language) + text("connection.\(connection.status.rawValue)", language),
                    [connection.resourceName, connection.reason].compactMap { $0 }.joined(separator: " — "),
                    failed: connection.status == .dropped || connection.status == .declined)
            }
        }
        for entry in log?.notifications ?? [] {
            let how = entry.channel.map { text("channel.\($0.rawValue)", language) } ?? "—"
            let what = "\(text("notification.\(entry.status.rawValue)", language)) — \(text("recipient.\(entry.recipientKind.rawValue)", language)), \(how)"
            event(entry.sentAt ?? entry.createdAt, "message", what, entry.template, failed: entry.status == .failed || entry.status == .withheld)
        }
        context["timeline"] = events.sorted { $0.0 > $1.0 }.map { $0.1 }
        context["logAvailable"] = log != nil

        if let notice {
            if let action = ReferralAction(rawValue: notice) {
                context["notice"] = text("done", language) + text("action.\(action.rawValue)", language)
            } else if Translations.table["saved.\(notice)"] != nil {
                context["notice"] = text("saved.\(notice)", language)
            } else if notice.hasPrefix("connection-"), let next = ConnectionStatus(rawValue: String(notice.dropFirst("connection-".count))) {
                context["notice"] = text("saved.connectionChanged", language) + text("connection.\(next.rawValue)", language)
            } else if let recorded = outcomeNotice(notice, query: query, language: language) {
                context["notice"] = recorded
            }
        }
        if let problem { context["pageProblem"] = problem }
        if let failure {
            // A refusal always shows: next to its form, or at the top when that form is not on
            // the page (the referral closed meanwhile, a goal of another referral).
            let shown: Bool
            switch failure.form {
            case "transition": shown = true
            case "note", "consent", "outcome-ucla3", "outcome-ons4", "outcome-swemwbs", "service-use": shown = casework
            case "connection": shown = casework && (connections?.connections ?? []).contains { $0.id.lowercased() == failure.goalId }
            case "review": shown = open && (plan?.goals ?? []).contains { $0.id == failure.goalId }
            default: shown = open
            }
            if failure.form == "transition" { context["transitionProblem"] = failure.message }
            if !shown { context["pageProblem"] = ([failure.message] + failure.errors.map { "\($0.field) : \($0.detail)" }).joined(separator: " — ") }
        }
        return page(
            "referral", title: "\(text("referral", language)) \(String(view.id.prefix(8)))", status: status, language: language, session: session,
            path: "/referrals/\(view.id)", context: context)
    }

    /// The suggested resources for a referral, ranked by matching with its reasons, each with a
    /// form to propose it to the client (a connection, which takes one of its seats).
    func matches(
        id: String, session: ConsoleSession, language: Language, proposed: String? = nil, failure: FormFailure? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        guard UUID(uuidString: id) != nil else {
            return message(
                text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session, signIn: false)
        }
        let clients = ServiceClients(settings: settings, token: session.accessToken)
        var ranked: [MatchingAPI.Components.Schemas.RankedMatch] = []
        do {
            switch try await clients.matching.getMatches(path: .init(id: id)) {
            case .ok(let ok): ranked = Array(try ok.body.json.matches.prefix(10))
            case .notFound: break
            default: return unavailable(IntakeAnswer.unexpected, language, session)
            }
        } catch {
            return unavailable(error, language, session)
        }
        // The resources' names, in parallel; a resource that cannot be read shows by its id.
        let names = await withTaskGroup(of: (String, String)?.self) { group in
            for match in ranked {
                group.addTask {
                    guard case .ok(let resource)? = try? await clients.matching.getResource(path: .init(id: match.resourceId)),
                        let found = try? resource.body.json
                    else { return nil }
                    return (match.resourceId, "\(found.name) — \(found.organisation)")
                }
            }
            var names: [String: String] = [:]
            for await case (let id, let name)? in group { names[id] = name }
            return names
        }
        let rows: [[String: Any]] = ranked.map { match in
            var row: [String: Any] = [
                "rank": match.rank, "resourceId": match.resourceId, "name": names[match.resourceId] ?? match.resourceId,
                "score": String(format: "%.2f", match.score), "reasons": match.reasons.joined(separator: "; "),
            ]
            if let failure, failure.typed["resourceId"] == match.resourceId { row["problem"] = failure.message }
            if proposed == match.resourceId { row["proposed"] = true }
            return row
        }
        var context: [String: Any] = ["referralId": id, "short": String(id.prefix(8)), "matches": rows, "hasMatches": !rows.isEmpty]
        if let proposed, let name = names[proposed] { context["notice"] = text("saved.connection", language) + name }
        return page(
            "matches", title: "\(text("matches", language)) — \(String(id.prefix(8)))", status: status, language: language, session: session,
            path: "/referrals/\(id)/matches", context: context)
    }

    /// Proposes a resource to the client: matching records the connection and takes a seat.
    func propose(_ request: Request, id: String) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil, let resource = fields["resourceId"], UUID(uuidString: resource) != nil else {
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                    signIn: false)
            }
            // Proposed from the directory: back to the same search, this referral's.
            let directoryReturn = fields["return"].flatMap { Self.directorySearchQuery($0) }.map { $0.merging(["referral": id]) { _, new in new } }
            let matching = ServiceClients(settings: settings, token: session.accessToken).matching
            let refused: (status: HTTPResponse.Status, problem: MatchingAPI.Components.Schemas.Problem?)
            do {
                switch try await matching.proposeConnection(path: .init(id: id), body: .json(.init(resourceId: resource))) {
                case .created:
                    if let search = directoryReturn {
                        return .redirect(to: directoryPath(search.merging(["proposed": resource]) { _, new in new }) + "#resource-\(resource)", type: .normal)
                    }
                    return .redirect(to: "/referrals/\(id)/matches?proposed=\(resource)#resource-\(resource)", type: .normal)
                case .conflict(let r): refused = (.conflict, try? r.body.applicationProblemJson)
                case .notFound(let r): refused = (.notFound, try? r.body.applicationProblemJson)
                case .unprocessableContent(let r): refused = (.unprocessableContent, try? r.body.applicationProblemJson)
                case .badRequest(let r): refused = (.badRequest, try? r.body.applicationProblemJson)
                default: return unavailable(IntakeAnswer.unexpected, language, session)
                }
            } catch {
                return unavailable(error, language, session)
            }
            let refusal = refusal(
                status: refused.status.code, detail: refused.problem?.detail, title: refused.problem?.title,
                errors: (refused.problem?.errors ?? []).map { ($0.pointer, $0.detail) }, about: .proposal, language: language)
            let failure = FormFailure(form: "connection", message: refusal.message, typed: fields)
            if let search = directoryReturn {
                return try await directory(search, session: session, language: language, failure: failure, status: refused.status)
            }
            return try await matches(id: id, session: session, language: language, failure: failure, status: refused.status)
        }
    }
}
