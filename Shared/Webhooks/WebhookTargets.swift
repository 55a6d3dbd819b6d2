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
    /// Anywhere, http or https: local runs and tests.
    case anywhere

    public func permits(_ scope: AddressScope) -> Bool {
        switch self {
        case .anywhere: true
        case .publicInternet: scope == .public
        case .organisationNetwork: ![.linkLocal, .cloudMetadata, .unspecified].contains(scope)
        }
    }

    var requiresHTTPS: Bool { self == .publicInternet }

    /// What a refused address is, in the words each reach has always used.
    var refusedKind: String {
        switch self {
        case .publicInternet: "a loopback, private, link-local or metadata address"
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

/// Where a service's webhooks may go. A target is checked when it is saved and again before
/// each delivery: what a name resolves to can change in between.
public struct WebhookTargetPolicy: Sendable {
    public var reach: WebhookReach

    public init(reach: WebhookReach) { self.reach = reach }

    /// Refuses a URL that is not absolute http(s), not https where the reach requires it, or
    /// whose host does not resolve or resolves to any address out of reach (every one counts:
    /// the HTTP client may connect to any of them).
    public func check(_ urlText: String) async throws(WebhookTargetRefusal) {
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty
        else {
            throw .notHTTP
        }
        if reach == .anywhere { return }
        if reach.requiresHTTPS && scheme != "https" { throw .notHTTPS }
        // A bracketed IPv6 literal, whichever way URL gives it.
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses = await IPAddress.resolving(name)
        if addresses.isEmpty { throw .unresolvable(host: host) }
        for address in addresses where !reach.permits(address.scope) {
            throw .outOfReach(host: host, address: address, scope: address.scope, reach: reach)
        }
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
