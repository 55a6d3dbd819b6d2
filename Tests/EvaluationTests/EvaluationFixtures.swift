import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport

@testable import EvaluationService

/// Scripted events and a host for the evaluation tests.
enum Fixture {
    static let site = "ottawa-west-chc"
    static let pseudonymKey = "evaluation-tests-pseudonym-key-0123456789-abcdef"

    static func host() async throws -> ServiceTestHost {
        try await ServiceTestHost.make(EvaluationService.self, environment: ["PASSERELLE_EVALUATION_PSEUDONYM_KEY": pseudonymKey])
    }

    static func received(
        _ referral: UUID, client: UUID = UUID(), site: String = site, needs: [String] = ["loneliness"], supportLevel: String = "light",
        ageBand: String = "75+", language: String = "fr", area: String? = "K1Y", evaluationUse: Bool = true,
        sociodemographics: Sociodemographics? = nil, at time: Date = Date()
    ) -> ReferralReceivedV1 {
        ReferralReceivedV1(
            referralID: referral, referralVersion: 1, clientID: client, site: site, referrerID: "dr-\(site)", referrerRole: "physician",
            needs: needs, interests: ["walking"], supportLevel: supportLevel, priority: "routine", preferredLanguage: language, postalArea: area,
            coordinates: nil, ageBand: ageBand, accessibilityNeeds: [], preferredChannel: "sms",
            consent: Consent(contact: true, shareWithPartners: false, evaluationUse: evaluationUse), sociodemographics: sociodemographics,
            receivedAt: time)
    }

    static func status(_ referral: UUID, _ version: Int, _ from: String, _ to: String, at time: Date, reason: String? = nil, outcome: String? = nil)
        -> ReferralStatusChangedV1
    {
        ReferralStatusChangedV1(
            referralID: referral, referralVersion: version, site: site, from: from, to: to, action: to, actorRole: "link-worker", actorID: "lw",
            reason: reason, outcome: outcome, changedAt: time)
    }

    /// Feeds events to the projection's handlers in one transaction each, as the consumer would.
    static func deliver(_ payloads: [any EventPayload], to host: ServiceTestHost) async throws {
        let handler = PathwayProjection.handlers(stream: try AnalystStream.configured(host.host.components)).handler
        for (offset, payload) in payloads.enumerated() {
            let event = try CloudEvent(payload, source: "/test", time: Date())
            let consumed = ConsumedEvent(event: event, topic: "t", partition: 0, offset: Int64(offset), key: event.subject)
            try await host.pool.transaction { connection in try await handler(consumed, connection) }
        }
    }
}
