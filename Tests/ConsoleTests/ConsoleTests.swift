import Domain
import Foundation
import IntakeAPI
import PostgresClient
import ServiceRuntime
import Testing

@testable import ConsoleService
@testable import TestSupport

@Suite("Console: sessions and sign-ins in its own schema", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct ConsoleSessionTests {
    func store(idle: TimeInterval = 1800, absolute: TimeInterval = 8 * 3600) async throws -> (SessionStore, PostgresConnectionPool, String) {
        let schema = TestEnvironment.uniqueName("console")
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: schema), logger: TestEnvironment.logger)
        try await SchemaMigrator(schema: schema, migrations: ConsoleMigrations.all).migrate(pool, logger: TestEnvironment.logger)
        return (SessionStore(pool: pool, idleTimeout: idle, absoluteTimeout: absolute), pool, schema)
    }

    func drop(_ pool: PostgresConnectionPool, _ schema: String) async throws {
        try await pool.withConnection { try await $0.execute("DROP SCHEMA \(identifier: schema) CASCADE") }
        await pool.close()
    }

    let person = ConsoleSession(
        subject: "amelie.roy", displayName: "Amélie Roy", site: "ottawa-west-chc", roles: ["link-worker"], accessToken: "a.b.c", csrfToken: "csrf")

    @Test("A session is found by its cookie, stored only as a hash, and ends when closed")
    func openAndClose() async throws {
        let (store, pool, schema) = try await store()
        let id = try await store.open(person, tokenExpires: Date().addingTimeInterval(600))
        let found = try #require(try await store.session(id: id))
        #expect(found.subject == "amelie.roy" && found.site == "ottawa-west-chc" && found.roles == ["link-worker"] && found.csrfToken == "csrf")
        let stored = try await pool.withConnection { try await $0.query("SELECT id_hash FROM session") }
        #expect(stored.count == 1)
        #expect(try stored.first?.decode("id_hash", as: String.self) != id)
        #expect(try await store.session(id: id + "x") == nil)
        try await store.close(id: id)
        #expect(try await store.session(id: id) == nil)
        try await drop(pool, schema)
    }

    @Test("Idle too long, older than the absolute limit, or past its token: the session is over")
    func expiry() async throws {
        let (store, pool, schema) = try await store(idle: 60, absolute: 3600)
        let idle = try await store.open(person, tokenExpires: Date().addingTimeInterval(600))
        let old = try await store.open(person, tokenExpires: Date().addingTimeInterval(600))
        let expiredToken = try await store.open(person, tokenExpires: Date().addingTimeInterval(-1))
        try await pool.withConnection { connection in
            try await connection.execute("UPDATE session SET last_seen_at = now() - interval '61 seconds' WHERE id_hash = \(SessionStore.hash(idle))")
            try await connection.execute("UPDATE session SET created_at = now() - interval '3601 seconds' WHERE id_hash = \(SessionStore.hash(old))")
        }
        #expect(try await store.session(id: idle) == nil)
        #expect(try await store.session(id: old) == nil)
        #expect(try await store.session(id: expiredToken) == nil)
        // Use keeps a session alive: seen 50 s ago, it is still good and seen again now.
        let active = try await store.open(person, tokenExpires: Date().addingTimeInterval(600))
        try await pool.withConnection { connection in
            try await connection.execute("UPDATE session SET last_seen_at = now() - interval '50 seconds' WHERE id_hash = \(SessionStore.hash(active))")
        }
        #expect(try await store.session(id: active) != nil)
        let seen = try await pool.withConnection {
            try await $0.query("SELECT now() - last_seen_at < interval '5 seconds' AS fresh FROM session WHERE id_hash = \(SessionStore.hash(active))")
        }
        #expect(try seen.first?.decode("fresh", as: Bool.self) == true)
        try await drop(pool, schema)
    }

    @Test("A sign-in's state is good once, and only for ten minutes")
    func signInState() async throws {
        let (store, pool, schema) = try await store()
        let (state, verifier) = try await store.beginSignIn(returnTo: "/referrals/1")
        #expect(state != verifier && state.count >= 43)
        #expect(try await store.finishSignIn(state: "guessed") == nil)
        let finished = try #require(try await store.finishSignIn(state: state))
        #expect(finished.verifier == verifier && finished.returnTo == "/referrals/1")
        #expect(try await store.finishSignIn(state: state) == nil)
        let (late, _) = try await store.beginSignIn(returnTo: "/")
        try await pool.withConnection { connection in
            try await connection.execute("UPDATE pending_sign_in SET created_at = now() - interval '11 minutes'")
        }
        #expect(try await store.finishSignIn(state: late) == nil)
        try await drop(pool, schema)
    }
}

@Suite("Console: languages, translations and where it redirects")
struct ConsolePageTests {
    @Test("The language: the user's choice, else the browser's best, else French")
    func language() {
        #expect(Language.chosen(cookie: "en", acceptLanguage: "fr-CA") == .en)
        #expect(Language.chosen(cookie: "de", acceptLanguage: "en-CA,en;q=0.9,fr;q=0.8") == .en)
        #expect(Language.chosen(cookie: nil, acceptLanguage: "de-DE, fr;q=0.5, en;q=0.4") == .fr)
        #expect(Language.chosen(cookie: nil, acceptLanguage: "de-DE, en;q=0") == .fr)
        #expect(Language.chosen(cookie: nil, acceptLanguage: nil) == .fr)
    }

    @Test("Every string a template names, and every status, action, need and support level, is translated in both languages")
    func translations() throws {
        var keys = Set<String>()
        for template in Pages.templates.values {
            let pattern = try Regex(#"\{\{t\.([A-Za-z_.]+)\}\}"#)
            for match in template.matches(of: pattern) { keys.insert(String(template[match.range].dropFirst(4).dropLast(2))) }
        }
        #expect(keys.count > 30)
        keys.formUnion(ReferralStatus.allCases.map { "status.\($0.rawValue)" })
        keys.formUnion(ReferralAction.allCases.map { "action.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.NeedCategoryCode.allCases.map { "need.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.SupportLevel.allCases.map { "support.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.ContactMode.allCases.map { "mode.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.ContactParty.allCases.map { "party.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.LifeDomain.allCases.map { "domain.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.GoalProgress.allCases.map { "progress.\($0.rawValue)" })
        keys.formUnion(Components.Schemas.ReferrerRole.allCases.map { "role.\($0.rawValue)" })
        keys.formUnion(["step.first-contact", "step.hold-review", "step.follow-up"])
        keys.formUnion(["pending", "deferred", "sending", "sent", "failed", "withheld"].map { "notification.\($0)" })
        keys.formUnion(["link-worker", "client", "referrer", "partner"].map { "recipient.\($0)" })
        keys.formUnion(["email", "sms", "webhook"].map { "channel.\($0)" })
        keys.formUnion(Components.Schemas.ContactChannel.allCases.map { "channelPref.\($0.rawValue)" })
        keys.formUnion(["referral", "status", "contact", "plan", "goal", "note", "message"].map { "kind.\($0)" })
        keys.formUnion(Role.allCases.map { "actor.\($0.rawValue)" })
        keys.formUnion(["contact", "plan", "goal", "review", "note", "consent", "consent-without-note", "connection", "service-use"].map { "saved.\($0)" })
        keys.formUnion(["in-person", "virtual", "phone"].map { "delivery.\($0)" })
        keys.formUnion((1...7).map { "weekday.\($0)" })
        keys.formUnion(ConsoleRoutes.accessibilityFeatures.map { "feature.\($0.replacingOccurrences(of: " ", with: "-"))" })
        keys.formUnion(ConsoleRoutes.directoryLanguages.map { "language.\($0)" })
        keys.formUnion(["ucla3", "ons4", "swemwbs"].map { "instrument.\($0)" })
        keys.formUnion(["total", "life-satisfaction", "worthwhile", "happiness", "anxiety", "raw", "metric"].map { "score.\($0)" })
        keys.formUnion(["goal404", "connection404", "forbidden", "tooLarge"].map { "refusal.\($0)" })
        keys.formUnion(["search", "postalCode", "postalArea", "visits", "noPeriod"].map { "invalid.\($0)" })
        for key in keys.sorted() {
            let entry = Translations.table[key]
            #expect(entry != nil, "no translation for \(key)")
            #expect(entry?.fr.isEmpty == false && entry?.en.isEmpty == false, "\(key) is empty in a language")
        }
    }

    @Test("The public URL: https with Secure cookies; plain http only when PASSERELLE_CONSOLE_ALLOW_HTTP=true says so")
    func publicURL() throws {
        let base = [
            "PASSERELLE_JWT_HS256_SECRET": "x7Qp2LrV9sKe4TzW1nBy6HdM3cFa8GjU0oRiXlE5vNq", "PASSERELLE_JWT_ISSUER": "i", "PASSERELLE_JWT_AUDIENCE": "a",
            "PASSERELLE_OIDC_DISCOVERY_URL": "https://id.example.org/realms/p", "PASSERELLE_OIDC_AUDIENCE": "p",
        ]
        let https = try ConsoleSettings.fromEnvironment(Environment(base.merging(["PASSERELLE_CONSOLE_PUBLIC_URL": "https://console.example.org/"]) { $1 }))
        #expect(https.secureCookies && https.redirectURI == "https://console.example.org/auth/callback")
        let local = base.merging(["PASSERELLE_CONSOLE_PUBLIC_URL": "http://127.0.0.1:8085"]) { $1 }
        #expect(throws: ConfigurationError.self) { try ConsoleSettings.fromEnvironment(Environment(local)) }
        #expect(throws: ConfigurationError.self) {
            try ConsoleSettings.fromEnvironment(Environment(local.merging(["PASSERELLE_CONSOLE_ALLOW_HTTP": "1"]) { $1 }))
        }
        let http = try ConsoleSettings.fromEnvironment(Environment(local.merging(["PASSERELLE_CONSOLE_ALLOW_HTTP": "true"]) { $1 }))
        #expect(!http.secureCookies && http.redirectURI == "http://127.0.0.1:8085/auth/callback")
    }

    @Test("The timeline's status steps come from intake's history: each transition with the statuses it joined, who took it and why")
    func statusSteps() throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let history: [Components.Schemas.StatusStep] = [
            .init(version: 1, to: .received, at: at, actorId: "dr.tremblay", actorRoles: "referrer"),
            .init(version: 2, from: .received, to: .accepted, action: .accept, at: at + 60, actorId: "amelie.roy", actorRoles: "link-worker"),
            .init(
                version: 3, from: .accepted, to: .onHold, action: .hold, reason: "Hospitalisée — « reprise » en mai", at: at + 120, actorId: "amelie.roy",
                actorRoles: "link-worker"),
            .init(version: 4, from: .onHold, to: .accepted, action: .resume, at: at + 180, actorId: "coord.ouest", actorRoles: "coordinator,link-worker"),
            .init(
                version: 5, from: .accepted, to: .completed, action: .complete, outcome: "Va au café des aînés", at: at + 240, actorId: "amelie.roy",
                actorRoles: "link-worker"),
        ]
        let french = ConsoleRoutes.statusSteps(history, language: .fr)
        // The submission is the timeline's « referral received », not a status step.
        #expect(french.map(\.at) == [at + 60, at + 120, at + 180, at + 240])
        #expect(french.map(\.what) == ["Reçue → Acceptée", "Acceptée → En attente", "En attente → Acceptée", "Acceptée → Terminée"])
        #expect(french[0].detail == "par amelie.roy (agent·e de liaison)")
        #expect(french[1].detail == "par amelie.roy (agent·e de liaison) — Hospitalisée — « reprise » en mai")
        #expect(french[2].detail == "par coord.ouest (coordination, agent·e de liaison)")
        #expect(french[3].detail == "par amelie.roy (agent·e de liaison) — Va au café des aînés")
        let english = ConsoleRoutes.statusSteps(history, language: .en)
        #expect(english[1].what == "Accepted → On hold" && english[1].detail.hasPrefix("by amelie.roy (link worker) — Hospitalisée"))
        #expect(ConsoleRoutes.statusSteps([], language: .en).isEmpty)
    }

    @Test("The referral page lists the screening answers as sent, escaped, or says there are none")
    func screeningAnswers() throws {
        let pages = try Pages()
        let answers = [["code": "isolement-1", "answer": "Souvent <script>alert(1)</script>"], ["code": "社交", "answer": "很少"]]
        let shown = pages.render(
            "referral", title: "t", language: .fr, session: nil, path: "/referrals/x",
            context: ["screeningAnswers": answers, "hasScreeningAnswers": true, "historyAvailable": true, "logAvailable": true])
        #expect(shown.contains("<h2 id=\"screening\">Réponses au dépistage</h2>"))
        #expect(
            shown.contains(
                "<dl class=\"screening\" id=\"screening-answers\"><dt>isolement-1</dt><dd>Souvent &lt;script&gt;alert(1)&lt;/script&gt;</dd><dt>社交</dt><dd>很少</dd></dl>"
            ))
        #expect(!shown.contains("<script>") && !shown.contains("n'est pas disponible"))
        let none = pages.render("referral", title: "t", language: .en, session: nil, path: "/referrals/x", context: ["hasScreeningAnswers": false])
        #expect(none.contains("No screening answers were sent with this referral.") && !none.contains("screening-answers"))
        #expect(none.contains("The status history is not available"))
    }

    @Test("Return paths stay on the console")
    func localPaths() {
        #expect(ConsoleRoutes.localPath("/referrals/1?done=accept") == "/referrals/1?done=accept")
        for hostile in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "", nil] as [String?] {
            #expect(ConsoleRoutes.localPath(hostile) == "/")
        }
    }

    @Test("Only intake's cursors page the caseload; anything else starts at the first page")
    func cursors() {
        #expect(ConsoleRoutes.cursor("eyJyIjoxfQ==") == "eyJyIjoxfQ==")
        #expect(ConsoleRoutes.cursor("a-b_c") == "a-b_c")
        for hostile in ["not*a*cursor", "", "a b", "abc===", "ab/cd", String(repeating: "a", count: 513), nil] as [String?] {
            #expect(ConsoleRoutes.cursor(hostile) == nil, "\(hostile ?? "nil")")
        }
    }

    @Test("A contact's date as typed is the sites' local time (Ontario), daylight saving included")
    func localDates() throws {
        let winter = try #require(ConsoleRoutes.localDate("2026-12-07T10:30"))
        #expect(winter == Date(timeIntervalSince1970: 1_796_657_400))  // 15:30 UTC
        let summer = try #require(ConsoleRoutes.localDate("2026-07-07T10:30:00"))
        #expect(summer == Date(timeIntervalSince1970: 1_783_434_600))  // 14:30 UTC
        for wrong in ["", "2026-12-07", "07/12/2026 10:30", "2026-13-40T99:99", "tomorrow"] { #expect(ConsoleRoutes.localDate(wrong) == nil, "\(wrong)") }
    }

    @Test("An overdue step is flagged in words, not by colour alone, and an absent one says nothing is due")
    func overdueRow() throws {
        let pages = try Pages()
        let row: [String: Any] = [
            "id": "r1", "short": "R1", "urgent": false, "priority": "Courante", "needs": "Logement", "status": "Acceptée", "next": "Premier contact",
            "due": "7 déc.", "overdue": true, "received": "1 déc.",
        ]
        let quiet: [String: Any] = [
            "id": "r2", "short": "R2", "urgent": false, "priority": "Courante", "needs": "Logement", "status": "Reçue", "next": "—", "overdue": false,
            "received": "1 déc.",
        ]
        let html = pages.render(
            "caseload", title: "t", language: .fr, session: nil, path: "/",
            context: ["counts": [], "total": 2, "overdue": true, "sections": [["id": "mine", "title": "Mes demandes", "rows": [row, quiet], "empty": false]]])
        #expect(html.contains("<tr class=\"overdue\">") && html.contains("<strong class=\"flag\">En retard</strong>"))
        #expect(html.contains("pour le 7 déc."))
        #expect(html.components(separatedBy: "En retard").count == 2, "only the overdue row is flagged")
        #expect(html.components(separatedBy: "pour le").count == 2, "a row with no step due shows no due date")
    }

    @Test("A form's fields: + is a space, and a field whose percent-encoding is broken is dropped, not trapped on")
    func formFields() {
        let fields = ConsoleRoutes.formFields("need=loneliness&postal=k1y+4e9&broken=%ZZ&latin=%E9&plus=%2B1&empty=&bare")
        #expect(fields.map(\.name) == ["need", "postal", "plus", "empty", "bare"])
        #expect(fields.map(\.value) == ["loneliness", "k1y 4e9", "+1", "", ""])
        #expect(ConsoleRoutes.formFields("").isEmpty)
    }

    @Test("A proposal from the directory comes back to a directory search only, with only the search's own fields")
    func directoryReturn() {
        #expect(
            ConsoleRoutes.directorySearchQuery("/directory?need=loneliness&postal=K1Y%204E9&csrf=x&referral=y") == ["need": "loneliness", "postal": "K1Y 4E9"])
        #expect(ConsoleRoutes.directorySearchQuery("/directory") == [:])
        for elsewhere in ["//evil.example/directory", "/directoryx", "/referrals/1", "https://evil.example/directory?need=x", ""] {
            #expect(ConsoleRoutes.directorySearchQuery(elsewhere) == nil, "\(elsewhere)")
        }
    }

    @Test("Now at the sites is the resources' weekday and 24-hour time: 1 is Monday, 7 Sunday, in the sites' time zone")
    func moment() {
        let toronto = TimeZone(identifier: "America/Toronto")!
        let noon = ConsoleRoutes.moment(Date(timeIntervalSince1970: 1_796_662_800), in: toronto)  // Monday 2026-12-07, noon in Toronto
        #expect(noon.weekday == 1 && noon.time == "12:00")
        let evening = ConsoleRoutes.moment(Date(timeIntervalSince1970: 1_796_612_400 + 65), in: toronto)  // 03:01 UTC that Monday
        #expect(evening.weekday == 7 && evening.time == "22:01")  // still Sunday evening there
        let vancouver = ConsoleRoutes.moment(Date(timeIntervalSince1970: 1_796_612_400 + 65), in: TimeZone(identifier: "America/Vancouver")!)
        #expect(vancouver.weekday == 7 && vancouver.time == "19:01")
        let morning = ConsoleRoutes.moment(Date(timeIntervalSince1970: 1_796_662_800 - 3 * 3600 - 55 * 60), in: toronto)
        #expect(morning.weekday == 1 && morning.time == "08:05")  // zero-padded, as matching's open_at asks
    }

    @Test("The sites' time zone: America/Toronto unless PASSERELLE_CONSOLE_TIME_ZONE names another region; an abbreviation or unknown name stops the start")
    func timeZone() throws {
        let base = [
            "PASSERELLE_JWT_HS256_SECRET": "x7Qp2LrV9sKe4TzW1nBy6HdM3cFa8GjU0oRiXlE5vNq", "PASSERELLE_JWT_ISSUER": "i", "PASSERELLE_JWT_AUDIENCE": "a",
            "PASSERELLE_OIDC_DISCOVERY_URL": "https://id.example.org/realms/p", "PASSERELLE_OIDC_AUDIENCE": "p",
            "PASSERELLE_CONSOLE_PUBLIC_URL": "https://console.example.org",
        ]
        func settings(_ zone: String?) throws -> ConsoleSettings {
            try ConsoleSettings.fromEnvironment(Environment(zone.map { base.merging(["PASSERELLE_CONSOLE_TIME_ZONE": $0]) { $1 } } ?? base))
        }
        #expect(try settings(nil).timeZone.identifier == "America/Toronto")
        #expect(try settings("").timeZone.identifier == "America/Toronto")
        #expect(try settings("America/Vancouver").timeZone.identifier == "America/Vancouver")
        for zone in ["EST", "Mars/Olympus_Mons", "America/Toronto\u{0}", "toronto", "+05:00"] {
            #expect(throws: ConfigurationError.self, "\(zone)") { try settings(zone) }
        }
    }

    @Test("The services' English refusals are said in French where their pattern is known, as sent otherwise")
    func refusals() {
        let cases: [(String, String)] = [
            ("must not be in the future", "ne peut pas être dans le futur"),
            ("a enrolled connection cannot become accepted", "une connexion « Inscrite » ne peut pas devenir « Acceptée par la personne »."),
            ("item 1 must be between 0 and 10, got 11", "la réponse doit être entre 0 et 10 (reçu : 11)"),
            ("cannot complete a referral that is received; allowed: accept, hold", "impossible de « Terminer » une demande au statut « Reçue »."),
            ("must be a count of visits in six months, 0 to 183", "un nombre de visites en six mois, de 0 à 183"),
            ("something no one foresaw", "something no one foresaw"),
        ]
        for (english, french) in cases {
            #expect(ConsoleRoutes.translatedDetail(english, .fr) == french, "\(english)")
            #expect(ConsoleRoutes.translatedDetail(english, .en) == english)
        }
    }

    @Test("CSRF tokens compare in constant time and exactly")
    func csrf() {
        #expect(ConsoleRoutes.constantTimeEqual("abc", "abc"))
        #expect(!ConsoleRoutes.constantTimeEqual("abc", "abd"))
        #expect(!ConsoleRoutes.constantTimeEqual("abc", "abcd"))
        #expect(!ConsoleRoutes.constantTimeEqual("", "a"))
    }
}

@Suite("Console: SWEMWBS, offered only with the items a network loads under its licence")
struct ConsoleLicensedItemsTests {
    let variable = "PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE"
    let base = [
        "PASSERELLE_JWT_HS256_SECRET": "x7Qp2LrV9sKe4TzW1nBy6HdM3cFa8GjU0oRiXlE5vNq", "PASSERELLE_JWT_ISSUER": "i", "PASSERELLE_JWT_AUDIENCE": "a",
        "PASSERELLE_OIDC_DISCOVERY_URL": "https://id.example.org/realms/p", "PASSERELLE_OIDC_AUDIENCE": "p",
        "PASSERELLE_CONSOLE_PUBLIC_URL": "https://console.example.org",
    ]

    /// Placeholder wording for tests, not the licensed items.
    static func items(_ count: Int = 7) -> [[String: String]] {
        (1...count).map { ["fr": "Énoncé d'essai \($0) (texte de test)", "en": "Test statement \($0) (test text)"] }
    }

    /// The file written under a fresh name, and the settings read with it (removed afterwards).
    func settings(_ json: Any) throws -> ConsoleSettings {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swemwbs-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConsoleSettings.fromEnvironment(Environment(base.merging([variable: path]) { $1 }))
    }

    func refusal(_ json: Any, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try settings(json)
            Issue.record("the start went on with \(json)", sourceLocation: sourceLocation)
        } catch let error as ConfigurationError {
            #expect(error.variable == variable, sourceLocation: sourceLocation)
            #expect(error.problem.contains(expected), "\(error.problem)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a configuration error: \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("A file of seven items in French and English is read, trimmed, with its licence line; without the setting there is none")
    func good() throws {
        var items = Self.items()
        items[2]["en"] = "  Test statement 3 (test text) "
        let loaded = try #require(try settings(["licence": "Licence d'essai n° 42 — test", "items": items]).swemwbsItems)
        #expect(loaded.items.count == 7 && loaded.licence == "Licence d'essai n° 42 — test")
        #expect(loaded.items[0] == .init(fr: "Énoncé d'essai 1 (texte de test)", en: "Test statement 1 (test text)"))
        #expect(loaded.items[2].en == "Test statement 3 (test text)")
        #expect(try settings(["items": Self.items()]).swemwbsItems?.licence == nil)
        #expect(try ConsoleSettings.fromEnvironment(Environment(base)).swemwbsItems == nil)
        #expect(try ConsoleSettings.fromEnvironment(Environment(base.merging([variable: ""]) { $1 })).swemwbsItems == nil)
    }

    @Test("Six or eight items, a blank, too long or missing wording, a control character, or not the JSON asked for: the console does not start")
    func refused() {
        refusal(["items": Self.items(6)], "has 6 items; the questionnaire has 7")
        refusal(["items": Self.items(8)], "has 8 items")
        refusal(["items": [] as [Any]], "has 0 items")
        var blank = Self.items()
        blank[3]["fr"] = "   "
        refusal(["items": blank], "item 4 in French (fr) is blank")
        var missing = Self.items()
        missing[6]["en"] = nil
        refusal(["items": missing], "item 7 in English (en) is missing")
        var nul = Self.items()
        nul[0]["en"] = "Test\u{0}statement"
        refusal(["items": nul], "item 1 in English (en) contains a control character")
        var newline = Self.items()
        newline[1]["fr"] = "Énoncé\nd'essai"
        refusal(["items": newline], "item 2 in French (fr) contains a control character")
        var long = Self.items()
        long[4]["fr"] = String(repeating: "é", count: 301)
        refusal(["items": long], "item 5 in French (fr) is longer than 300 characters")
        var longest = Self.items()
        longest[4]["fr"] = String(repeating: "é", count: 300)
        #expect(throws: Never.self) { try settings(["items": longest]) }
        refusal(["licence": "", "items": Self.items()], "the licence line is blank")
        refusal(["licence": "a\u{1B}[31m", "items": Self.items()], "the licence line contains a control character")
        refusal(["questions": Self.items()], "is not JSON")
        refusal(Self.items(), "is not JSON")
        refusal(["items": [["fr": 1, "en": 2]]], "is not JSON")
    }

    @Test("A file that cannot be read is an error naming the setting and the path")
    func unreadable() {
        let path = "/nonexistent/swemwbs-\(UUID().uuidString).json"
        do {
            _ = try ConsoleSettings.fromEnvironment(Environment(base.merging([variable: path]) { $1 }))
            Issue.record("the start went on without the file")
        } catch let error as ConfigurationError {
            #expect(error.variable == variable && error.problem == "\(path): cannot be read")
            #expect("\(error)".contains("PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE"))
        } catch {
            Issue.record("not a configuration error: \(error)")
        }
    }

    @Test("Loaded, SWEMWBS is offered after UCLA-3 and ONS4: seven groups of five radios 1 to 5, its items and scale in each language, the licence line below")
    func form() throws {
        let loaded = LicensedItems(
            items: (1...7).map { .init(fr: "Énoncé d'essai \($0) (texte de test)", en: "Test statement \($0) (test text) <b>") },
            licence: "Licence d'essai — test")
        #expect(ConsoleRoutes.Questionnaire.offered(swemwbs: nil).map(\.code) == ["ucla3", "ons4"])
        let offered = ConsoleRoutes.Questionnaire.offered(swemwbs: loaded)
        #expect(offered.map(\.code) == ["ucla3", "ons4", "swemwbs"])
        let swemwbs = try #require(offered.last)
        #expect(swemwbs.items == 7 && swemwbs.range == 1...5, "the items and range evaluation scores")
        let pages = try Pages()
        for (language, item, answers) in [
            (Language.fr, "Énoncé d'essai", ["Jamais", "Rarement", "Parfois", "Souvent", "Tout le temps"]),
            (.en, "Test statement", ["None of the time", "Rarely", "Some of the time", "Often", "All of the time"]),
        ] {
            let forms = offered.map { ConsoleRoutes.questionnaireForm($0, failure: nil, language: language) }
            let html = pages.render(
                "referral", title: "t", language: language, session: nil, path: "/referrals/r",
                context: ["casework": true, "referralId": "r", "csrf": "c", "outcomeForms": forms, "outcomesAvailable": true])
            let start = try #require(html.range(of: "<form method=\"post\" action=\"/referrals/r/outcomes#outcome-swemwbs\""))
            let form = String(html[start.lowerBound...]).components(separatedBy: "</form>")[0]
            #expect(form.contains("<input type=\"hidden\" name=\"instrument\" value=\"swemwbs\">"))
            #expect(form.contains("name=\"timepoint\" required") && form.contains("<option value=\"baseline\""))
            #expect(form.components(separatedBy: "<fieldset class=\"item\"").count == 8, "seven items")
            #expect(form.components(separatedBy: "<input type=\"radio\"").count == 36, "five answers each")
            for number in 1...7 {
                let wording = language == .fr ? "Énoncé d&#39;essai \(number) (texte de test)" : "\(item) \(number) (test text) &lt;b&gt;"
                #expect(form.contains("<legend>\(number). \(wording)</legend>"), "item \(number) in \(language)")
                for value in 1...5 {
                    #expect(form.contains("<input type=\"radio\" name=\"item\(number)\" value=\"\(value)\" required> \(answers[value - 1])</label>"))
                }
            }
            #expect(!form.contains("value=\"0\"") && !form.contains("value=\"6\"") && !form.contains("name=\"item8\""))
            #expect(form.contains("<p class=\"hint licence\" id=\"outcome-swemwbs-licence\">Licence d&#39;essai — test</p>"))
            #expect(!html.contains("<b>"), "the loaded wording is escaped")
            let other = language == .fr ? "Test statement 1" : "Énoncé d&#39;essai 1"
            #expect(!html.contains(other), "only the page's language")
            #expect(html.components(separatedBy: "outcome-swemwbs-licence").count == 2 && html.contains("id=\"outcome-ucla3\""))
        }
        // A refused SWEMWBS shows again with its problem and the answers as chosen.
        let failure = FormFailure(
            form: "outcome-swemwbs", message: "refused", errors: [("item7", "choose")], typed: ["timepoint": "closure", "item1": "4", "item7": ""])
        let refused = ConsoleRoutes.questionnaireForm(swemwbs, failure: failure, language: .fr)
        let html = pages.render(
            "referral", title: "t", language: .fr, session: nil, path: "/referrals/r",
            context: ["casework": true, "referralId": "r", "csrf": "c", "outcomeForms": [refused], "outcomesAvailable": true])
        #expect(html.contains("id=\"outcome-swemwbs-problem\"") && html.contains("name=\"item1\" value=\"4\" required checked"))
        #expect(html.contains("<option value=\"closure\" selected>") && html.contains("<fieldset class=\"item\" aria-invalid=\"true\""))
    }
}
