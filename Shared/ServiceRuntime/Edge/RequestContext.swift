import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WireFormats

/// What every Passerelle request context offers route handlers.
public protocol PasserelleContext: RequestContext {
    var identity: Identity? { get set }
    var requestID: String { get set }
    /// The contract's operation the router matched (set by the edge before any handler runs).
    var operation: ServiceContract.Operation? { get set }
}

public struct PasserelleRequestContext: PasserelleContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    public var requestID: String = ""
    public var operation: ServiceContract.Operation?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// Bodies larger than this are refused with 413 before they are read.
    public var maxUploadSize: Int { 1 << 20 }
}

extension PasserelleContext {
    /// The authenticated caller, or 401.
    public func requireIdentity() throws(ProblemDetails) -> Identity {
        guard let identity else {
            throw ProblemDetails(status: .unauthorized, title: "Authentication required", detail: "send a bearer token in the Authorization header")
        }
        return identity
    }

    /// The caller of an operation whose roles the edge has already checked against the contract.
    public func caller() throws(ProblemDetails) -> Identity {
        try requireIdentity()
    }

    /// The UUID in the path parameter `name`; anything else names nothing, so 404.
    public func pathID(_ name: String = "id") throws(ProblemDetails) -> UUID {
        guard let id = parameters.get(name).flatMap(UUID.init(uuidString:)) else { throw ProblemDetails.noSuchResource }
        return id
    }
}

/// Takes `X-Request-Id` (or makes one), echoes it, and puts it in every log line of the request.
public struct RequestIDMiddleware<Context: PasserelleContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let supplied = request.headers[.requestID].flatMap { $0.count <= 128 && $0.allSatisfy { $0.isASCII && !$0.isWhitespace } ? $0 : nil }
        context.requestID = supplied ?? UUID.random().uuidString.lowercased()
        context.logger[metadataKey: "request_id"] = "\(context.requestID)"
        var response = try await next(request, context)
        response.headers[.requestID] = context.requestID
        return response
    }
}

/// Reads the bearer token, if any; routes decide whether they need one (`require`).
public struct AuthenticationMiddleware<Context: PasserelleContext>: RouterMiddleware {
    let verifier: TokenVerifier

    public init(verifier: TokenVerifier) {
        self.verifier = verifier
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        guard header.lowercased().hasPrefix("bearer ") else {
            throw ProblemDetails(status: .unauthorized, title: "Authentication required", detail: "the Authorization header must be a bearer token")
        }
        var context = context
        context.identity = try await verifier.identity(fromBearer: String(header.dropFirst(7)).trimmingWhitespace(.whitespaces))
        context.logger[metadataKey: "subject"] = "\(context.identity!.subject)"
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    public static let requestID = HTTPField.Name("X-Request-Id")!
    public static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}

/// The `Idempotency-Key` a caller sends so a retried request does its work once.
public enum IdempotencyKey {
    /// The key, if sent: 1 to 200 visible ASCII characters, or 422. Keys are remembered per
    /// caller, so one caller's key never finds another's request.
    public static func validated(_ key: String?) throws(ProblemDetails) -> String? {
        guard let key else { return nil }
        guard (1...200).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline && $0 != "\u{0}" }) else {
            throw ProblemDetails.validation([.init(pointer: "", detail: "the Idempotency-Key header must be 1 to 200 visible ASCII characters")])
        }
        return key
    }
}

extension Request {
    /// Decodes a JSON body, keeping `DecodingError`s intact so the problem response can point
    /// at the failing field. Text PostgreSQL cannot store, in a member the type reads, is a 422
    /// at its field; bodies over the context's upload limit are 413.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext) async throws -> T {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        return try StorableText.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

extension Response {
    /// The JSON every Passerelle API answers with (`JSONCoding.api`).
    public static func json(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], contentType: String = "application/json"
    ) throws -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONCoding.api.encode(value))))
    }
}
