import Foundation
import HTTPTypes
import Hummingbird
import ServiceRuntime

/// FHIR clients expect errors as an `OperationOutcome`, not problem+json.
struct OperationOutcome: Error, HTTPResponseError, Sendable {
    struct Issue: Encodable, Sendable {
        var severity = "error"
        var code: String
        var diagnostics: String
        var expression: [String]?
    }

    var status: HTTPResponse.Status
    var issues: [Issue]
    /// Seconds, for 503s.
    var retryAfter: Int?
    /// The methods a path answers, for 405s.
    var allow: [HTTPRequest.Method] = []

    init(status: HTTPResponse.Status = .unprocessableContent, code: String = "invalid", _ diagnostics: String, expression: String? = nil) {
        self.status = status
        self.issues = [Issue(code: code, diagnostics: diagnostics, expression: expression.map { [$0] })]
    }

    init(status: HTTPResponse.Status, issues: [Issue]) {
        self.status = status
        self.issues = issues
    }

    /// The same failure, said the FHIR way (validation pointers become expressions).
    init(_ problem: ProblemDetails) {
        let code: String
        switch problem.status {
        case .unauthorized: code = "login"
        case .forbidden: code = "forbidden"
        case .notFound: code = "not-found"
        case .methodNotAllowed: code = "not-supported"
        case .conflict: code = "conflict"
        case .serviceUnavailable: code = "transient"
        default: code = "invalid"
        }
        let issues =
            problem.errors.isEmpty
            ? [Issue(code: code, diagnostics: problem.detail ?? problem.title)]
            : problem.errors.map { Issue(code: code, diagnostics: "\($0.pointer): \($0.detail)", expression: [$0.pointer]) }
        self.init(status: problem.status, issues: issues)
        retryAfter = problem.retryAfter
        allow = problem.allow
    }

    private struct Body: Encodable {
        var resourceType = "OperationOutcome"
        var issue: [Issue]
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try response()
    }

    func response() throws -> Response {
        let data = try JSONEncoder().encode(Body(issue: issues))
        var headers: HTTPFields = [.contentType: "application/fhir+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
