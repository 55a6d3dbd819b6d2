import Foundation
import HTTPTypes

/// A service's OpenAPI document, read once: what it serves at `/openapi.json`, and the
/// operations the edge looks up for every request (which roles may call one, what its
/// metrics are labelled with). The document is the source: `Shared/Contracts/OpenAPI` holds it,
/// and the host refuses to start when its routes and the document disagree.
public struct ServiceContract: Sendable {
    /// One documented operation: a method on a path template, as the router spells it.
    public struct Operation: Sendable, Hashable, CustomStringConvertible {
        public var id: String
        public var method: HTTPRequest.Method
        public var path: String
        /// Who may call it (`x-passerelle-roles`); nil when it needs no token (`security: []`).
        public var roles: Set<Role>?

        public var description: String { "\(method.rawValue) \(path) (\(id))" }
    }

    public let document: String
    public let operations: [Operation]
    private let index: [String: Operation]

    public init(document: String) throws(ServiceContractError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any] else {
            throw .unreadable("the document is not a JSON object")
        }
        guard let paths = object["paths"] as? [String: [String: Any]] else { throw .unreadable("the document has no paths") }
        let securedByDefault = !((object["security"] as? [Any]) ?? []).isEmpty
        var operations: [Operation] = []
        for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
            for (name, value) in item.sorted(by: { $0.key < $1.key }) {
                guard Self.methods.contains(name), let operation = value as? [String: Any] else { continue }
                let label = "\(name.uppercased()) \(path)"
                guard let id = operation["operationId"] as? String else { throw .unreadable("\(label) has no operationId") }
                let secured = (operation["security"] as? [Any]).map { !$0.isEmpty } ?? securedByDefault
                var roles: Set<Role>?
                if secured {
                    guard let names = operation["x-passerelle-roles"] as? [String], !names.isEmpty else {
                        throw .unreadable("\(label) needs a token but names no x-passerelle-roles")
                    }
                    roles = try Set(
                        names.map { name throws(ServiceContractError) -> Role in
                            guard let role = Role(rawValue: name) else { throw .unreadable("\(label) names an unknown role \(name)") }
                            return role
                        })
                }
                operations.append(Operation(id: id, method: HTTPRequest.Method(name.uppercased())!, path: path, roles: roles))
            }
        }
        let ids = Dictionary(grouping: operations, by: \.id).filter { $0.value.count > 1 }
        if let repeated = ids.keys.sorted().first { throw .unreadable("operationId \(repeated) is used more than once") }
        self.document = document
        self.operations = operations
        self.index = Dictionary(uniqueKeysWithValues: operations.map { ("\($0.method.rawValue) \($0.path)", $0) })
    }

    /// The operation the router matched, by method and path template.
    public func operation(_ method: HTTPRequest.Method, _ path: String) -> Operation? {
        index["\(method.rawValue) \(path)"]
    }

    /// Routes the document does not describe and operations no route serves, as lines to print.
    public func mismatches(routes: [(method: HTTPRequest.Method, path: String)]) -> [String] {
        let routed = Set(routes.map { "\($0.method.rawValue) \($0.path)" })
        let undocumented = routed.subtracting(index.keys).sorted().map { "\($0) is routed but not in the OpenAPI document" }
        let unrouted = Set(index.keys).subtracting(routed).sorted().map { "\($0) is in the OpenAPI document but not routed" }
        return undocumented + unrouted
    }

    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
}

public enum ServiceContractError: Error, Sendable, CustomStringConvertible {
    case unreadable(String)
    case disagreesWithRoutes(service: String, [String])

    public var description: String {
        switch self {
        case .unreadable(let problem): "OpenAPI document: \(problem)"
        case .disagreesWithRoutes(let service, let lines): "\(service)'s routes and OpenAPI document disagree:\n" + lines.joined(separator: "\n")
        }
    }
}
