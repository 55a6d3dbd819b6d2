import Foundation

/// How far from the sending machine a service's webhooks may go. Whoever names a target URL
/// could otherwise make the service call into its own neighbourhood (loopback services, the
/// internal network, the cloud metadata endpoint that hands out instance credentials).
public enum WebhookReach: Sendable, Equatable {
    /// Public addresses only, over https: for targets outside parties name (an EHR's
    /// subscription endpoint), who should reach nothing of ours but the public internet.
    case publicInternet
    /// Any address but link-local, cloud metadata and unspecified ones: for targets the
    /// deployment's own coordinators configure, whose receivers may well live on the
    /// organisation's network, while metadata credentials stay out of reach.
    case organisationNetwork
    /// Public addresses only, http or https: for targets the deployment's own coordinators or
    /// operators configure (partners' webhooks, the SMS gateway). Loopback, private, unique-local,
    /// link-local and metadata addresses take an explicit allowance (`anywhere`).
    case publicAddresses
    /// Anywhere, http or https: local runs and tests.
    case anywhere

    public func permits(_ scope: AddressScope) -> Bool {
        switch self {
        case .anywhere: true
        case .publicInternet, .publicAddresses: scope == .public
        case .organisationNetwork: ![.linkLocal, .cloudMetadata, .unspecified].contains(scope)
        }
    }

    var requiresHTTPS: Bool { self == .publicInternet }

    /// What a refused address is, in the words each reach has always used.
    var refusedKind: String {
        switch self {
        case .publicInternet, .publicAddresses: "a loopback, private, link-local or metadata address"
        case .organisationNetwork, .anywhere: "a link-local or metadata address"
        }
    }
}

/// Why a webhook target URL is refused.
public enum WebhookTargetRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case notHTTP
    case notHTTPS
    case unresolvable(host: String)
    case outOfReach(host: String, address: IPAddress, scope: AddressScope, reach: WebhookReach)

    public var description: String {
        switch self {
        case .notHTTP: "must be an absolute http or https URL"
        case .notHTTPS: "must be https"
        case .unresolvable(let host): "host \(host) does not resolve"
        case .outOfReach(let host, let address, _, let reach): "host \(host) resolves to \(address), \(reach.refusedKind)"
        }
    }
}

/// A target URL as checked: the host it names and the address it was checked at. A delivery
/// connects to that address (sending the name as Host and TLS server name), never to what a
/// second lookup might answer: a name whose DNS answer changes between the check and the
/// connection (DNS rebinding) cannot turn the call inward.
public struct CheckedTarget: Sendable, Equatable {
    public var url: String
    /// The host as the URL names it (a bracketed IPv6 literal without its brackets).
    public var host: String
    public var address: IPAddress
}

/// Where a service's webhooks may go. A target is checked when it is saved and again before
/// each delivery: what a name resolves to can change in between.
public struct WebhookTargetPolicy: Sendable {
    public var reach: WebhookReach
    /// What a host name resolves to; the system resolver unless a test injects another.
    let resolve: @Sendable (String) async -> [IPAddress]

    public init(reach: WebhookReach) {
        self.init(reach: reach, resolver: { await IPAddress.resolving($0) })
    }

    public init(reach: WebhookReach, resolver: @escaping @Sendable (String) async -> [IPAddress]) {
        self.reach = reach
        self.resolve = resolver
    }

    /// Refuses a URL that is not absolute http(s), not https where the reach requires it, or
    /// whose host does not resolve or resolves to any address out of reach (every one counts:
    /// a name with one inward address among public ones is refused).
    public func check(_ urlText: String) async throws(WebhookTargetRefusal) {
        _ = try await target(urlText)
    }

    /// Checks the URL as `check` does and returns the address to connect to, looked up once.
    public func target(_ urlText: String) async throws(WebhookTargetRefusal) -> CheckedTarget {
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty
        else {
            throw .notHTTP
        }
        if reach.requiresHTTPS && scheme != "https" { throw .notHTTPS }
        // A bracketed IPv6 literal, whichever way URL gives it.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses: [IPAddress]
        if let literal = IPAddress(name) { addresses = [literal] } else { addresses = await resolve(name) }
        guard let first = addresses.first else { throw .unresolvable(host: host) }
        for address in addresses where !reach.permits(address.scope) {
            throw .outOfReach(host: host, address: address, scope: address.scope, reach: reach)
        }
        return CheckedTarget(url: urlText, host: name, address: first)
    }

    /// nil when the URL is acceptable, otherwise why not.
    public func problem(with urlText: String) async -> String? {
        do {
            try await check(urlText)
            return nil
        } catch {
            return error.description
        }
    }
}
