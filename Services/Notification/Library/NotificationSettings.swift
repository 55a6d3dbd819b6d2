import Backoff
import Foundation
import ServiceRuntime
import Webhooks

/// Notification's own settings, read from `PASSERELLE_NOTIFICATION_*`, `PASSERELLE_SMTP_*` and
/// `PASSERELLE_SMS_*` (all listed in .env.example).
public struct NotificationSettings: Sendable {
    /// Used when a recipient's language has no template and the site has no policy.
    public var defaultLanguage: String
    public var defaultTimeZone: TimeZone
    /// Applied to clients at sites without a policy of their own; nil for none.
    public var defaultQuietHours: String?
    /// What the client is told about when the link worker will call.
    public var callWithinDays: Int
    public var retry: RetryPolicy
    /// Deliveries in flight at once per replica.
    public var concurrency: Int
    /// How long a worker holds the notifications it claimed (renewed while it sends them).
    public var lease: Duration = .seconds(60)
    /// The longest one HTTP exchange (SMS gateway, webhook) may last; never past the lease.
    public var httpTimeout: Duration = .seconds(15)
    public var smtp: SMTPSettings?
    public var sms: SMSGatewaySettings?
    /// Lets webhooks and the SMS gateway go to loopback, private and unique-local addresses
    /// (local runs, tests, receivers on the organisation's own network); link-local and metadata
    /// addresses stay out of reach either way.
    public var allowPrivateWebhookTargets: Bool

    /// Where webhooks and SMS may go: public addresses only, unless the deployment explicitly
    /// allows private ones. Whoever names a target must not be able to reach, through us, what
    /// only the network we run in can (its services, the metadata endpoint's credentials).
    var webhookTargets: WebhookTargetPolicy {
        WebhookTargetPolicy(reach: Self.reach(allowingPrivate: allowPrivateWebhookTargets))
    }

    static func reach(allowingPrivate: Bool) -> WebhookReach {
        allowingPrivate ? .organisationNetwork : .publicAddresses
    }

    public static func fromEnvironment(_ e: Environment) throws -> NotificationSettings {
        let zoneName = e.string("PASSERELLE_NOTIFICATION_TIME_ZONE", default: "America/Toronto")
        guard let zone = TimeZone(identifier: zoneName) else {
            throw ConfigurationError(variable: "PASSERELLE_NOTIFICATION_TIME_ZONE", problem: "\"\(zoneName)\" is not a time zone")
        }
        let quiet = e.string("PASSERELLE_NOTIFICATION_QUIET_HOURS", default: "20:00-08:00")
        if quiet != "none", QuietHours(quiet, timeZone: zone) == nil {
            throw ConfigurationError(variable: "PASSERELLE_NOTIFICATION_QUIET_HOURS", problem: "\"\(quiet)\" is not HH:MM-HH:MM or none")
        }
        let retry = RetryPolicy(
            maxAttempts: try e.int("PASSERELLE_NOTIFICATION_MAX_ATTEMPTS", default: 6),
            baseDelay: .milliseconds(try e.int("PASSERELLE_NOTIFICATION_RETRY_BASE_MS", default: 2_000)),
            maxDelay: .milliseconds(try e.int("PASSERELLE_NOTIFICATION_RETRY_MAX_MS", default: 600_000)))
        guard retry.maxAttempts >= 1 else {
            throw ConfigurationError(variable: "PASSERELLE_NOTIFICATION_MAX_ATTEMPTS", problem: "must be at least 1")
        }
        let lease = try e.int("PASSERELLE_NOTIFICATION_LEASE_SECONDS", default: 60)
        // Under 3 s a renewal (every third of it) would hardly have time to commit.
        guard lease >= 3 else { throw ConfigurationError(variable: "PASSERELLE_NOTIFICATION_LEASE_SECONDS", problem: "must be at least 3") }
        let httpTimeout = try e.int("PASSERELLE_NOTIFICATION_HTTP_TIMEOUT_SECONDS", default: 15)
        guard httpTimeout >= 1 else {
            throw ConfigurationError(variable: "PASSERELLE_NOTIFICATION_HTTP_TIMEOUT_SECONDS", problem: "must be at least 1")
        }
        let allowPrivate = e.string("PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS", default: "false") == "true"
        let sms = try SMSGatewaySettings.fromEnvironment(e)
        // A gateway written as an inward address is refused at start, not at the first SMS.
        if let sms, let host = URL(string: sms.url)?.host,
            let address = IPAddress(host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host),
            !reach(allowingPrivate: allowPrivate).permits(address.scope)
        {
            throw ConfigurationError(
                variable: "PASSERELLE_SMS_GATEWAY_URL",
                problem:
                    "\(address) is out of reach (\(address.scope.rawValue)); PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS=true allows loopback and private addresses"
            )
        }
        return NotificationSettings(
            defaultLanguage: e.string("PASSERELLE_NOTIFICATION_DEFAULT_LANGUAGE", default: "fr"),
            defaultTimeZone: zone,
            defaultQuietHours: quiet == "none" ? nil : quiet,
            callWithinDays: try e.int("PASSERELLE_NOTIFICATION_CALL_WITHIN_DAYS", default: 2),
            retry: retry,
            concurrency: max(1, try e.int("PASSERELLE_NOTIFICATION_CONCURRENCY", default: 16)),
            lease: .seconds(lease),
            httpTimeout: .seconds(httpTimeout),
            smtp: try SMTPSettings.fromEnvironment(e),
            sms: sms,
            allowPrivateWebhookTargets: allowPrivate)
    }
}

/// Exponential backoff with jitter: attempt n waits between half and all of base·2^(n-1),
/// capped, so replicas retrying a flaky gateway do not retry in step.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    /// Seconds to wait after the given (1-based) attempt failed.
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        ExponentialBackoff(initial: baseDelay, maximum: maxDelay, jitter: .half).delay(afterAttempt: attempt).inSeconds
    }
}
