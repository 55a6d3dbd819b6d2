import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// Decides, from the contract, whether the caller may run the operation the router matched:
/// no token where one is needed is 401, none of the operation's `x-passerelle-roles` is 403.
/// Handlers then decide only what the roles cannot (sites, owners). It names the operation in
/// the context for them and for the logs, and refuses parameters no column can store (NUL).
public struct OperationAuthorizationMiddleware<Context: PasserelleContext>: RouterMiddleware {
    let contract: ServiceContract

    public init(contract: ServiceContract) {
        self.contract = contract
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Unmatched requests (404) and undeclared methods (405) have no operation and need no token.
        guard let path = context.endpointPath, let operation = contract.operation(request.method, path) else {
            return try await next(request, context)
        }
        var context = context
        context.operation = operation
        context.logger[metadataKey: "operation"] = "\(operation.id)"
        if let roles = operation.roles {
            let identity = try context.requireIdentity()
            guard !identity.roles.isDisjoint(with: roles) else {
                throw ProblemDetails(
                    status: .forbidden, title: "Forbidden",
                    detail: "\(operation.id) needs one of the roles \(roles.map(\.rawValue).sorted().joined(separator: ", "))")
            }
        }
        // A NUL in a path parameter names nothing; in a query parameter it is text no column can hold.
        if context.parameters.contains(where: { $0.value.contains("\u{0}") }) { throw ProblemDetails.noSuchResource }
        try StorableText.require(request.uri.queryParameters.map { (pointer: "?\($0.key)", value: String($0.value)) })
        return try await next(request, context)
    }
}

/// What operators watch per operation: requests by status class, and how long they took.
///
///     passerelle_http_server_requests_total{operation, method, status_class}
///     passerelle_http_server_request_duration_seconds{operation, method}  (histogram)
///
/// Requests no route matched count under `operation="unmatched"` so a scan cannot create labels.
public struct OperationMetricsMiddleware<Context: PasserelleContext>: RouterMiddleware {
    let contract: ServiceContract

    public init(contract: ServiceContract) {
        self.contract = contract
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let operation = context.endpointPath.flatMap { contract.operation(request.method, $0)?.id } ?? "unmatched"
        let method = operation == "unmatched" ? "other" : request.method.rawValue
        func record(_ status: HTTPResponse.Status) {
            Counter(
                label: "passerelle_http_server_requests_total",
                dimensions: [("operation", operation), ("method", method), ("status_class", "\(status.code / 100)xx")]
            ).increment()
            Metrics.Timer(label: "passerelle_http_server_request_duration_seconds", dimensions: [("operation", operation), ("method", method)])
                .record(duration: ContinuousClock.now - started)
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch let error as any HTTPResponseError {
            record(error.status)
            throw error
        } catch {
            record(.internalServerError)
            throw error
        }
    }
}
