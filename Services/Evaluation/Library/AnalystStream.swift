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
/// What travels: pseudonyms, codes, the age band, the area, timestamps; never an id, a name, a
/// contact, a birth date, an address or free text.
public struct AnalystStream: Sendable {
    public let key: PseudonymKey
    let outbox: Outbox

    public init(key: PseudonymKey, outbox: Outbox) {
        self.key = key
        self.outbox = outbox
    }

    /// Closure outcomes and other values travel only when they are codes (lowercase words joined
    /// by dashes); a sentence a worker typed could name someone.
    static func code(_ text: String?) -> String? {
        guard let text, (1...64).contains(text.count), !text.hasPrefix("-"), !text.hasSuffix("-"), !text.contains("--"),
            text.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
        else { return nil }
        return text
    }

    public func event(for pathway: PathwayRecord) -> PathwayUpdatedV1 {
        PathwayUpdatedV1(
            pathway: key.pathway(pathway.referralID), client: key.client(pathway.clientID), pathwayVersion: pathway.pathwayVersion,
            site: pathway.site, referrerRole: pathway.referrerRole, needs: pathway.needs, supportLevel: pathway.supportLevel,
            priority: pathway.priority, status: pathway.status, ageBand: pathway.ageBand, area: pathway.area, language: pathway.language,
            receivedAt: pathway.receivedAt, acceptedAt: pathway.acceptedAt, firstContactAt: pathway.firstContactAt,
            connectedAt: pathway.connectedAt, closedAt: pathway.closedAt, connectionCount: pathway.connectionCount,
            closureOutcome: Self.code(pathway.closureOutcome), updatedAt: pathway.updatedAt)
    }

    func publish(_ pathway: PathwayRecord, on connection: PostgresConnection) async throws {
        guard pathway.consentEvaluationUse else { return }
        try await outbox.append(event(for: pathway), on: connection)
    }

    func publishOutcome(
        referral: UUID, client: UUID, site: String, instrument: String, timepoint: String, scores: [String: Double], recordedAt: Date,
        on session: borrowing PostgresSession
    ) throws {
        try outbox.append(
            OutcomeRecordedV1(
                pathway: key.pathway(referral), client: key.client(client), site: site, instrument: instrument, timepoint: timepoint,
                scores: scores, recordedAt: recordedAt), on: session)
    }

    /// The stream of a service's settings. Without a key the stream is off (and the service says
    /// so at start); a key that is too short stops the service.
    static func configured(_ components: ServiceComponents) throws -> AnalystStream? {
        guard let key = try PseudonymKey.configured(in: components.settings.environment) else { return nil }
        return AnalystStream(key: key, outbox: components.outbox)
    }
}
