import Foundation

/// `GET /fhir/r4/metadata`: what this FHIR endpoint does, for EHRs to discover (open, as FHIR
/// servers' metadata is).
enum CapabilityStatement {
    static func document(baseURL: String) -> AnyJSON {
        func interactions(_ codes: String...) -> AnyJSON { .array(codes.map { .object(["code": .string($0)]) }) }
        func parameters(_ list: [(String, String, String)]) -> AnyJSON {
            .array(list.map { .object(["name": .string($0.0), "type": .string($0.1), "documentation": .string($0.2)]) })
        }
        func resource(_ type: String, profile: String? = nil, _ codes: AnyJSON, search: AnyJSON? = nil, documentation: String, extra: [String: AnyJSON] = [:])
            -> AnyJSON
        {
            var fields: [String: AnyJSON] = ["type": .string(type), "interaction": codes, "documentation": .string(documentation)]
            if let profile { fields["supportedProfile"] = .array([.string(profile)]) }
            if let search { fields["searchParam"] = search }
            fields.merge(extra) { $1 }
            return .object(fields)
        }
        let sdoh = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
        return .object([
            "resourceType": .string("CapabilityStatement"),
            "status": .string("active"),
            "date": .string("2026-12-06"),
            "kind": .string("instance"),
            "fhirVersion": .string("4.0.1"),
            "format": .array([.string("application/fhir+json"), .string("json")]),
            "software": .object(["name": .string("Passerelle intake")]),
            "implementation": .object(["description": .string("Passerelle social prescribing: referrals in, the closed loop out"), "url": .string(baseURL)]),
            "instantiates": .array([.string("http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4")]),
            "implementationGuide": .array([
                .string("http://hl7.org/fhir/us/sdoh-clinicalcare/ImplementationGuide/hl7.fhir.us.sdoh-clinicalcare"),
                .string("http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/hl7.fhir.uv.subscriptions-backport"),
            ]),
            "rest": .array([
                .object([
                    "mode": .string("server"),
                    "documentation": .string(
                        "Bearer tokens (JWT) with Passerelle roles; reads are scoped to the caller's site or what it sent, and answer 404 otherwise."),
                    "security": .object([
                        "service": .array([
                            .object([
                                "coding": .array([
                                    .object([
                                        "system": .string("http://terminology.hl7.org/CodeSystem/restful-security-service"), "code": .string("OAuth"),
                                    ])
                                ])
                            ])
                        ])
                    ]),
                    "interaction": interactions("transaction"),
                    "resource": .array([
                        resource(
                            "ServiceRequest", profile: sdoh + "SDOHCC-ServiceRequest", interactions("create", "read"),
                            documentation:
                                "An active order (order, original-order, …) with at least one SDOH category becomes a referral. Without a performer it goes to the sender's site, else the configured default organization. Completed or revoked requests are refused."
                        ),
                        resource(
                            "Task", profile: sdoh + "SDOHCC-TaskForReferralManagement", interactions("read", "search-type"),
                            search: parameters([
                                ("_id", "token", "Task ids, comma-separated"),
                                ("focus", "reference", "ServiceRequest/{id}"),
                                ("based-on", "reference", "ServiceRequest/{id}"),
                            ]),
                            documentation:
                                "One Task per referral, owned by Passerelle: status and businessStatus follow the referral; output holds the outcome once completed."
                        ),
                        resource(
                            "Patient", interactions("create"), documentation: "Posted before a ServiceRequest that references it (or sent in the same Bundle)."),
                        resource(
                            "Subscription", profile: "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription",
                            interactions("create", "read", "delete"),
                            documentation:
                                "Topic-based (R4 backport), rest-hook, id-only or empty. Notifications are signed the Standard Webhooks way with the secret given in the https://passerelle.example/fhir/StructureDefinition/webhook-secret extension of Subscription.channel.",
                            extra: [
                                "operation": .array([
                                    .object([
                                        "name": .string("status"),
                                        "definition": .string("http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"),
                                    ])
                                ]),
                                "extension": .array([
                                    .object([
                                        "url": .string(
                                            "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical"),
                                        "valueCanonical": .string(FHIRSubscriptions.taskTopic),
                                    ])
                                ]),
                            ]),
                    ]),
                ])
            ]),
        ])
    }
}
