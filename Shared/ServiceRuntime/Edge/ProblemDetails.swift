import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresClient

/// RFC 9457 `application/problem+json`. Validation failures list every failing field with its
/// JSON pointer, so a client can fix them all in one go.
public struct ProblemDetails: Error, HTTPResponseError, Sendable, Equatable {
    public struct FieldError: Codable, Sendable, Equatable {
        /// JSON pointer into the request body, e.g. `/client/birthDate`.
        public var pointer: String
        public var detail: String

        public init(pointer: String, detail: String) {
            self.pointer = pointer
            self.detail = detail
        }
    }

    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String?
    public var type: String
    public var errors: [FieldError]
    /// Extra members, e.g. `allowedActions` on a 409.
    public var extensions: [String: [String]]
    /// Seconds, for 503s.
    public var retryAfter: Int?
    /// The methods a path does answer, for 405s.
    public var allow: [HTTPRequest.Method]

    public init(
        status: HTTPResponse.Status, title: String, detail: String? = nil, type: String? = nil, errors: [FieldError] = [], extensions: [String: [String]] = [:],
        retryAfter: Int? = nil,
        allow: [HTTPRequest.Method] = []
    ) {
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type ?? "about:blank"
        self.errors = errors
        self.extensions = extensions
        self.retryAfter = retryAfter
        self.allow = allow
    }

    public static func validation(_ errors: [FieldError]) -> ProblemDetails {
        ProblemDetails(
            status: .unprocessableContent, title: "Invalid request",
            detail: "\(errors.count) field\(errors.count == 1 ? "" : "s") failed validation",
            type: "https://passerelle.example/problems/validation", errors: errors)
    }

    /// A path the service has, asked with a method it does not answer there.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allow: [HTTPRequest.Method]) -> ProblemDetails {
        ProblemDetails(
            status: .methodNotAllowed, title: "Method not allowed",
            detail: "\(method.rawValue) is not an operation of this path; it answers \(allow.map(\.rawValue).joined(separator: ", "))", allow: allow)
    }

    /// The one answer for an id that does not exist and one the caller may not see: the two look alike.
    public static let noSuchResource = ProblemDetails(status: .notFound, title: "Not found", detail: "nothing with that id, or nothing the caller may see")

    public static func unavailable(_ what: String) -> ProblemDetails {
        ProblemDetails(status: .serviceUnavailable, title: "Temporarily unavailable", detail: "\(what) is unavailable; retry shortly", retryAfter: 5)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: Any] = ["type": type, "title": title, "status": Int(status.code), "instance": request.uri.path]
        if let detail { object["detail"] = detail }
        if !errors.isEmpty { object["errors"] = errors.map { ["pointer": $0.pointer, "detail": $0.detail] } }
        for (key, values) in extensions { object[key] = values }
        let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error into problem+json: ours as they are, dependency outages into 503 with
/// `Retry-After`, body decoding errors into 400, and anything unexpected into a 500 that
/// names no internals (the details go to the log with the request id).
public struct ProblemMiddleware<Context: PasserelleContext>: RouterMiddleware {
    let dialects: [ProblemDialect]

    public init(dialects: [ProblemDialect] = []) {
        self.dialects = dialects
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as ProblemDetails {
            if let dialect = dialects.first(where: { request.uri.path.hasPrefix($0.pathPrefix) }) {
                return try dialect.render(problem, request)
            }
            return try problem.response(from: request, context: context)
        } catch let error as PostgresError where error.kind == .connectionUnavailable {
            context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
            return try ProblemDetails.unavailable("the database").response(from: request, context: context)
        } catch let error as HTTPError {
            return try ProblemDetails(status: error.status, title: error.status.reasonPhrase, detail: error.body).response(from: request, context: context)
        } catch let error as DecodingError {
            return try ProblemDetails(
                status: .badRequest, title: "Malformed JSON", detail: DecodingErrorDescription(error).text,
                errors: DecodingErrorDescription(error).pointer.map { [.init(pointer: $0, detail: DecodingErrorDescription(error).text)] } ?? []
            )
            .response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            return try ProblemDetails(status: .contentTooLarge, title: "Body too large", detail: "the request body exceeds \(context.maxUploadSize) bytes")
                .response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return try ProblemDetails(status: .internalServerError, title: "Internal error", detail: "see the service log for request \(context.requestID)")
                .response(from: request, context: context)
        }
    }
}

/// How a family of routes writes a problem when its clients expect another error format (FHIR's
/// `OperationOutcome` under `/fhir/`): the edge's own refusals (401, 403, 405) reach them so.
public struct ProblemDialect: Sendable {
    public var pathPrefix: String
    public var render: @Sendable (ProblemDetails, Request) throws -> Response

    public init(pathPrefix: String, render: @escaping @Sendable (ProblemDetails, Request) throws -> Response) {
        self.pathPrefix = pathPrefix
        self.render = render
    }
}

/// A person-readable account of a JSON decoding failure, with the JSON pointer it happened at.
struct DecodingErrorDescription {
    let text: String
    let pointer: String?

    init(_ error: DecodingError) {
        func pointer(_ path: [any CodingKey]) -> String {
            "/" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
        }
        switch error {
        case .keyNotFound(let key, let context):
            text = "\(key.stringValue) is required"
            self.pointer = pointer(context.codingPath + [key])
        case .typeMismatch(let type, let context):
            text = "expected \(type)"
            self.pointer = pointer(context.codingPath)
        case .valueNotFound(let type, let context):
            text = "expected \(type), found null"
            self.pointer = pointer(context.codingPath)
        case .dataCorrupted(let context):
            text = context.underlyingError.map { "not valid JSON: \($0.localizedDescription)" } ?? context.debugDescription
            self.pointer = context.codingPath.isEmpty ? nil : pointer(context.codingPath)
        @unknown default:
            text = "the body could not be decoded"
            self.pointer = nil
        }
    }
}
