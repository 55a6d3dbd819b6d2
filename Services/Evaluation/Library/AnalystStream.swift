import Contracts
import Crypto
import Domain
import Foundation
import Logging
import Messaging
import PostgresClient
import ServiceRuntime

/// The deployment's key for analyst pseudonyms: HMAC-SHA256 of an id under it is stable for the
/// deployment (analysts can follow a pathway and a client over time) and cannot be turned back
/// into the id, or recomputed from a guessed id, without the key.
public struct PseudonymKey: Sendable {
    public static let variable = "PASSERELLE_EVALUATION_PSEUDONYM_KEY"
    /// As long as the HMAC's output: a shorter key weakens it.
    public static let minimumBytes = 32

    private static let hexDigits = Array("0123456789abcdef".utf8)
    /// The HMAC with the key already absorbed; each pseudonym continues a copy of it.
    private let keyed: HMAC<SHA256>

    public init(_ secret: String) throws(PseudonymKeyError) {
        guard secret.utf8.count >= Self.minimumBytes else { throw PseudonymKeyError(bytes: secret.utf8.count) }
        keyed = HMAC<SHA256>(key: SymmetricKey(data: Data(secret.utf8)))
    }

    /// The key from the environment (`NAME` or `NAME_FILE`); `nil` when none is configured.
    public static func configured(in environment: Environment) throws -> PseudonymKey? {
        guard let secret = try environment.secret(variable) else { return nil }
        return try PseudonymKey(secret)
    }

    /// Lowercase hex HMAC-SHA256 of `kind:id`; the kind keeps a referral's and a client's
    /// pseudonyms apart even if their ids were equal.
    public func pseudonym(_ kind: String, _ id: UUID) -> String {
        var mac = keyed
        mac.update(data: Data("\(kind):\(id.uuidString.lowercased())".utf8))
        var hex: [UInt8] = []
        hex.reserveCapacity(2 * SHA256.byteCount)
        for byte in mac.finalize() {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    public func pathway(_ referral: UUID) -> String { pseudonym("referral", referral) }
    public func client(_ client: UUID) -> String { pseudonym("client", client) }
}

public struct PseudonymKeyError: Error, CustomStringConvertible {
    public var bytes: Int
    public var description: String {
        "configuration \(PseudonymKey.variable): the key has \(bytes) bytes; it needs at least \(PseudonymKey.minimumBytes) (e.g. the output of `openssl rand -base64 48`)"
    }
}

/// Publishes de-identified events to the evaluation topic, through the outbox (in the same
/// transaction as the change they describe), for clients who consented to evaluation use.
/// What travels: pseudonyms, codes, and quasi-identifiers generalised (`QuasiIdentifiers`):
/// times to the week, the area, language and age band only when enough clients share them;
/// never an id, a name, a contact, a birth date, an address or free text. An erased client's
/// pathway is retracted.
public struct AnalystStream: Sendable {
    public let key: PseudonymKey
    let outbox: Outbox
    let generalisation: QuasiIdentifiers

    public init(key: PseudonymKey, outbox: Outbox, zone: TimeZone) {
        self.key = key
        self.outbox = outbox
        self.generalisation = QuasiIdentifiers(zone: zone)
    }

    /// Closure outcomes and other values travel only when they are codes (lowercase words joined
    /// by dashes); a sentence a worker typed could name someone.
    static func code(_ text: String?) -> String? {
        guard let text, (1...64).contains(text.count), !text.hasPrefix("-"), !text.hasSuffix("-"), !text.contains("--"),
            text.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
        else { return nil }
        return text
    }

    /// The event for `pathway`, its quasi-identifiers generalised by how many consenting clients
    /// of the site share them (`sharing`).
    public func event(for pathway: PathwayRecord, sharing: QuasiIdentifiers.Sharing) -> PathwayUpdatedV1 {
        let week = generalisation.week
        var event = PathwayUpdatedV1(
            pathway: key.pathway(pathway.referralID), client: key.client(pathway.clientID), pathwayVersion: pathway.pathwayVersion,
            site: pathway.site, referrerRole: pathway.referrerRole, needs: pathway.needs, supportLevel: pathway.supportLevel,
            priority: pathway.priority, status: pathway.status, ageBand: pathway.ageBand, area: pathway.area, language: pathway.language,
            receivedAt: week(pathway.receivedAt), acceptedAt: pathway.acceptedAt.map(week), firstContactAt: pathway.firstContactAt.map(week),
            connectedAt: pathway.connectedAt.map(week), closedAt: pathway.closedAt.map(week), connectionCount: pathway.connectionCount,
            closureOutcome: Self.code(pathway.closureOutcome), updatedAt: week(pathway.updatedAt))
        generalisation.coarsen(&event, sharing: sharing)
        return event
    }

    /// Publishes `pathway` as it now stands (its row already written, so it counts itself).
    func publish(_ pathway: PathwayRecord, on connection: PostgresConnection) async throws {
        guard pathway.consentEvaluationUse else { return }
        let sharing = try await QuasiIdentifiers.sharing(pathway, on: connection)
        try await outbox.append(event(for: pathway, sharing: sharing), on: connection)
    }

    /// Tells analysts to drop what they hold about the pathway of an erased client.
    func retract(_ referral: UUID, on connection: PostgresConnection) async throws {
        try await outbox.append(PathwayRetractedV1(pathway: key.pathway(referral)), on: connection)
    }

    func publishOutcome(
        referral: UUID, client: UUID, site: String, instrument: String, timepoint: String, scores: [String: Double], recordedAt: Date,
        on session: borrowing PostgresSession
    ) throws {
        try outbox.append(
            OutcomeRecordedV1(
                pathway: key.pathway(referral), client: key.client(client), site: site, instrument: instrument, timepoint: timepoint,
                scores: scores, recordedAt: generalisation.week(recordedAt)), on: session)
    }

    /// The stream of a service's settings. Without a key the stream is off (and the service says
    /// so at start); a key that is too short stops the service.
    static func configured(_ components: ServiceComponents) throws -> AnalystStream? {
        guard let key = try PseudonymKey.configured(in: components.settings.environment) else { return nil }
        return AnalystStream(key: key, outbox: components.outbox, zone: try ReportWindow.zone(in: components.settings.environment))
    }
}

/// How the analyst stream generalises what could single a client out when combined:
/// - every time becomes the start of its week (Monday 00:00 in the network's time zone);
/// - site, area, age band and language travel together only when at least `threshold`
///   consenting clients of the site share all four; otherwise the area is left out; if fewer
///   than `threshold` share site, age band and language, the language is left out too; if fewer
///   share site and age band, the age band is left out as well. The site always travels.
/// Clients are counted in the projection when the event is written, the pathway included.
public struct QuasiIdentifiers: Sendable {
    public static let threshold = 5

    /// How many consenting clients of the site share the pathway's area, age band and language;
    /// its age band and language; its age band.
    public struct Sharing: Sendable, Equatable {
        public var area: Int
        public var language: Int
        public var ageBand: Int

        public init(area: Int, language: Int, ageBand: Int) {
            self.area = area
            self.language = language
            self.ageBand = ageBand
        }
    }

    let calendar: Calendar

    public init(zone: TimeZone) {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        self.calendar = calendar
    }

    /// The start of `date`'s week.
    public func week(_ date: Date) -> Date {
        calendar.dateInterval(of: .weekOfYear, for: date)?.start ?? date
    }

    public func coarsen(_ event: inout PathwayUpdatedV1, sharing: Sharing) {
        if sharing.area < Self.threshold { event.area = nil }
        if sharing.language < Self.threshold { event.language = nil }
        if sharing.ageBand < Self.threshold { event.ageBand = nil }
    }

    static func sharing(_ pathway: PathwayRecord, on connection: PostgresConnection) async throws -> Sharing {
        let row = try await connection.query(
            """
            SELECT count(DISTINCT client_id) FILTER (WHERE area IS NOT DISTINCT FROM \(pathway.area) AND language IS NOT DISTINCT FROM \(pathway.language)) AS area,
                   count(DISTINCT client_id) FILTER (WHERE language IS NOT DISTINCT FROM \(pathway.language)) AS language,
                   count(DISTINCT client_id) AS age_band
            FROM pathway WHERE consent_evaluation_use AND site = \(pathway.site) AND age_band IS NOT DISTINCT FROM \(pathway.ageBand)
            """
        ).first
        return Sharing(
            area: try row?.decode("area", as: Int.self) ?? 0, language: try row?.decode("language", as: Int.self) ?? 0,
            ageBand: try row?.decode("age_band", as: Int.self) ?? 0)
    }
}
