import Foundation

/// The slice of HL7 FHIR R4 that referrals arrive in (Gravity Project SDOH Clinical Care IG):
/// only the elements Passerelle reads. Unknown elements are ignored on decoding.
enum FHIR {
    struct Coding: Codable, Sendable, Equatable {
        var system: String?
        var code: String?
        var display: String?
    }

    struct CodeableConcept: Codable, Sendable, Equatable {
        var coding: [Coding]?
        var text: String?
    }

    struct Reference: Codable, Sendable, Equatable {
        var reference: String?
        var identifier: Identifier?
        var display: String?

        init(reference: String?, identifier: Identifier? = nil, display: String? = nil) {
            self.reference = reference
            self.identifier = identifier
            self.display = display
        }
    }

    struct Identifier: Codable, Sendable, Equatable {
        var system: String?
        var value: String?
    }

    struct Period: Codable, Sendable {
        var start: String?
        var end: String?
    }

    struct HumanName: Codable, Sendable {
        var use: String?
        var family: String?
        var given: [String]?
        var period: Period?
    }

    struct ContactPoint: Codable, Sendable {
        var system: String?
        var value: String?
        var rank: Int?
    }

    struct Address: Codable, Sendable {
        var postalCode: String?
        var period: Period?
    }

    struct Communication: Codable, Sendable {
        var language: CodeableConcept?
        var preferred: Bool?
    }

    struct Patient: Codable, Sendable {
        var resourceType: String
        var id: String?
        var name: [HumanName]?
        var birthDate: String?
        var telecom: [ContactPoint]?
        var address: [Address]?
        var communication: [Communication]?
    }

    struct ServiceRequest: Codable, Sendable {
        var resourceType: String
        var id: String?
        var identifier: [Identifier]?
        var status: String?
        var intent: String?
        var category: [CodeableConcept]?
        var code: CodeableConcept?
        var priority: String?
        var subject: Reference?
        var requester: Reference?
        var performer: [Reference]?
        var orderDetail: [CodeableConcept]?
        var reasonReference: [Reference]?
        var supportingInfo: [Reference]?
        var note: [Annotation]?
    }

    struct Annotation: Codable, Sendable {
        var text: String?
    }

    struct Consent: Codable, Sendable {
        struct Provision: Codable, Sendable {
            var type: String?
            var action: [CodeableConcept]?
            var purpose: [Coding]?
        }
        var resourceType: String
        var status: String?
        var provision: Provision?
    }

    struct QuestionnaireResponse: Codable, Sendable {
        struct Item: Codable, Sendable {
            var linkId: String?
            var answer: [Answer]?
            var item: [Item]?
        }
        struct Answer: Codable, Sendable {
            var valueCoding: Coding?
            var valueString: String?
            var valueBoolean: Bool?
            var valueInteger: Int?
        }
        var resourceType: String
        var item: [Item]?
    }

    /// A Bundle entry's resource, kept as raw JSON until its type is known.
    struct Bundle: Decodable, Sendable {
        struct Entry: Decodable, Sendable {
            var fullUrl: String?
            var resource: RawResource?
        }
        var resourceType: String
        var type: String?
        var entry: [Entry]?
    }

    struct RawResource: Decodable, Sendable {
        let resourceType: String
        let id: String?
        let json: Data

        init(from decoder: any Decoder) throws {
            struct Header: Decodable {
                var resourceType: String
                var id: String?
            }
            let header = try Header(from: decoder)
            resourceType = header.resourceType
            id = header.id
            json = try JSONEncoder().encode(try AnyJSON(from: decoder))
        }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONDecoder().decode(T.self, from: json)
        }
    }

    struct Meta: Codable, Sendable {
        var versionId: String?
        var lastUpdated: String?
        var profile: [String]?
    }

    /// An SDOHCC Task For Referral Management.
    struct Task: Encodable, Sendable {
        struct Output: Codable, Sendable {
            var type: CodeableConcept
            var valueString: String?
            var valueCodeableConcept: CodeableConcept?
            var valueReference: Reference?

            init(type: CodeableConcept, valueString: String? = nil, valueCodeableConcept: CodeableConcept? = nil, valueReference: Reference? = nil) {
                self.type = type
                self.valueString = valueString
                self.valueCodeableConcept = valueCodeableConcept
                self.valueReference = valueReference
            }
        }
        var resourceType = "Task"
        var id: String
        var meta: Meta
        var basedOn: [Reference]
        var status: String
        var statusReason: CodeableConcept?
        var businessStatus: CodeableConcept
        var intent = "order"
        var priority: String
        var code: CodeableConcept
        var focus: Reference
        var `for`: Reference?
        var authoredOn: String
        var lastModified: String
        var requester: Reference?
        var owner: Reference?
        var output: [Output]?

        init(
            id: String, meta: Meta, basedOn: [Reference], status: String, statusReason: CodeableConcept?, businessStatus: CodeableConcept,
            priority: String, code: CodeableConcept, focus: Reference, for subject: Reference?, authoredOn: String, lastModified: String,
            requester: Reference?, owner: Reference?, output: [Output]?
        ) {
            self.id = id
            self.meta = meta
            self.basedOn = basedOn
            self.status = status
            self.statusReason = statusReason
            self.businessStatus = businessStatus
            self.priority = priority
            self.code = code
            self.focus = focus
            self.for = subject
            self.authoredOn = authoredOn
            self.lastModified = lastModified
            self.requester = requester
            self.owner = owner
            self.output = output
        }
    }

    struct SearchSet<Resource: Encodable & Sendable>: Encodable, Sendable {
        struct Entry: Encodable, Sendable {
            var fullUrl: String?
            var resource: Resource
        }
        var resourceType = "Bundle"
        var type = "searchset"
        var total: Int
        var entry: [Entry]
    }
}

/// Any JSON value, to carry a resource through unchanged.
enum AnyJSON: Codable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([AnyJSON])
    case object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([AnyJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
