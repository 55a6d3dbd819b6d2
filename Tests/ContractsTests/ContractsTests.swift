import Contracts
import Domain
import Foundation
import TestSupport
import Testing
import WireFormats

// MARK: - Fixtures

/// Fixed ids and instants so event bytes are stable. Instants have whole milliseconds (and an
/// exactly representable fraction) because the wire format keeps milliseconds and no more.
enum Fixture {
    static let source = "/passerelle/test"
    static let eventID = UUID(uuidString: "3D4E5F60-7182-4394-A5B6-C7D8E9F0A1B2")!
    static let time = Date(timeIntervalSince1970: 1_795_000_000.125)
    static let timeText = "2026-11-18T11:06:40.125Z"

    static let referralID = UUID(uuidString: "6F1C2A5E-3B7D-4C8A-9E21-0D4B5F6A7C81")!
    static let clientID = UUID(uuidString: "A2B3C4D5-E6F7-4819-8A2B-3C4D5E6F7081")!
    static let linkWorkerID = UUID(uuidString: "0B9D3E4F-5A6B-4C7D-8E9F-A0B1C2D3E4F5")!
    static let resourceID = UUID(uuidString: "C7E8F9A0-B1C2-4D3E-8F4A-5B6C7D8E9F01")!
    static let otherResourceID = UUID(uuidString: "D1E2F3A4-B5C6-4D7E-9F80-91A2B3C4D5E6")!
    static let connectionID = UUID(uuidString: "E5F6A7B8-C9D0-4E1F-A2B3-C4D5E6F7A8B9")!
    static let notificationID = UUID(uuidString: "F0E1D2C3-B4A5-4968-8776-655443322110")!
    static let sourceEventID = UUID(uuidString: "1A2B3C4D-5E6F-4A8B-9C0D-1E2F3A4B5C6D")!
    static let site = "ottawa-west-chc"
    /// Keyed-HMAC pseudonyms as the evaluation stream carries them.
    static let pathway = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    static let pseudonymousClient = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

    static func after(hours: Int) -> Date { time.addingTimeInterval(TimeInterval(hours) * 3_600) }

    static let fullConsent = Consent(contact: true, shareWithPartners: true, evaluationUse: true)
    static let noConsent = Consent(contact: false, shareWithPartners: false, evaluationUse: false)
}

/// One payload to put through the envelope and the schema checks.
struct Sample: Sendable, CustomTestStringConvertible {
    let name: String
    let payload: any EventPayload

    var eventType: String { type(of: payload).eventType }
    var testDescription: String { name }
}

enum Samples {
    static let referralReceived = ReferralReceivedV1(
        referralID: Fixture.referralID, referralVersion: 1, clientID: Fixture.clientID, site: Fixture.site, referrerID: "cpso-104729",
        referrerRole: ReferrerRole.nursePractitioner.rawValue, needs: ["social-isolation", "food-security"], interests: ["gardening", "choir"],
        supportLevel: SupportLevel.medium.rawValue, priority: ReferralPriority.routine.rawValue, preferredLanguage: "fr", postalArea: "K1Y",
        coordinates: try! Coordinates(latitude: 45.4001, longitude: -75.7312), ageBand: AgeBand.from65to74.rawValue, accessibilityNeeds: ["step-free-access"],
        preferredChannel: ContactChannel.sms.rawValue, consent: Fixture.fullConsent, receivedAt: Fixture.time)

    static let referralReceivedMinimal = ReferralReceivedV1(
        referralID: Fixture.referralID, referralVersion: 1, clientID: Fixture.clientID, site: Fixture.site, referrerID: "self",
        referrerRole: ReferrerRole.selfReferral.rawValue, needs: ["housing"], interests: [], supportLevel: SupportLevel.signposting.rawValue,
        priority: ReferralPriority.urgent.rawValue, preferredLanguage: "en", postalArea: nil, coordinates: nil, ageBand: AgeBand.from18to24.rawValue,
        accessibilityNeeds: [], preferredChannel: ContactChannel.none.rawValue, consent: Fixture.noConsent, receivedAt: Fixture.time)

    static let statusChanged = ReferralStatusChangedV1(
        referralID: Fixture.referralID, referralVersion: 5, site: Fixture.site, from: ReferralStatus.inProgress.rawValue,
        to: ReferralStatus.completed.rawValue, action: ReferralAction.complete.rawValue, actorRole: "link-worker", actorID: "lw-0042",
        reason: "goals met", outcome: "connected to the Tuesday walking group", changedAt: Fixture.after(hours: 720))

    static let consentChanged = ClientConsentChangedV1(
        referralID: Fixture.referralID, clientID: Fixture.clientID, clientVersion: 3,
        consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), changedAt: Fixture.after(hours: 24))

    static let clientErased = ClientErasedV1(referralID: Fixture.referralID, clientID: Fixture.clientID, erasedAt: Fixture.after(hours: 720))

    static let clientProfile = ClientProfileV1(
        clientID: Fixture.clientID, clientVersion: 3, givenName: "Élodie", familyName: "Tremblay", phone: "+1 613 555 0142",
        email: "elodie.tremblay@example.ca", preferredLanguage: "fr", preferredChannel: ContactChannel.sms.rawValue,
        consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), updatedAt: Fixture.after(hours: 24))

    static let referralAssigned = ReferralAssignedV1(
        referralID: Fixture.referralID, referralVersion: 2, linkWorkerID: Fixture.linkWorkerID, site: Fixture.site,
        priority: ReferralPriority.urgent.rawValue, assignedAt: Fixture.after(hours: 1))

    static let matchesProposed = MatchesProposedV1(
        referralID: Fixture.referralID, referralVersion: 2,
        matches: [
            ProposedMatch(
                resourceID: Fixture.resourceID, rank: 1, score: 0.87, resourceKind: CommunityResource.Kind.healthChampionGroup.rawValue,
                categories: ["social-isolation"], reasons: ["serves social isolation", "in French", "2.1 km away"]),
            ProposedMatch(
                resourceID: Fixture.otherResourceID, rank: 2, score: 0.64, resourceKind: CommunityResource.Kind.externalPartner.rawValue,
                categories: ["food-security"], reasons: ["serves food security"]),
        ],
        proposedAt: Fixture.after(hours: 1))

    static let needUnmet = NeedUnmetV1(
        referralID: Fixture.referralID, referralVersion: 2, site: Fixture.site, categories: ["transportation"],
        reason: "no active resource serves transportation within 25 km", area: "K1Y", recordedAt: Fixture.after(hours: 1))

    static let connectionProposed = ConnectionProposedV1(
        connectionID: Fixture.connectionID, referralID: Fixture.referralID, referralVersion: 3, resourceID: Fixture.resourceID,
        resourceKind: CommunityResource.Kind.internalProgram.rawValue, categories: ["social-isolation", "mental-wellbeing"],
        proposedAt: Fixture.after(hours: 24))

    static let connectionChanged = ConnectionChangedV1(
        connectionID: Fixture.connectionID, referralID: Fixture.referralID, referralVersion: 4, resourceID: Fixture.resourceID,
        from: ConnectionStatus.accepted.rawValue, to: ConnectionStatus.enrolled.rawValue, reason: "joined the Tuesday group",
        resourceName: "Tuesday walking group", resourceKind: CommunityResource.Kind.healthChampionGroup.rawValue, categories: ["social-isolation"],
        changedAt: Fixture.after(hours: 72))

    static let notificationSent = NotificationSentV1(
        notificationID: Fixture.notificationID, referralID: Fixture.referralID, sourceEventID: Fixture.sourceEventID, recipientKind: "client",
        channel: ContactChannel.sms.rawValue, template: "referral-accepted", language: "fr", attempts: 1, sentAt: Fixture.after(hours: 1))

    static let notificationFailed = NotificationFailedV1(
        notificationID: Fixture.notificationID, referralID: Fixture.referralID, sourceEventID: Fixture.sourceEventID,
        recipientKind: "link-worker", channel: ContactChannel.email.rawValue, template: "referral-assigned", attempts: 5,
        error: "550 mailbox unavailable", permanent: true, failedAt: Fixture.after(hours: 24))

    static let pathwayUpdated = PathwayUpdatedV1(
        pathway: Fixture.pathway, client: Fixture.pseudonymousClient, pathwayVersion: 5, site: Fixture.site,
        referrerRole: ReferrerRole.physician.rawValue, needs: ["social-isolation", "food-security"], supportLevel: SupportLevel.light.rawValue,
        priority: ReferralPriority.routine.rawValue, status: ReferralStatus.completed.rawValue, ageBand: AgeBand.from75.rawValue, area: "K1Y",
        language: "fr", receivedAt: Fixture.time, acceptedAt: Fixture.after(hours: 1), firstContactAt: Fixture.after(hours: 24),
        connectedAt: Fixture.after(hours: 72), closedAt: Fixture.after(hours: 720), connectionCount: 2, closureOutcome: "connected",
        updatedAt: Fixture.after(hours: 720))

    static let pathwayUpdatedMinimal = PathwayUpdatedV1(
        pathway: Fixture.pathway, client: Fixture.pseudonymousClient, pathwayVersion: 1, site: Fixture.site,
        referrerRole: ReferrerRole.socialWorker.rawValue, needs: ["housing"], supportLevel: SupportLevel.holistic.rawValue,
        priority: ReferralPriority.urgent.rawValue, status: ReferralStatus.received.rawValue, ageBand: nil, area: nil, language: nil,
        receivedAt: Fixture.time, acceptedAt: nil, firstContactAt: nil, connectedAt: nil, closedAt: nil, connectionCount: 0,
        closureOutcome: nil, updatedAt: Fixture.time)

    static let swemwbsRecorded = OutcomeRecordedV1(
        pathway: Fixture.pathway, client: Fixture.pseudonymousClient, site: Fixture.site, instrument: OutcomeInstrument.swemwbs.code,
        timepoint: "baseline", scores: ["raw": 21, "metric": 19.25], recordedAt: Fixture.after(hours: 24))

    static let ons4Recorded = OutcomeRecordedV1(
        pathway: Fixture.pathway, client: Fixture.pseudonymousClient, site: Fixture.site, instrument: OutcomeInstrument.ons4.code,
        timepoint: "follow-up", scores: ["life-satisfaction": 7, "worthwhile": 8, "happiness": 6, "anxiety": 3],
        recordedAt: Fixture.after(hours: 720))

    static let contactLogged = ContactLoggedV1(
        referralID: Fixture.referralID, referralVersion: 3, site: Fixture.site, contactID: Fixture.connectionID, mode: .inPerson, party: .client,
        reached: true, minutes: 45, occurredAt: Fixture.after(hours: 26))

    static let goalSet = GoalSetV1(
        referralID: Fixture.referralID, referralVersion: 4, site: Fixture.site, goalID: Fixture.resourceID,
        lifeDomain: try! LifeDomain(code: "social-connection"), progress: .notStarted, setAt: Fixture.after(hours: 27))

    static let supportLevelChanged = SupportLevelChangedV1(
        referralID: Fixture.referralID, referralVersion: 6, site: Fixture.site, from: .light, to: .holistic, changedAt: Fixture.after(hours: 30))

    static let goalReviewed = GoalReviewedV1(
        referralID: Fixture.referralID, referralVersion: 5, site: Fixture.site, goalID: Fixture.resourceID,
        lifeDomain: try! LifeDomain(code: "social-connection"), previousProgress: .notStarted, progress: .partlyAchieved,
        reviewedAt: Fixture.after(hours: 1008))

    static let referralOverdue = ReferralOverdueV1(
        referralID: Fixture.referralID, referralVersion: 6, site: Fixture.site, ownerID: "lw-amina", step: "follow-up-6w", level: .escalated,
        dueAt: Fixture.after(hours: 1008), raisedAt: Fixture.after(hours: 1080))

    static let pathwayRetracted = PathwayRetractedV1(pathway: Fixture.pathway)

    static let all: [Sample] = [
        Sample(name: "referral received, every optional set", payload: referralReceived),
        Sample(name: "referral received, no optionals", payload: referralReceivedMinimal),
        Sample(name: "referral status changed", payload: statusChanged),
        Sample(name: "client consent changed", payload: consentChanged),
        Sample(name: "client erased", payload: clientErased),
        Sample(name: "client profile", payload: clientProfile),
        Sample(name: "support level changed", payload: supportLevelChanged),
        Sample(name: "referral assigned", payload: referralAssigned),
        Sample(name: "matches proposed", payload: matchesProposed),
        Sample(name: "need unmet", payload: needUnmet),
        Sample(name: "connection proposed", payload: connectionProposed),
        Sample(name: "connection changed", payload: connectionChanged),
        Sample(name: "notification sent", payload: notificationSent),
        Sample(name: "notification failed", payload: notificationFailed),
        Sample(name: "pathway updated, every optional set", payload: pathwayUpdated),
        Sample(name: "pathway updated, no optionals", payload: pathwayUpdatedMinimal),
        Sample(name: "SWEMWBS outcome recorded", payload: swemwbsRecorded),
        Sample(name: "ONS4 outcome recorded", payload: ons4Recorded),
        Sample(name: "contact logged", payload: contactLogged),
        Sample(name: "goal set", payload: goalSet),
        Sample(name: "goal reviewed", payload: goalReviewed),
        Sample(name: "referral overdue", payload: referralOverdue),

        Sample(name: "pathway retracted", payload: pathwayRetracted),
    ]
}

func envelope<Payload: EventPayload>(_ payload: Payload) throws -> CloudEvent {
    try CloudEvent(payload, source: Fixture.source, id: Fixture.eventID, time: Fixture.time)
}

func headerDictionary(_ event: CloudEvent) -> [String: String] {
    Dictionary(uniqueKeysWithValues: event.headers.map { ($0.key, $0.value) })
}

struct RepositoryNotFound: Error, CustomStringConvertible {
    let start: String
    var description: String { "no directory above \(start) contains Package.swift" }
}

enum Repository {
    /// The package root: the nearest directory above this file that holds `Package.swift`.
    static func root() throws -> URL {
        let start = #filePath
        var components = URL(fileURLWithPath: start).standardizedFileURL.pathComponents
        components.removeLast()
        while components.count > 1 {
            let path = "/" + components.dropFirst().joined(separator: "/")
            if FileManager.default.fileExists(atPath: path + "/Package.swift") {
                return URL(fileURLWithPath: path, isDirectory: true)
            }
            components.removeLast()
        }
        throw RepositoryNotFound(start: start)
    }
}

// MARK: - Envelope

@Suite("CloudEvents envelope of every event type")
struct EnvelopeRoundTripTests {
    @Test("an event carries its type and subject, writes every binary-mode header and reads back equal", arguments: Samples.all)
    func roundTrip(sample: Sample) throws {
        try Self.check(sample.payload)
    }

    static func check<Payload: EventPayload>(_ payload: Payload) throws {
        let event = try envelope(payload)
        #expect(event.type == Payload.eventType)
        #expect(event.subject == payload.subject)
        #expect(event.subject == event.subject.lowercased())

        let headers = headerDictionary(event)
        #expect(headers.count == 7)
        #expect(headers["ce_specversion"] == "1.0")
        #expect(headers["ce_id"] == Fixture.eventID.uuidString.lowercased())
        #expect(headers["ce_source"] == Fixture.source)
        #expect(headers["ce_type"] == Payload.eventType)
        #expect(headers["ce_subject"] == payload.subject)
        #expect(headers["ce_time"] == Fixture.timeText)
        #expect(headers["content-type"] == "application/json")

        let read = try CloudEvent(headers: headers, data: event.data)
        #expect(read == event)
        #expect(try read.decode(Payload.self) == payload)
    }

    @Test("event bodies are the bytes JSONEncoder writes with the same rules", arguments: Samples.all)
    func bodiesMatchFoundation(sample: Sample) throws {
        func both<Payload: EventPayload>(_ payload: Payload) throws -> (String, String) {
            (
                String(decoding: try EventCoding.encode(payload), as: UTF8.self),
                String(decoding: try EventCoding.encoder.foundationEncoder.encode(payload), as: UTF8.self)
            )
        }
        let (ours, foundation) = try both(sample.payload)
        #expect(ours == foundation)
    }

    @Test("the samples cover every event type of the catalogue")
    func samplesCoverCatalogue() {
        let catalogue = EventCatalogue.payloadTypes.map { $0.eventType }
        #expect(Set(catalogue).count == catalogue.count)
        #expect(Set(Samples.all.map(\.eventType)) == Set(catalogue))
    }

    @Test("event types are versioned passerelle names, and evaluation events go only to the evaluation topic")
    func eventTypeNames() {
        for payloadType in EventCatalogue.payloadTypes {
            #expect(payloadType.eventType.hasPrefix("passerelle."), "\(payloadType.eventType)")
            #expect(payloadType.eventType.hasSuffix(".v1"), "\(payloadType.eventType)")
        }
        #expect(PathwayUpdatedV1.topic == .evaluation)
        #expect(OutcomeRecordedV1.topic == .evaluation)
        #expect(PathwayRetractedV1.topic == .evaluation)
        #expect(ClientProfileV1.topic == .clients)
        #expect(ReferralReceivedV1.topic == .referrals)
    }

    @Test("nil optionals are left out of the body; keys are sorted and times are UTC with milliseconds")
    func bodyShape() throws {
        let data = try #require(try envelope(Samples.referralReceivedMinimal).data)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
        #expect(!object.keys.contains("postalArea"))
        #expect(!object.keys.contains("coordinates"))
        #expect(object["receivedAt"] as? String == Fixture.timeText)
        #expect(object["referralID"] as? String == Fixture.referralID.uuidString)

        let text = String(decoding: data, as: UTF8.self)
        let accessibility = try #require(text.range(of: "\"accessibilityNeeds\""))
        let age = try #require(text.range(of: "\"ageBand\""))
        let received = try #require(text.range(of: "\"receivedAt\""))
        #expect(accessibility.lowerBound < age.lowerBound)
        #expect(age.lowerBound < received.lowerBound)
    }

    @Test("encoding the same payload twice gives the same bytes")
    func stableBytes() throws {
        let first = try envelope(Samples.matchesProposed).data
        let second = try envelope(Samples.matchesProposed).data
        #expect(first == second)
    }
}

@Suite("CloudEvents attributes that are missing or wrong")
struct EnvelopeHeaderTests {
    static func valid() throws -> (headers: [String: String], data: [UInt8]?) {
        let event = try envelope(Samples.statusChanged)
        return (headerDictionary(event), event.data)
    }

    static func headers(changing key: String, to value: String?) throws -> [String: String] {
        var headers = try valid().headers
        headers[key] = value
        return headers
    }

    @Test("a missing ce_type is reported by name")
    func missingType() throws {
        let headers = try Self.headers(changing: "ce_type", to: nil)
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.missingAttribute("ce_type")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("an empty attribute counts as missing")
    func emptySource() throws {
        let headers = try Self.headers(changing: "ce_source", to: "")
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.missingAttribute("ce_source")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("a spec version other than 1.0 is refused")
    func oldSpecVersion() throws {
        let headers = try Self.headers(changing: "ce_specversion", to: "0.3")
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.unsupportedSpecVersion("0.3")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("an id that is not a UUID is invalid")
    func badID() throws {
        let headers = try Self.headers(changing: "ce_id", to: "referral-42")
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.invalidAttribute("ce_id", "referral-42")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("a time that is not ISO-8601 is invalid")
    func badTime() throws {
        let headers = try Self.headers(changing: "ce_time", to: "yesterday")
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.invalidAttribute("ce_time", "yesterday")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("a time without fractional seconds is accepted")
    func wholeSecondTime() throws {
        let headers = try Self.headers(changing: "ce_time", to: "2026-11-18T11:06:40Z")
        let event = try CloudEvent(headers: headers, data: try Self.valid().data)
        #expect(event.time == Date(timeIntervalSince1970: 1_795_000_000))
    }

    @Test("a body that is not JSON is refused")
    func notJSON() throws {
        let headers = try Self.headers(changing: "content-type", to: "text/plain")
        let data = try Self.valid().data
        #expect(throws: EnvelopeError.invalidAttribute("content-type", "text/plain")) {
            try CloudEvent(headers: headers, data: data)
        }
    }

    @Test("a tombstone needs no content type and has no payload to decode")
    func tombstone() throws {
        let headers = try Self.headers(changing: "content-type", to: nil)
        let event = try CloudEvent(headers: headers, data: nil)
        #expect(event.data == nil)
        #expect(throws: EnvelopeError.missingData(ReferralStatusChangedV1.eventType)) {
            try event.decode(ReferralStatusChangedV1.self)
        }
    }

    @Test("decoding as another event type is refused")
    func wrongType() throws {
        let event = try envelope(Samples.statusChanged)
        #expect(throws: EnvelopeError.unexpectedType(ReferralStatusChangedV1.eventType, expected: ReferralReceivedV1.eventType)) {
            try event.decode(ReferralReceivedV1.self)
        }
    }
}

@Suite("Compatibility of event bodies")
struct CompatibilityTests {
    @Test("fields a consumer does not know are ignored")
    func unknownFieldsIgnored() throws {
        let json = """
            {"action":"accept","actorRole":"link-worker","changedAt":"\(Fixture.timeText)","from":"received",\
            "futureField":{"nested":[1,2,3]},"referralID":"\(Fixture.referralID.uuidString.lowercased())","referralVersion":2,\
            "site":"ottawa-west-chc","to":"accepted","triageScore":0.4}
            """
        let event = CloudEvent(
            id: Fixture.eventID, source: Fixture.source, type: ReferralStatusChangedV1.eventType,
            subject: Fixture.referralID.uuidString.lowercased(), time: Fixture.time, data: Array(json.utf8))
        let decoded = try event.decode(ReferralStatusChangedV1.self)
        let expected = ReferralStatusChangedV1(
            referralID: Fixture.referralID, referralVersion: 2, site: "ottawa-west-chc", from: "received", to: "accepted",
            action: "accept", actorRole: "link-worker", actorID: nil, reason: nil, outcome: nil, changedAt: Fixture.time)
        #expect(decoded == expected)
    }

    @Test("a missing required field is an error, not a default")
    func missingRequiredField() throws {
        let json = #"{"referralID":"6F1C2A5E-3B7D-4C8A-9E21-0D4B5F6A7C81","clientID":"A2B3C4D5-E6F7-4819-8A2B-3C4D5E6F7081"}"#
        let event = CloudEvent(
            source: Fixture.source, type: ClientErasedV1.eventType, subject: Fixture.referralID.uuidString.lowercased(),
            time: Fixture.time, data: Array(json.utf8))
        #expect(throws: DecodingError.self) {
            try event.decode(ClientErasedV1.self)
        }
    }
}

// MARK: - JSON Schemas

@Suite("JSON Schemas of the event bodies")
struct SchemaTests {
    static let schemaSuffix = ".schema.json"

    @Test("there is exactly one schema file per event type of the catalogue")
    func schemaFilesMatchCatalogue() throws {
        let directory = try Repository.root().appendingPathComponent("Shared/Contracts/Schemas")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }
        #expect(files.allSatisfy { $0.hasSuffix(Self.schemaSuffix) }, "\(files)")
        let schemaTypes = Set(files.filter { $0.hasSuffix(Self.schemaSuffix) }.map { String($0.dropLast(Self.schemaSuffix.count)) })
        #expect(schemaTypes == Set(EventCatalogue.payloadTypes.map { $0.eventType }))
    }

    @Test("every sample body validates against the schema of its event type")
    func samplesValidate() async throws {
        let root = try Repository.root()
        let samples = FileManager.default.temporaryDirectory
            .appendingPathComponent("passerelle-event-samples-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: samples) }

        for (index, sample) in Samples.all.enumerated() {
            let data = try Self.body(of: sample.payload)
            try Data(data).write(to: samples.appendingPathComponent("\(sample.eventType).\(index).json"))
        }

        let (status, output) = try await ChildProcess.run([
            "python3",
            root.appendingPathComponent("Tests/ContractsTests/validate_schemas.py").path,
            root.appendingPathComponent("Shared/Contracts/Schemas").path,
            samples.path,
        ])
        #expect(status == 0, "\(output)")
    }

    static func body<Payload: EventPayload>(of payload: Payload) throws -> [UInt8] {
        try #require(try envelope(payload).data)
    }
}

// MARK: - Topics

@Suite("Kafka topic provisioning")
struct TopicFileTests {
    struct TopicLine: Hashable, CustomStringConvertible {
        var name: String
        var partitions: Int
        var configs: [String: String]

        var description: String { "\(name) \(partitions) \(configs)" }
    }

    @Test("deploy/kafka/topics.txt lists exactly the names, partitions and configs the code provisions")
    func topicsFileMatchesCode() throws {
        let file = try Repository.root().appendingPathComponent("deploy/kafka/topics.txt")
        let text = try String(contentsOf: file, encoding: .utf8)

        var listed: [TopicLine] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: \.isWhitespace).map { String($0) }
            try #require(fields.count == 3, "expected `name partitions configs`: \(line)")
            let partitions = try #require(Int(fields[1]), "partitions is not a number: \(line)")
            var configs: [String: String] = [:]
            if fields[2] != "-" {
                for pair in fields[2].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map { String($0) }
                    try #require(parts.count == 2, "config is not key=value: \(line)")
                    configs[parts[0]] = parts[1]
                }
            }
            listed.append(TopicLine(name: fields[0], partitions: partitions, configs: configs))
        }

        let expected = TopicNames().provisioning.map { TopicLine(name: $0.name, partitions: $0.partitions, configs: $0.configs) }
        #expect(Set(listed.map(\.name)).count == listed.count, "a topic is listed twice")
        #expect(listed.count == expected.count)
        #expect(Set(listed) == Set(expected))
    }

    @Test("deployed names carry the prefix and dead-letter topics hang off them")
    func prefixedNames() {
        let names = TopicNames(prefix: "staging.")
        #expect(names.name(.referrals) == "staging.passerelle.referrals.v1")
        #expect(names.deadLetter(.matching) == "staging.passerelle.matching.v1.dlq")
        #expect(names.topic(named: "staging.passerelle.clients.v1") == .clients)
        #expect(names.topic(named: "passerelle.clients.v1") == nil)
        #expect(names.provisioning.allSatisfy { $0.name.hasPrefix("staging.") })
    }

    @Test("a deployment's partition count applies to the event topics; dead-letter topics keep one")
    func partitionCount() {
        let provisioned = Dictionary(uniqueKeysWithValues: TopicNames(partitions: 4).provisioning.map { ($0.name, $0.partitions) })
        for topic in TopicName.allCases { #expect(provisioned[TopicNames().name(topic)] == 4) }
        #expect(provisioned[TopicNames().deadLetter(.referrals)] == 1)
        #expect(TopicNames().provisioning.first { $0.name == TopicNames().name(.matching) }?.partitions == TopicName.defaultPartitions)
    }
}
