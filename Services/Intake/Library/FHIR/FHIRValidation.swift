import Foundation

/// Checks incoming resources against the parts of the Gravity SDOH Clinical Care profiles (and
/// the FHIR R4 base they constrain) that Passerelle reads: required elements, cardinalities,
/// value-set bindings and code formats. Works on the raw JSON so that every problem is reported
/// at once, each with the FHIRPath expression of the element at fault.
struct FHIRValidator {
    private(set) var issues: [OperationOutcome.Issue] = []

    /// FHIR's own limit on a string (1 MB); the elements Passerelle keeps have tighter limits of
    /// their own (names, notes), checked when the referral is validated.
    static let maxStringLength = 1_048_576

    mutating func fail(_ expression: String, _ text: String, code: String = "invalid") {
        issues.append(.init(code: code, diagnostics: "\(expression): \(text)", expression: [expression]))
    }

    // MARK: value sets (FHIR R4 and the SDOHCC IG)

    static let sdohCategorySystem = FHIRReferralMapping.gravityCategorySystem
    /// SDOHCC ValueSet SDOH Category (required binding of `ServiceRequest.category[SDOHCC]`).
    static let sdohCategories: Set<String> = [
        "sdoh-category-unspecified", "food-insecurity", "housing-instability", "homelessness", "inadequate-housing",
        "transportation-insecurity", "financial-insecurity", "material-hardship", "educational-attainment", "employment-status",
        "veteran-status", "stress", "social-connection", "intimate-partner-violence", "elder-abuse", "personal-health-literacy",
        "health-insurance-coverage-status", "medical-cost-burden", "digital-literacy", "digital-access", "utility-insecurity",
        "incarceration-status", "language-access", "protective-factor",
    ]
    static let requestStatuses: Set<String> = ["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]
    static let requestIntents: Set<String> = [
        "proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option",
    ]
    /// The intents that make a ServiceRequest an order someone must fulfil (the IG's examples use
    /// `order` and `original-order`; its referral Task is always an order).
    static let orderIntents: Set<String> = ["order", "original-order", "reflex-order", "filler-order", "instance-order"]
    static let requestPriorities: Set<String> = ["routine", "urgent", "asap", "stat"]
    static let genders: Set<String> = ["male", "female", "other", "unknown"]
    static let contactSystems: Set<String> = ["phone", "fax", "email", "pager", "url", "sms", "other"]
    static let consentStatuses: Set<String> = ["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"]
    static let questionnaireResponseStatuses: Set<String> = ["in-progress", "completed", "amended", "entered-in-error", "stopped"]
    static let snomed = "http://snomed.info/sct"
    static let loinc = "http://loinc.org"
    /// Code systems of US Core Procedure Codes, the required binding of `ServiceRequest.code`.
    static let procedureCodeSystems: Set<String> = [
        snomed, loinc, "http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.285", "http://www.cms.gov/Medicare/Coding/ICD10",
        "http://www.ada.org/cdt", "http://ada.org/cdt",
    ]
    /// Types `ServiceRequest.requester` and `.performer` may reference in the SDOHCC profile.
    static let requesterTypes: Set<String> = ["RelatedPerson", "Device", "PractitionerRole", "Practitioner", "Patient", "Organization"]
    static let performerTypes: Set<String> = [
        "HealthcareService", "Device", "RelatedPerson", "Patient", "Practitioner", "PractitionerRole", "Organization", "CareTeam",
    ]

    // MARK: resources

    mutating func serviceRequest(_ resource: AnyJSON, at path: String) {
        guard let fields = object(resource, at: path) else { return }
        id(fields, at: path)
        if let status = code(fields, "status", at: path, required: true, in: Self.requestStatuses) {
            switch status {
            case "active": break
            case "completed": fail("\(path).status", "the request is completed: there is nothing left to refer", code: "business-rule")
            case "revoked": fail("\(path).status", "the request was revoked by its author: it cannot be referred", code: "business-rule")
            default: fail("\(path).status", "must be active to be referred, not \(status)", code: "business-rule")
            }
        }
        if let intent = code(fields, "intent", at: path, required: true, in: Self.requestIntents), !Self.orderIntents.contains(intent) {
            fail(
                "\(path).intent",
                "must be an order (order, original-order, reflex-order, filler-order or instance-order), not \(intent): Passerelle acts on orders only",
                code: "business-rule")
        }
        code(fields, "priority", at: path, required: false, in: Self.requestPriorities)
        let categories = array(fields, "category", at: path)
        for (index, category) in categories.enumerated() {
            codeableConcept(category, at: "\(path).category[\(index)]")
        }
        if let code = fields["code"] {
            let codePath = "\(path).code"
            codeableConcept(code, at: codePath)
            let codings = codings(of: code)
            if !codings.isEmpty, !codings.contains(where: { Self.procedureCodeSystems.contains($0.system ?? "") }) {
                fail(
                    "\(codePath).coding", "is bound (required) to US Core Procedure Codes: use a SNOMED CT, CPT, HCPCS, LOINC, ICD-10-PCS or CDT code",
                    code: "code-invalid")
            }
        }
        for (index, reason) in array(fields, "reasonCode", at: path).enumerated() { codeableConcept(reason, at: "\(path).reasonCode[\(index)]") }
        if fields["subject"] == nil {
            fail("\(path).subject", "is required (1..1): the Patient to refer", code: "required")
        } else if let reference = reference(fields["subject"], at: "\(path).subject"), !(reference.hasPrefix("Patient/") || reference.hasPrefix("urn:uuid:")) {
            fail(
                "\(path).subject",
                "must reference a Patient (Passerelle refers people, not \(reference.split(separator: "/").first.map(String.init) ?? reference))",
                code: "not-supported")
        }
        if let requester = fields["requester"] {
            referenceType(requester, at: "\(path).requester", allowed: Self.requesterTypes)
        }
        for (index, performer) in array(fields, "performer", at: path).enumerated() {
            referenceType(performer, at: "\(path).performer[\(index)]", allowed: Self.performerTypes)
        }
        for (index, note) in array(fields, "note", at: path).enumerated() {
            if let note = object(note, at: "\(path).note[\(index)]"), note["text"] == nil {
                fail("\(path).note[\(index)].text", "is required (1..1) in an Annotation", code: "required")
            }
        }
        for banned in ["specimen", "bodySite"] where fields[banned] != nil {
            fail("\(path).\(banned)", "is not allowed (0..0) in an SDOHCC ServiceRequest", code: "structure")
        }
        if let authored = fields["authoredOn"], case .string(let text) = authored, !Self.isDateTime(text) {
            fail("\(path).authoredOn", "must be a FHIR dateTime (e.g. 2026-03-01T09:30:00Z)")
        }
    }

    mutating func patient(_ resource: AnyJSON, at path: String) {
        guard let fields = object(resource, at: path) else { return }
        id(fields, at: path)
        let names = array(fields, "name", at: path)
        if names.isEmpty { fail("\(path).name", "is required by Passerelle: a name to greet the person by", code: "required") }
        if let birth = fields["birthDate"] {
            if case .string(let text) = birth {
                if !Self.isFullDate(text) { fail("\(path).birthDate", "must be a full date (YYYY-MM-DD): Passerelle needs it to tell clients apart") }
            } else {
                fail("\(path).birthDate", "must be a string", code: "structure")
            }
        } else {
            fail("\(path).birthDate", "is required by Passerelle to tell clients apart", code: "required")
        }
        code(fields, "gender", at: path, required: false, in: Self.genders)
        for (index, telecom) in array(fields, "telecom", at: path).enumerated() {
            if let point = object(telecom, at: "\(path).telecom[\(index)]") {
                code(point, "system", at: "\(path).telecom[\(index)]", required: point["value"] != nil, in: Self.contactSystems)
                // A positiveInt; anything else would not even decode.
                if let rank = point["rank"], !Self.isPositiveInt(rank) {
                    fail("\(path).telecom[\(index)].rank", "must be a positiveInt (1 to 2147483647)")
                }
            }
        }
        for (index, communication) in array(fields, "communication", at: path).enumerated() {
            let languagePath = "\(path).communication[\(index)].language"
            guard let entry = object(communication, at: "\(path).communication[\(index)]") else { continue }
            guard let language = entry["language"] else {
                fail(languagePath, "is required (1..1)", code: "required")
                continue
            }
            codeableConcept(language, at: languagePath)
            for (position, coding) in codings(of: language).enumerated() {
                if let code = coding.code, !Self.isLanguageTag(code) {
                    fail("\(languagePath).coding[\(position)].code", "\"\(code)\" is not a BCP-47 language tag (e.g. fr-CA)", code: "code-invalid")
                }
            }
        }
    }

    mutating func consent(_ resource: AnyJSON, at path: String) {
        guard let fields = object(resource, at: path) else { return }
        code(fields, "status", at: path, required: true, in: Self.consentStatuses)
        if let provision = fields["provision"], let provisionFields = object(provision, at: "\(path).provision") {
            code(provisionFields, "type", at: "\(path).provision", required: false, in: ["deny", "permit"])
        }
    }

    mutating func questionnaireResponse(_ resource: AnyJSON, at path: String) {
        guard let fields = object(resource, at: path) else { return }
        code(fields, "status", at: path, required: true, in: Self.questionnaireResponseStatuses)
        items(array(fields, "item", at: path), at: "\(path).item")
    }

    private mutating func items(_ items: [AnyJSON], at path: String) {
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let fields = object(item, at: itemPath) else { continue }
            if fields["linkId"] == nil { fail("\(itemPath).linkId", "is required (1..1)", code: "required") }
            for (position, answer) in array(fields, "answer", at: itemPath).enumerated() {
                if let answerFields = object(answer, at: "\(itemPath).answer[\(position)]"), let coding = answerFields["valueCoding"] {
                    self.coding(coding, at: "\(itemPath).answer[\(position)].valueCoding")
                }
            }
            self.items(array(fields, "item", at: itemPath), at: "\(itemPath).item")
        }
    }

    /// NUL bytes (PostgreSQL cannot store them, and no FHIR string may hold one), nulls (FHIR JSON
    /// has none) and strings longer than anything Passerelle keeps, anywhere in the resource.
    mutating func scanStrings(_ json: AnyJSON, at path: String) {
        switch json {
        case .string(let text):
            if text.unicodeScalars.contains("\u{0}") { fail(path, "contains a NUL character, which FHIR strings may not hold", code: "invalid") }
            if text.utf8.count > Self.maxStringLength { fail(path, "is longer than \(Self.maxStringLength) bytes", code: "too-long") }
        case .array(let values):
            for (index, value) in values.enumerated() { scanStrings(value, at: "\(path)[\(index)]") }
        case .object(let fields):
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                if key.unicodeScalars.contains("\u{0}") {
                    fail(path, "has an element name with a NUL character", code: "structure")
                    continue
                }
                scanStrings(value, at: "\(path).\(key)")
            }
        case .null:
            // FHIR JSON never holds null: an element without a value is left out.
            fail(path, "is null: FHIR JSON leaves an element without a value out", code: "structure")
        default: break
        }
    }

    // MARK: data types

    private mutating func id(_ fields: [String: AnyJSON], at path: String) {
        guard let value = fields["id"] else { return }
        guard case .string(let id) = value, Self.isID(id) else {
            fail("\(path).id", "must be a FHIR id: 1 to 64 letters, digits, '-' or '.'", code: "invalid")
            return
        }
    }

    private mutating func object(_ json: AnyJSON, at path: String) -> [String: AnyJSON]? {
        guard case .object(let fields) = json else {
            fail(path, "must be a JSON object", code: "structure")
            return nil
        }
        return fields
    }

    /// An element of cardinality 0..*; a single value where an array belongs is a structure error.
    private mutating func array(_ fields: [String: AnyJSON], _ name: String, at path: String) -> [AnyJSON] {
        guard let value = fields[name] else { return [] }
        guard case .array(let values) = value else {
            fail("\(path).\(name)", "must be an array (0..*)", code: "structure")
            return []
        }
        return values
    }

    /// A `code` element bound (required) to `values`.
    @discardableResult
    private mutating func code(_ fields: [String: AnyJSON], _ name: String, at path: String, required: Bool, in values: Set<String>) -> String? {
        let elementPath = "\(path).\(name)"
        guard let value = fields[name] else {
            if required { fail(elementPath, "is required (1..1)", code: "required") }
            return nil
        }
        guard case .string(let code) = value else {
            fail(elementPath, "must be a code (a string)", code: "structure")
            return nil
        }
        guard values.contains(code) else {
            fail(elementPath, "\"\(code)\" is not one of \(values.sorted().joined(separator: ", "))", code: "code-invalid")
            return nil
        }
        return code
    }

    private mutating func codeableConcept(_ json: AnyJSON, at path: String) {
        guard let fields = object(json, at: path) else { return }
        for (index, coding) in array(fields, "coding", at: path).enumerated() {
            self.coding(coding, at: "\(path).coding[\(index)]")
        }
    }

    /// System and code of a Coding, checked against what the IG binds: SDOH categories by value
    /// set, SNOMED CT and LOINC codes by their check digits.
    private mutating func coding(_ json: AnyJSON, at path: String) {
        guard let fields = object(json, at: path) else { return }
        var strings: [String: String] = [:]
        for name in ["system", "code"] {
            guard let value = fields[name] else { continue }
            guard case .string(let text) = value else {
                fail("\(path).\(name)", "must be a string", code: "structure")
                continue
            }
            strings[name] = text
        }
        let system = strings["system"]
        let code = strings["code"]
        if let code, code.isEmpty || code.first!.isWhitespace || code.last!.isWhitespace {
            fail("\(path).code", "must not be empty or start or end with whitespace", code: "code-invalid")
            return
        }
        guard let system, let code else { return }
        switch system {
        case Self.sdohCategorySystem:
            // The temporary code system holds more than categories; only these are categories.
            if path.contains(".category["), !Self.sdohCategories.contains(code) {
                fail("\(path).code", "\"\(code)\" is not in the SDOHCC SDOH Category value set", code: "code-invalid")
            }
        case Self.snomed:
            if !Self.isSNOMEDIdentifier(code) {
                fail("\(path).code", "\"\(code)\" is not a SNOMED CT concept id (digits with a valid check digit)", code: "code-invalid")
            }
        case Self.loinc:
            if !Self.isLOINCCode(code) {
                fail("\(path).code", "\"\(code)\" is not a LOINC code (NNNNN-N with a valid check digit, or an LA/LP code)", code: "code-invalid")
            }
        default: break
        }
    }

    private struct Coding {
        var system: String?
        var code: String?
    }

    private func codings(of json: AnyJSON) -> [Coding] {
        guard case .object(let fields) = json, case .array(let codings)? = fields["coding"] else { return [] }
        return codings.compactMap { coding in
            guard case .object(let parts) = coding else { return nil }
            var result = Coding()
            if case .string(let system)? = parts["system"] { result.system = system }
            if case .string(let code)? = parts["code"] { result.code = code }
            return result
        }
    }

    /// The `reference` of a Reference, if it has one.
    private mutating func reference(_ json: AnyJSON?, at path: String) -> String? {
        guard let json, let fields = object(json, at: path) else { return nil }
        guard let value = fields["reference"] else { return nil }
        guard case .string(let reference) = value, !reference.isEmpty else {
            fail("\(path).reference", "must be a non-empty string", code: "structure")
            return nil
        }
        return reference
    }

    private mutating func referenceType(_ json: AnyJSON, at path: String, allowed: Set<String>) {
        guard let reference = reference(json, at: path), !reference.hasPrefix("urn:uuid:"), !reference.hasPrefix("#") else { return }
        let parts = reference.split(separator: "/").map(String.init)
        // Relative (Type/id) or absolute (…/Type/id[/_history/v]).
        let type = parts.count >= 4 && parts[parts.count - 2] == "_history" ? parts[parts.count - 4] : (parts.count >= 2 ? parts[parts.count - 2] : "")
        if !allowed.contains(type) {
            fail("\(path).reference", "may reference \(allowed.sorted().joined(separator: ", ")), not \(type.isEmpty ? reference : type)", code: "invalid")
        }
    }

    // MARK: formats

    static func isID(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            }
    }

    static func isPositiveInt(_ value: AnyJSON) -> Bool {
        guard case .number(let number) = value else { return false }
        return number == number.rounded() && (1...2_147_483_647).contains(number)
    }

    static func isFullDate(_ text: String) -> Bool {
        text.wholeMatch(of: /[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])/) != nil
    }

    static func isDateTime(_ text: String) -> Bool {
        text.wholeMatch(
            of:
                /[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?/
        ) != nil
    }

    static func isLanguageTag(_ text: String) -> Bool {
        text.wholeMatch(of: /[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*/) != nil
    }

    /// A SNOMED CT identifier: 6 to 18 digits, no leading zero, the last a Verhoeff check digit.
    static func isSNOMEDIdentifier(_ text: String) -> Bool {
        guard (6...18).contains(text.count), text.first != "0", text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        let multiplication: [[Int]] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
            [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
            [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
        ]
        let permutation: [[Int]] = [
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
            [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
        ]
        var check = 0
        for (position, digit) in text.reversed().enumerated() {
            check = multiplication[check][permutation[position % 8][digit.wholeNumberValue!]]
        }
        return check == 0
    }

    /// A LOINC code: up to 5 digits, a dash and the mod-10 check digit; LOINC answer (LA) and
    /// part (LP) codes have the same shape after their prefix.
    static func isLOINCCode(_ text: String) -> Bool {
        guard let match = text.wholeMatch(of: /(LA|LP)?([0-9]{1,8})-([0-9])/) else { return false }
        if match.output.1 != nil { return true }  // answer and part codes: shape only
        let digits = match.output.2.compactMap(\.wholeNumberValue)
        guard digits.count <= 5 else { return false }
        var sum = 0
        for (position, digit) in digits.reversed().enumerated() {
            if position % 2 == 0 {
                let doubled = digit * 2
                sum += doubled / 10 + doubled % 10
            } else {
                sum += digit
            }
        }
        return (10 - sum % 10) % 10 == Int(match.output.3)
    }
}
