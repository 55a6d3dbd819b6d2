import Domain
import Foundation
import Hummingbird
import IntakeAPI

/// The caseload: the link worker's own referrals (intake's `owner=me`) and the new ones at their
/// site waiting for someone, a page at a time through intake's cursors.
extension ConsoleRoutes {
    static let caseloadPageSize = 25
    /// Counting a caseload stops here: a link worker's caseload is tens of referrals, not thousands.
    static let countLimit = 2_000

    /// A cursor as intake hands them out; anything else starts at the first page.
    static func cursor(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.count <= 512, value.wholeMatch(of: /[A-Za-z0-9_-]+={0,2}/) != nil else { return nil }
        return value
    }

    func caseload(_ request: Request, _ session: ConsoleSession, _ language: Language) async throws -> Response {
        let query = request.uri.queryParameters
        let mineCursor = Self.cursor(query.get("mine"))
        let newCursor = Self.cursor(query.get("new"))
        let filter = query.get("status").flatMap { IntakeAPI.Components.Schemas.ReferralStatus(rawValue: $0) }
        let clients = ServiceClients(settings: settings, token: session.accessToken)
        let intake = clients.intake
        let size = Self.caseloadPageSize
        let mine: IntakeAPI.Components.Schemas.InboxPage
        let newOnes: IntakeAPI.Components.Schemas.InboxPage
        var counts: [String: Int] = [:]
        var counted = 0
        do {
            async let minePage = intake.listReferrals(query: .init(status: filter, limit: size, cursor: mineCursor, owner: "me")).ok.body.json
            async let newPage = intake.listReferrals(query: .init(status: .received, limit: size, cursor: newCursor)).ok.body.json
            // Counts by status over the whole caseload, not only the page shown.
            var cursor: String?
            repeat {
                let page = try await intake.listReferrals(query: .init(limit: 200, cursor: cursor, owner: "me")).ok.body.json
                for item in page.items { counts[item.status.rawValue, default: 0] += 1 }
                counted += page.items.count
                cursor = page.nextCursor
            } while cursor != nil && counted < Self.countLimit
            mine = try await minePage
            newOnes = try await newPage
        } catch {
            return unavailable(error, language, session)
        }
        let dates = dateFormatter(language)
        func link(_ parameters: [(String, String?)]) -> String {
            "/?" + parameters.compactMap { name, value in value.map { "\(name)=\(OpenIDSignIn.formEncoded($0))" } }.joined(separator: "&")
        }
        let status = filter?.rawValue
        var mineSection: [String: Any] = [
            "id": "mine", "title": text("myReferrals", language), "rows": mine.items.map { row($0, language, dates) }, "empty": mine.items.isEmpty,
            "filter": true,
            "statuses": ReferralStatus.allCases.map {
                ["value": $0.rawValue, "label": text("status.\($0.rawValue)", language), "selected": $0.rawValue == status]
            },
        ]
        if let next = mine.nextCursor { mineSection["next"] = link([("status", status), ("mine", next)]) }
        if mineCursor != nil { mineSection["first"] = link([("status", status)]) }
        var newSection: [String: Any] = [
            "id": "new", "title": text("newAtSite", language), "rows": newOnes.items.map { row($0, language, dates) }, "empty": newOnes.items.isEmpty,
        ]
        if let next = newOnes.nextCursor { newSection["next"] = link([("status", status), ("mine", mineCursor), ("new", next)]) }
        if newCursor != nil { newSection["first"] = link([("status", status), ("mine", mineCursor)]) }
        let sections = [mineSection, newSection]
        let context: [String: Any] = [
            "counts": ReferralStatus.allCases.map(\.rawValue).filter { counts[$0] != nil }.map {
                ["label": text("status.\($0)", language), "count": counts[$0] ?? 0]
            },
            "total": counted, "sections": sections, "overdue": mine.items.contains { $0.nextStep?.overdue == true },
        ]
        var path = "/"
        if let target = request.uri.query, !target.isEmpty { path += "?" + target }
        return page("caseload", title: text("caseload", language), language: language, session: session, path: Self.localPath(path), context: context)
    }
}
