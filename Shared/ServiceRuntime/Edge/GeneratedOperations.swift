import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import WireFormats

/// What a generated operation handler knows of its request besides its typed input: who called,
/// which operation of the contract it is, and the request's logger. The generated code hands a
/// handler only the operation's input, so the edge lends it the rest for the duration of the
/// call through a task-local.
public struct OperationRequest: Sendable {
    public var identity: Identity?
    public var operation: ServiceContract.Operation?
    public var logger: Logger
    public var requestID: String
    /// Whether the body holds an escape of text no column can store (NUL, an unpaired surrogate,
    /// marked as NUL): only then are the members a handler reads looked through (`storable`).
    public var bodyMayHoldUnstorableText = false
    /// The body as sent (unpaired surrogates marked), for a handler whose request type tells
    /// what the generated one cannot: an explicit `null` from a member left out.
    public var body: Data?

    @TaskLocal public static var current: OperationRequest?

    /// The caller of an operation whose roles the edge has already checked against the contract.
    public static func caller() throws(ProblemDetails) -> Identity {
        guard let identity = current?.identity else {
            throw ProblemDetails(status: .unauthorized, title: "Authentication required", detail: "send a bearer token in the Authorization header")
        }
        return identity
    }

    /// The body a handler reads, refused with 422 at each member holding text no column can
    /// store. Members the handler does not read are not its concern, whatever they hold.
    public static func storable<Body: Encodable>(_ body: Body) throws -> Body {
        guard current?.bodyMayHoldUnstorableText == true else { return body }
        try StorableText.require(encodable: body)
        return body
    }

    /// The request's id, for audit trails.
    public static var requestID: String { current?.requestID ?? "" }

    /// The body as the handler's own `Decodable` reads it, from the bytes sent; text no column can
    /// store is a 422 at its member, as with `storable`.
    public static func body<T: Decodable>(as type: T.Type) throws -> T {
        try StorableText.decode(T.self, from: current?.body ?? Data("null".utf8))
    }

    /// A path parameter that must be a UUID: anything else names nothing, so 404.
    public static func id(_ text: String) throws(ProblemDetails) -> UUID {
        guard let id = UUID(uuidString: text) else { throw ProblemDetails.noSuchResource }
        return id
    }
}

/// How the generated code reads and writes what the edge's own coders do (`JSONCoding.api`):
/// RFC 3339 dates, read in any common shape and written without fractions; compact JSON with
/// sorted keys and unescaped slashes.
extension OpenAPIRuntime.Configuration {
    public static let passerelle = OpenAPIRuntime.Configuration(
        dateTranscoder: APIDateTranscoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])
}

struct APIDateTranscoder: DateTranscoder {
    func encode(_ date: Date) throws -> String { JSONCoding.api.text(date) }

    func decode(_ text: String) throws -> Date {
        guard let date = JSONCoding.parseDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "an RFC 3339 date-time, not \(text)"))
        }
        return date
    }
}

/// Serves a service's generated `APIProtocol` conformance on its router. Each operation is an
/// ordinary route, so the edge's middleware (request id, metrics, problems, authentication, the
/// contract's roles) runs first as for any other; then the body is read within the upload limit
/// and checked for text no column can store, the generated code decodes the typed input, the
/// handler runs, and its typed output is encoded. Errors leave as the edge renders them.
public struct GeneratedRouteTransport: ServerTransport {
    let router: Router<PasserelleRequestContext>
    /// Bodies larger than the context's limit that a path takes (a catalogue upload), by path.
    let uploadLimits: [String: Int]

    public init(router: Router<PasserelleRequestContext>, uploadLimits: [String: Int] = [:]) {
        self.router = router
        self.uploadLimits = uploadLimits
    }

    public func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method, path: String
    ) throws {
        let limit = uploadLimits[path]
        router.on(RouterPath(path), method: method) { request, context in
            try await Self.serve(request, context, uploadLimit: limit, handler)
        }
    }

    static func serve(
        _ request: Request, _ context: PasserelleRequestContext, uploadLimit: Int?,
        _ handler: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> Response {
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: uploadLimit ?? context.maxUploadSize)
        } catch is NIOTooManyBytesError where uploadLimit != nil {
            // The edge's own answer would name the ordinary request limit, not this one.
            throw ProblemDetails(status: .contentTooLarge, title: "Body too large", detail: "an upload is at most \(uploadLimit! >> 20) MiB")
        }
        var data = Data(bytes.readableBytesView)
        // Unpaired surrogates are marked as NUL so they decode, and are refused where they are read.
        let unstorable = StorableText.mayHoldUnstorableEscape(data)
        if unstorable { data = StorableText.markingUnpairedSurrogates(data) }
        let body = data.isEmpty ? nil : HTTPBody(data)
        var parameters: [String: Substring] = [:]
        for (name, value) in context.parameters { parameters[String(name)] = value }
        let scope = OperationRequest(
            identity: context.identity, operation: context.operation, logger: context.logger, requestID: context.requestID,
            bodyMayHoldUnstorableText: unstorable, body: data.isEmpty ? nil : data)
        do {
            let (head, answer) = try await OperationRequest.$current.withValue(scope) {
                try await handler(Self.uriComponentHeaders(request.head), body, ServerRequestMetadata(pathParameters: parameters))
            }
            var buffer = ByteBuffer()
            if let answer {
                for try await chunk in answer { buffer.writeBytes(chunk) }
            }
            var headers = Self.plainHeaders(head.headerFields)
            // Every text Passerelle writes is UTF-8; without the parameter, text/* means Latin-1.
            if let type = headers[.contentType], type.lowercased().hasPrefix("text/"), !type.lowercased().contains("charset=") {
                headers[.contentType] = type + "; charset=utf-8"
            }
            return Response(status: head.status, headers: headers, body: .init(byteBuffer: buffer))
        } catch let error as ServerError {
            throw edgeError(error)
        }
    }

    /// The request as the generated code reads it. It reads a header the contract declares (an
    /// Idempotency-Key) as a percent-encoded URI component, so a `%` the caller sent is escaped
    /// first: the handler gets the header exactly as it was sent.
    static func uriComponentHeaders(_ head: HTTPRequest) -> HTTPRequest {
        guard head.headerFields.contains(where: { Self.holdsPercent($0.value) }) else { return head }
        var head = head
        var fields = HTTPFields()
        for field in head.headerFields {
            fields.append(HTTPField(name: field.name, value: field.value.replacingOccurrences(of: "%", with: "%25")))
        }
        head.headerFields = fields
        return head
    }

    /// The answer's headers as the handler set them. The generated code writes a header the
    /// contract declares (a Location) as a percent-encoded URI component, `/` included; the
    /// decoding is its exact inverse, so a path reads as a path again.
    static func plainHeaders(_ fields: HTTPFields) -> HTTPFields {
        var plain = fields
        for index in plain.indices where holdsPercent(plain[index].value) {
            plain[index].value = percentDecoded(plain[index].value) ?? plain[index].value
        }
        return plain
    }

    /// `%XX` escapes decoded as UTF-8; nil for a malformed escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func hex(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case let digit? where (0x30...0x39).contains(digit): digit - 0x30
            case let letter? where (0x61...0x66).contains(letter | 0x20): (letter | 0x20) - 0x61 + 10  // a-f, A-F
            default: nil
            }
        }
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = hex(iterator.next()), let low = hex(iterator.next()) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A byte scan: Foundation's `contains` on a String goes through a locale-aware search, a
    /// cost every request paid on every header.
    static func holdsPercent(_ value: String) -> Bool {
        value.utf8.contains(UInt8(ascii: "%"))
    }

    /// What the edge answers for an error the generated code wrapped: the handler's own errors
    /// (problems, outages) and body decoding errors as they are, so the problem middleware
    /// renders them like any route's; the runtime's refusals (a missing header, an unsupported
    /// content type, a malformed parameter) as problems with the runtime's status and account.
    static func edgeError(_ error: ServerError) -> any Error {
        if let decoding = error.underlyingError as? DecodingError, error.requestBody == nil {
            // No body: a parameter was not of its contract's type (the body's errors keep their pointer).
            let account = DecodingErrorDescription(decoding)
            return ProblemDetails(status: .badRequest, title: "Malformed parameter", detail: "a parameter is not of its type: \(account.text)")
        }
        if error.underlyingError is DecodingError || error.httpStatus == .internalServerError {
            return error.underlyingError
        }
        return ProblemDetails(status: error.httpStatus, title: error.httpStatus.reasonPhrase, detail: error.causeDescription)
    }
}

/// The same JSON read as another type: for a body the generator could only type loosely (a
/// schema composed with `allOf`/`anyOf` over conditions), read as the handler's own
/// `Decodable`, and for an answer whose generated type is open-ended (report rows), written from
/// the service's own value. A value that does not fit is a decoding error, so a drift fails
/// loudly rather than sending something the contract does not describe.
public func convertJSON<T: Decodable>(_ value: some Encodable, to type: T.Type = T.self) throws -> T {
    try JSONCoding.api.decode(T.self, from: Data(try JSONCoding.api.encode(OperationRequest.storable(value))))
}
