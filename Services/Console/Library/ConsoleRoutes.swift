import Domain
import Foundation
import HTTPTypes
import Hummingbird
import IntakeAPI
import Logging
import MatchingAPI
import NIOCore
import NotificationAPI
import PostgresClient
import ServiceRuntime

/// The console's pages: sign-in and sign-out, the caseload, a referral and its transitions.
struct ConsoleRoutes: Sendable {
    let settings: ConsoleSettings
    let sessions: SessionStore
    let signIn: OpenIDSignIn
    let verifier: TokenVerifier
    let pages: Pages
    let logger: Logger

    var sessionCookie: String { settings.secureCookies ? "__Host-passerelle-session" : "passerelle-session" }
    var signInCookie: String { settings.secureCookies ? "__Host-passerelle-sign-in" : "passerelle-sign-in" }
    static let languageCookie = "passerelle-lang"

    func add(to router: Router<BasicRequestContext>) {
        router.get("/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: Pages.stylesheet)))
        }
        router.get("/health/live") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "live\n")))
        }
        router.get("/health/ready") { _, _ in
            do {
                try await sessions.pool.ping()
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not ready\n")))
            }
        }
        router.get("/language") { request, _ in language(request) }
        router.get("/sign-in") { request, _ in try await beginSignIn(request) }
        router.get("/auth/callback") { request, _ in try await finishSignIn(request) }
        router.post("/sign-out") { request, _ in try await signOut(request) }
        router.get("/") { request, _ in try await signedIn(request) { session, language in try await caseload(request, session, language) } }
        router.get("/referrals/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await signedIn(request) { session, language in
                let parameters = request.uri.queryParameters
                let query: [String: String] = Dictionary(
                    ["timepoint", "scores", "change"].compactMap { name in parameters.get(name).map { (name, String($0)) } }, uniquingKeysWith: { a, _ in a })
                return try await referral(
                    id: id, session: session, language: language, notice: parameters.get("done").map { String($0) }, problem: nil, query: { query[$0] })
            }
        }
        router.post("/referrals/:id/transitions") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await transition(request, id: id)
        }
        addCasework(to: router)
        addPathway(to: router)
        addDirectory(to: router)
    }

    // MARK: Language, sessions

    func chosenLanguage(_ request: Request) -> Language {
        Language.chosen(cookie: request.cookies[Self.languageCookie]?.value, acceptLanguage: request.headers[.acceptLanguage])
    }

    /// Only a path of this console: never another site (an open redirect).
    static func localPath(_ candidate: String?) -> String {
        guard let candidate, candidate.hasPrefix("/"), !candidate.hasPrefix("//"), !candidate.contains("\\") else { return "/" }
        return candidate
    }

    func language(_ request: Request) -> Response {
        var response = Response.redirect(to: Self.localPath(request.uri.queryParameters.get("return")), type: .normal)
        if let code = request.uri.queryParameters.get("lang"), let language = Language(rawValue: code) {
            response.setCookie(
                Cookie(
                    name: Self.languageCookie, value: language.rawValue, maxAge: 365 * 24 * 3600, path: "/", secure: settings.secureCookies, httpOnly: true,
                    sameSite: .lax))
        }
        return response
    }

    func page(
        _ name: String, title: String, status: HTTPResponse.Status = .ok, language: Language, session: ConsoleSession?, path: String,
        context: [String: Any]
    ) -> Response {
        let html = pages.render(name, title: title, language: language, session: session, path: path, context: context)
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("Content-Security-Policy")!:
                    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' \(formTargets); frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "same-origin",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The provider's origin, where the sign-out form may lead the browser.
    var formTargets: String {
        guard let url = URL(string: settings.auth.openIDProvider?.discoveryURL ?? ""), let scheme = url.scheme, let host = url.host else { return "" }
        return "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
    }

    func message(_ heading: String, detail: String?, status: HTTPResponse.Status, language: Language, session: ConsoleSession?, signIn: Bool) -> Response {
        var context: [String: Any] = ["heading": heading, "signIn": signIn, "back": !signIn]
        if let detail { context["detail"] = detail }
        return page("message", title: heading, status: status, language: language, session: session, path: "/", context: context)
    }

    /// Runs `body` for the signed-in user, or sends the browser to sign in first.
    func signedIn(_ request: Request, _ body: (ConsoleSession, Language) async throws -> Response) async throws -> Response {
        let language = chosenLanguage(request)
        guard let id = request.cookies[sessionCookie]?.value, let session = try await sessions.session(id: id) else {
            let target = Self.localPath(request.uri.path)
            return .redirect(to: "/sign-in?return=\(OpenIDSignIn.formEncoded(target))", type: .normal)
        }
        return try await body(session, language)
    }

    func beginSignIn(_ request: Request) async throws -> Response {
        let language = chosenLanguage(request)
        let (state, verifier) = try await sessions.beginSignIn(returnTo: Self.localPath(request.uri.queryParameters.get("return")))
        let target: String
        do {
            target = try await signIn.authorizationURL(state: state, verifier: verifier, language: language.rawValue)
        } catch {
            logger.error("sign-in could not start", metadata: ["error": "\(error)"])
            return message(
                Translations.text("signInFailed", language), detail: Translations.text("unavailable", language), status: .serviceUnavailable,
                language: language,
                session: nil, signIn: true)
        }
        var response = Response.redirect(to: target, type: .normal)
        // Binds the provider's answer to this browser: a code another browser started cannot be
        // slipped in here (login CSRF).
        response.setCookie(
            Cookie(
                name: signInCookie, value: state, maxAge: Int(SessionStore.signInTimeout), path: "/", secure: settings.secureCookies, httpOnly: true,
                sameSite: .lax))
        return response
    }

    func finishSignIn(_ request: Request) async throws -> Response {
        let language = chosenLanguage(request)
        let query = request.uri.queryParameters
        func failed(_ detail: String) -> Response {
            message(Translations.text("signInFailed", language), detail: detail, status: .badRequest, language: language, session: nil, signIn: true)
        }
        if let error = query.get("error") { return failed(error) }
        guard let code = query.get("code"), let state = query.get("state"), request.cookies[signInCookie]?.value == state,
            let pending = try await sessions.finishSignIn(state: state)
        else { return failed(Translations.text("expired", language)) }
        let token: OpenIDSignIn.TokenResponse
        let identity: Identity
        do {
            token = try await signIn.exchange(code: code, verifier: pending.verifier)
            identity = try await verifier.identity(fromBearer: token.accessToken)
        } catch {
            logger.warning("sign-in refused", metadata: ["error": "\(error)"])
            return failed("\(error)")
        }
        let claims = Self.displayClaims(of: token.accessToken)
        let expires = Date().addingTimeInterval(TimeInterval(min(token.expiresIn ?? 3600, Int(settings.absoluteTimeout))))
        let session = ConsoleSession(
            subject: identity.subject, displayName: claims.name ?? identity.subject, site: identity.site, roles: identity.roles.map(\.rawValue).sorted(),
            accessToken: token.accessToken, csrfToken: SessionStore.randomToken())
        let id = try await sessions.open(session, tokenExpires: expires)
        var response = Response.redirect(to: pending.returnTo, type: .normal)
        response.setCookie(Cookie(name: sessionCookie, value: id, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .lax))
        response.setCookie(Cookie(name: signInCookie, value: "", maxAge: 0, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .lax))
        if request.cookies[Self.languageCookie] == nil, let locale = claims.locale, let preferred = Language(rawValue: locale) {
            response.setCookie(
                Cookie(
                    name: Self.languageCookie, value: preferred.rawValue, maxAge: 365 * 24 * 3600, path: "/", secure: settings.secureCookies, httpOnly: true,
                    sameSite: .lax))
        }
        return response
    }

    /// The name and language the token shows; read only after the verifier accepted the token.
    static func displayClaims(of token: String) -> (name: String?, locale: String?) {
        struct Claims: Decodable {
            var name: String?
            var locale: String?
        }
        let parts = token.split(separator: ".")
        guard parts.count == 3, let data = Data(base64URLEncoded: String(parts[1])), let claims = try? JSONDecoder().decode(Claims.self, from: data) else {
            return (nil, nil)
        }
        return (claims.name, claims.locale)
    }

    /// The form's fields, when its CSRF token is the session's.
    func form(_ request: Request, session: ConsoleSession) async throws -> [String: String]? {
        let body = try await request.body.collect(upTo: 64 * 1024)
        // Decoded field by field: Foundation's URLComponents traps on a broken percent-encoding,
        // which would let any form take the console down.
        var fields: [String: String] = [:]
        for (name, value) in Self.formFields(String(buffer: body)) where fields[name] == nil { fields[name] = value }
        guard let csrf = fields["csrf"], Self.constantTimeEqual(csrf, session.csrfToken) else { return nil }
        return fields
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    func signOut(_ request: Request) async throws -> Response {
        let language = chosenLanguage(request)
        guard let id = request.cookies[sessionCookie]?.value, let session = try await sessions.session(id: id) else {
            return message(Translations.text("signedOut", language), detail: nil, status: .ok, language: language, session: nil, signIn: true)
        }
        guard try await form(request, session: session) != nil else {
            return message(
                Translations.text("error", language), detail: Translations.text("expired", language), status: .forbidden, language: language, session: session,
                signIn: false)
        }
        try await sessions.close(id: id)
        var response = message(Translations.text("signedOut", language), detail: nil, status: .ok, language: language, session: nil, signIn: true)
        response.setCookie(Cookie(name: sessionCookie, value: "", maxAge: 0, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .lax))
        return response
    }

    // MARK: Caseload and referral

    func text(_ key: String, _ language: Language) -> String { Translations.text(key, language) }

    /// One per page: making a formatter costs more than formatting a whole caseload's dates.
    func dateFormatter(_ language: Language) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: language == .fr ? "fr_CA" : "en_CA")
        formatter.timeZone = TimeZone(identifier: "America/Toronto")
        formatter.dateStyle = .medium
        formatter.timeStyle = .short
        return formatter
    }

    func row(_ referral: IntakeAPI.Components.Schemas.ReferralView, _ language: Language, _ dates: DateFormatter) -> [String: Any] {
        var values: [String: Any] = [
            "id": referral.id, "short": String(referral.id.prefix(8)), "urgent": referral.priority == .urgent,
            "priority": text(referral.priority == .urgent ? "urgent" : "routine", language),
            "needs": referral.needs.map { text("need.\($0.rawValue)", language) }.joined(separator: ", "),
            "support": text("support.\(referral.supportLevel.rawValue)", language), "status": text("status.\(referral.status.rawValue)", language),
            "received": dates.string(from: referral.receivedAt), "next": referral.nextStep.map { stepLabel($0.step, language) } ?? "—",
            "overdue": referral.nextStep?.overdue == true,
        ]
        // Absent rather than empty: Mustache shows a section for an empty string.
        if let step = referral.nextStep { values["due"] = dates.string(from: step.dueAt) }
        return values
    }

    /// first-contact, hold-review or follow-up-<weeks>w, in words.
    func stepLabel(_ step: String, _ language: Language) -> String {
        if step.hasPrefix("follow-up-"), step.hasSuffix("w"), let weeks = Int(step.dropFirst("follow-up-".count).dropLast()) {
            return text("step.follow-up", language).replacingOccurrences(of: "{weeks}", with: "\(weeks)")
        }
        return text("step.\(step)", language)
    }

    func unavailable(_ error: any Error, _ language: Language, _ session: ConsoleSession) -> Response {
        logger.error("a service call failed", metadata: ["error": "\(error)"])
        return message(text("error", language), detail: text("unavailable", language), status: .badGateway, language: language, session: session, signIn: false)
    }

    enum IntakeAnswer: Error { case unexpected }

    func transition(_ request: Request, id: String) async throws -> Response {
        try await signedIn(request) { session, language in
            guard let fields = try await form(request, session: session) else {
                return message(
                    text("error", language), detail: text("expired", language), status: .forbidden, language: language, session: session, signIn: false)
            }
            guard UUID(uuidString: id) != nil, let action = fields["action"].flatMap(ReferralAction.init(rawValue:)) else {
                return try await referral(
                    id: id, session: session, language: language, notice: nil, problem: text("error", language), status: .unprocessableContent)
            }
            func given(_ name: String) -> String? {
                fields[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
            }
            let result: ServiceClients.Answer
            do {
                result = try await ServiceClients(settings: settings, token: session.accessToken).transition(
                    referral: id, action: action.rawValue, reason: given("reason"), outcome: given("outcome"))
            } catch {
                return unavailable(error, language, session)
            }
            switch result {
            case .done:
                // Post/redirect/get: reloading the page does not post the step again.
                return .redirect(to: "/referrals/\(OpenIDSignIn.formEncoded(id))?done=\(action.rawValue)#next", type: .normal)
            case .refused(let status, let problem):
                let refusal = refusal(status: status, problem: problem, about: .transition, language: language)
                // The step's form has no field of its own to mark: what the service named goes with its words.
                let words = ([refusal.message] + refusal.errors.map { "\(fieldLabel($0.field, language)) : \($0.detail)" }).joined(separator: " — ")
                return try await referral(
                    id: id, session: session, language: language, notice: nil, problem: nil, status: refusal.status,
                    failure: FormFailure(form: "transition", message: words, typed: fields))
            }
        }
    }
}
