import Backoff
import Domain
import Foundation
import ServiceRuntime
import Webhooks

/// Intake's FHIR settings, read from `PASSERELLE_FHIR_*` (all listed in .env.example).
public struct FHIRSettings: Sendable {
    /// The site that receives a ServiceRequest naming no performer when the sender's token
    /// carries no site either; nil refuses such requests.
    public var defaultOrganization: String?
    /// Where EHRs reach this FHIR endpoint (`https://…/fhir/r4`): the base of the absolute
    /// references in subscription notifications and of the CapabilityStatement's implementation.
    public var baseURL: String
    /// Lets Subscription endpoints resolve to loopback, private, link-local or metadata addresses
    /// (local runs and tests only).
    public var allowPrivateEndpoints: Bool
    /// Notification attempts per subscription event before it is given up (the subscription then
    /// shows `error`).
    public var maxDeliveryAttempts: Int
    /// First retry delay; each later one doubles, up to `retryMaxDelay`.
    public var retryBaseDelay: Duration
    public var retryMaxDelay: Duration

    public init(
        defaultOrganization: String? = nil, baseURL: String = "http://localhost:8081/fhir/r4", allowPrivateEndpoints: Bool = false,
        maxDeliveryAttempts: Int = 8, retryBaseDelay: Duration = .seconds(2), retryMaxDelay: Duration = .seconds(600)
    ) {
        self.defaultOrganization = defaultOrganization
        self.baseURL = baseURL
        self.allowPrivateEndpoints = allowPrivateEndpoints
        self.maxDeliveryAttempts = maxDeliveryAttempts
        self.retryBaseDelay = retryBaseDelay
        self.retryMaxDelay = retryMaxDelay
    }

    public static func fromEnvironment(_ e: Environment) throws(ConfigurationError) -> FHIRSettings {
        let organization = e.optionalString("PASSERELLE_FHIR_DEFAULT_ORGANIZATION")
        if let organization, !Site.isValid(organization) {
            throw ConfigurationError(
                variable: "PASSERELLE_FHIR_DEFAULT_ORGANIZATION", problem: "\"\(organization)\" is not a site code (lowercase letters, digits and dashes)")
        }
        let base = e.string("PASSERELLE_FHIR_BASE_URL", default: "http://localhost:8081/fhir/r4")
        guard let url = URL(string: base), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ConfigurationError(variable: "PASSERELLE_FHIR_BASE_URL", problem: "must be an absolute http or https URL")
        }
        let attempts = try e.int("PASSERELLE_FHIR_SUBSCRIPTION_MAX_ATTEMPTS", default: 8)
        guard attempts >= 1 else { throw ConfigurationError(variable: "PASSERELLE_FHIR_SUBSCRIPTION_MAX_ATTEMPTS", problem: "must be at least 1") }
        let baseMilliseconds = try e.int("PASSERELLE_FHIR_SUBSCRIPTION_RETRY_BASE_MS", default: 2_000)
        let maxMilliseconds = try e.int("PASSERELLE_FHIR_SUBSCRIPTION_RETRY_MAX_MS", default: 600_000)
        guard baseMilliseconds >= 1, maxMilliseconds >= baseMilliseconds else {
            throw ConfigurationError(
                variable: "PASSERELLE_FHIR_SUBSCRIPTION_RETRY_BASE_MS", problem: "must be at least 1 and at most PASSERELLE_FHIR_SUBSCRIPTION_RETRY_MAX_MS")
        }
        let allow = e.string("PASSERELLE_FHIR_ALLOW_PRIVATE_ENDPOINTS", default: "false")
        guard allow == "true" || allow == "false" else {
            throw ConfigurationError(variable: "PASSERELLE_FHIR_ALLOW_PRIVATE_ENDPOINTS", problem: "must be true or false")
        }
        return FHIRSettings(
            defaultOrganization: organization, baseURL: String(base.reversed().drop { $0 == "/" }.reversed()),
            allowPrivateEndpoints: allow == "true", maxDeliveryAttempts: attempts,
            retryBaseDelay: .milliseconds(baseMilliseconds), retryMaxDelay: .milliseconds(maxMilliseconds))
    }

    /// Where Subscription endpoints may point: EHRs name them, so only the public internet,
    /// over https, unless private endpoints are allowed.
    var endpoints: WebhookTargetPolicy {
        WebhookTargetPolicy(reach: allowPrivateEndpoints ? .anywhere : .publicInternet)
    }

    /// Seconds to wait after the given (1-based) attempt failed: doubling, capped, with jitter so
    /// replicas retrying one endpoint do not retry in step.
    func delay(afterAttempt attempt: Int) -> TimeInterval {
        ExponentialBackoff(initial: retryBaseDelay, maximum: retryMaxDelay, jitter: .half).delay(afterAttempt: attempt).inSeconds
    }
}
