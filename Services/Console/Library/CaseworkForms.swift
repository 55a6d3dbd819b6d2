import Foundation
import HTTPTypes
import Hummingbird
import IntakeAPI

/// The casework forms of the referral page: each posts to intake through the generated client
/// and, when intake refuses, shows the page again with the form as it was typed and intake's
/// words beside it. Post/redirect/get on success, so a reload never sends a form twice.
extension ConsoleRoutes {
    /// What intake answered a form.
    enum Submission {
        case done
        case refused(status: Int, problem: IntakeAPI.Components.Schemas.Problem?)
    }

    enum CaseworkForm: String {
        case contact, plan, goal, review, note, consent, support
    }

    func addCasework(to router: Router<BasicRequestContext>) {
        for form in [CaseworkForm.contact, .plan, .goal, .note, .consent, .support] {
            let path = form == .consent ? "consent" : form == .plan ? "plan" : form == .support ? "support-level" : "\(form.rawValue)s"
            router.post(RouterPath("/referrals/:id/\(path)")) { request, context in
                try await submit(form, request, id: context.parameters.get("id") ?? "", goalId: nil)
            }
        }
        router.post("/referrals/:id/goals/:goal/reviews") { request, context in
            try await submit(.review, request, id: context.parameters.get("id") ?? "", goalId: context.parameters.get("goal") ?? "")
        }
        router.get("/referrals/:id/matches") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await signedIn(request) { session, language in
                try await matches(id: id, session: session, language: language, proposed: request.uri.queryParameters.get("proposed").map { String($0) })
            }
        }
        router.post("/referrals/:id/connections") { request, context in
            try await propose(request, id: context.parameters.get("id") ?? "")
        }
    }

    /// The trimmed value of a field; nil when absent or blank.
    static func given(_ fields: [String: String], _ name: String) -> String? {
        fields[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    func submit(_ kind: CaseworkForm, _ request: Request, id: String, goalId: String?) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil, goalId.map({ UUID(uuidString: $0) != nil }) ?? true else {
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session,
                    signIn: false)
            }
            func failed(_ message: String, _ errors: [(field: String, detail: String)] = [], status: HTTPResponse.Status = .unprocessableContent)
                async throws -> Response
            {
                let failure = FormFailure(form: kind.rawValue, goalId: goalId, message: message, errors: errors, typed: fields)
                return try await referral(id: id, session: session, language: language, notice: nil, problem: nil, status: status, failure: failure)
            }
            let intake = ServiceClients(settings: settings, token: session.accessToken).intake
            let key = Self.given(fields, "key").flatMap { $0.wholeMatch(of: /[!-~]{1,200}/) != nil ? $0 : nil }
            let submission: Submission
            do {
                switch kind {
                case .contact:
                    // What the browser already checks, checked again here: a form can come from anywhere.
                    var errors: [(field: String, detail: String)] = []
                    let mode = fields["mode"].flatMap(IntakeAPI.Components.Schemas.ContactMode.init(rawValue:))
                    if mode == nil { errors.append(("mode", text("invalid.choose", language))) }
                    let party = fields["party"].flatMap(IntakeAPI.Components.Schemas.ContactRequest.PartyPayload.init(rawValue:))
                    if party == nil { errors.append(("party", text("invalid.choose", language))) }
                    let reached = fields["reached"] == "yes" ? true : fields["reached"] == "no" ? false : nil
                    if reached == nil { errors.append(("reached", text("invalid.choose", language))) }
                    let minutes = Self.given(fields, "minutes").flatMap { Int($0) }
                    if minutes == nil { errors.append(("minutes", text("invalid.minutes", language))) }
                    var occurredAt: Date?
                    if let when = Self.given(fields, "occurredAt") {
                        occurredAt = Self.localDate(when)
                        if occurredAt == nil { errors.append(("occurredAt", text("invalid.date", language))) }
                    }
                    guard errors.isEmpty, let mode, let reached, let minutes else { return try await failed(text("invalid.form", language), errors) }
                    let body = IntakeAPI.Components.Schemas.ContactRequest(
                        occurredAt: occurredAt, mode: mode, party: party, reached: reached, minutes: minutes, note: Self.given(fields, "note"))
                    submission = try await Self.answer(
                        intake.logContact(path: .init(id: id), headers: .init(idempotencyKey: key), body: .json(body)))
                case .plan:
                    submission = try await Self.answer(
                        intake.writePlan(path: .init(id: id), body: .json(.init(whatMatters: fields["whatMatters"] ?? ""))))
                case .goal:
                    guard let domain = fields["lifeDomain"].flatMap(IntakeAPI.Components.Schemas.LifeDomain.init(rawValue:)) else {
                        return try await failed(text("invalid.form", language), [("lifeDomain", text("invalid.choose", language))])
                    }
                    let progress = fields["progress"].flatMap(IntakeAPI.Components.Schemas.GoalRequest.ProgressPayload.init(rawValue:))
                    submission = try await Self.answer(
                        intake.setGoal(
                            path: .init(id: id), headers: .init(idempotencyKey: key),
                            body: .json(.init(lifeDomain: domain, description: fields["description"] ?? "", progress: progress))))
                case .review:
                    guard let progress = fields["progress"].flatMap(IntakeAPI.Components.Schemas.GoalProgress.init(rawValue:)) else {
                        return try await failed(text("invalid.form", language), [("progress", text("invalid.choose", language))])
                    }
                    submission = try await Self.answer(
                        intake.reviewGoal(path: .init(id: id, goalId: goalId ?? ""), body: .json(.init(progress: progress, note: Self.given(fields, "note")))))
                case .note:
                    submission = try await Self.answer(
                        intake.writeNote(path: .init(id: id), headers: .init(idempotencyKey: key), body: .json(.init(body: fields["body"] ?? ""))))
                case .support:
                    guard let level = fields["supportLevel"].flatMap(IntakeAPI.Components.Schemas.SupportLevel.init(rawValue:)) else {
                        return try await failed(text("invalid.form", language), [("supportLevel", text("invalid.choose", language))])
                    }
                    submission = try await Self.answer(
                        intake.reviseSupportLevel(path: .init(id: id), body: .json(.init(supportLevel: level, reason: fields["reason"] ?? ""))))
                case .consent:
                    return try await changeConsent(fields, id: id, key: key, session: session, language: language, failed: failed)
                }
            } catch {
                return unavailable(error, language, session)
            }
            switch submission {
            case .done:
                return .redirect(to: "/referrals/\(id)?done=\(kind.rawValue)#\([.goal, .review].contains(kind) ? "plan" : kind.rawValue)", type: .normal)
            case .refused(let status, let problem):
                let refusal = refusal(
                    status: status, detail: problem?.detail, title: problem?.title, errors: (problem?.errors ?? []).map { ($0.pointer, $0.detail) },
                    about: kind == .review ? .goal : .referral, language: language)
                return try await failed(refusal.message, refusal.errors, status: refusal.status)
            }
        }
    }

    /// Consent is the client's: every answer given, and why it changed. Intake keeps the consent;
    /// the reason goes on the referral's private notes, beside the rest of the casework.
    func changeConsent(
        _ fields: [String: String], id: String, key: String?, session: ConsoleSession, language: Language,
        failed: (String, [(field: String, detail: String)], HTTPResponse.Status) async throws -> Response
    ) async throws -> Response {
        var errors: [(field: String, detail: String)] = []
        var answers: [String: Bool] = [:]
        for name in ["contact", "shareWithPartners", "evaluationUse"] {
            switch fields[name] {
            case "yes": answers[name] = true
            case "no": answers[name] = false
            default: errors.append((name, text("invalid.choose", language)))
            }
        }
        let reason = Self.given(fields, "reason")
        if reason == nil { errors.append(("reason", text("invalid.reason", language))) }
        guard errors.isEmpty, let reason, let contact = answers["contact"], let share = answers["shareWithPartners"],
            let evaluation = answers["evaluationUse"]
        else { return try await failed(text("invalid.form", language), errors, .unprocessableContent) }
        let intake = ServiceClients(settings: settings, token: session.accessToken).intake
        let view: IntakeAPI.Components.Schemas.ReferralView
        do {
            switch try await intake.getReferral(path: .init(id: id)) {
            case .ok(let ok): view = try ok.body.json
            case .notFound:
                return message(
                    text("referral", language), detail: text("notFound", language), status: .notFound, language: language, session: session, signIn: false)
            default: return unavailable(IntakeAnswer.unexpected, language, session)
            }
            let consent = IntakeAPI.Components.Schemas.Consent(contact: contact, shareWithPartners: share, evaluationUse: evaluation)
            let changed = try await Self.answer(
                intake.changeClientConsent(path: .init(id: view.clientId), body: .json(.init(value1: consent))))
            if case .refused(let status, let problem) = changed {
                let refusal = refusal(
                    status: status, detail: problem?.detail, title: problem?.title, errors: (problem?.errors ?? []).map { ($0.pointer, $0.detail) },
                    about: .consent, language: language)
                return try await failed(refusal.message, refusal.errors, refusal.status)
            }
            func answer(_ value: Bool) -> String { text(value ? "yes" : "no", language) }
            let note =
                "\(text("consent.changed", language)) \(text("consent.contact", language)) : \(answer(contact)); "
                + "\(text("consent.shareWithPartners", language)) : \(answer(share)); \(text("consent.evaluationUse", language)) : \(answer(evaluation)). "
                + "\(text("reason", language)) : \(reason)"
            let written = try await Self.answer(
                intake.writeNote(path: .init(id: id), headers: .init(idempotencyKey: key), body: .json(.init(body: String(note.prefix(4000))))))
            if case .refused = written {
                // The consent changed; only its reason could not be kept: say so rather than hide it.
                return .redirect(to: "/referrals/\(id)?done=consent-without-note#consent", type: .normal)
            }
        } catch {
            return unavailable(error, language, session)
        }
        return .redirect(to: "/referrals/\(id)?done=consent#consent", type: .normal)
    }

    // MARK: What intake answered, operation by operation (each has its own generated type).

    static func answer(_ output: IntakeAPI.Operations.LogContact.Output) throws -> Submission {
        switch output {
        case .created, .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .conflict(let r): return .refused(status: 409, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.ReviseSupportLevel.Output) throws -> Submission {
        switch output {
        case .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .conflict(let r): return .refused(status: 409, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.WritePlan.Output) throws -> Submission {
        switch output {
        case .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .conflict(let r): return .refused(status: 409, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.SetGoal.Output) throws -> Submission {
        switch output {
        case .created, .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .conflict(let r): return .refused(status: 409, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.ReviewGoal.Output) throws -> Submission {
        switch output {
        case .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .conflict(let r): return .refused(status: 409, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.WriteNote.Output) throws -> Submission {
        switch output {
        case .created, .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }

    static func answer(_ output: IntakeAPI.Operations.ChangeClientConsent.Output) throws -> Submission {
        switch output {
        case .ok: return .done
        case .unprocessableContent(let r): return .refused(status: 422, problem: try? r.body.applicationProblemJson)
        case .badRequest(let r): return .refused(status: 400, problem: try? r.body.applicationProblemJson)
        case .notFound(let r): return .refused(status: 404, problem: try? r.body.applicationProblemJson)
        case .forbidden(let r): return .refused(status: 403, problem: try? r.body.applicationProblemJson)
        case .contentTooLarge: return .refused(status: 413, problem: nil)
        default: throw IntakeAnswer.unexpected
        }
    }
}
