import Foundation
import ServiceRuntime

/// The SMS gateway (`PASSERELLE_SMS_GATEWAY_URL`, bearer token `PASSERELLE_SMS_GATEWAY_TOKEN`):
/// a JSON POST of `{id, to, body}` with an `Idempotency-Key`.
public struct SMSGatewaySettings: Sendable {
    public var url: String
    public var token: String?

    public init(url: String, token: String? = nil) {
        self.url = url
        self.token = token
    }

    static func fromEnvironment(_ e: Environment) throws -> SMSGatewaySettings? {
        guard let url = e.optionalString("PASSERELLE_SMS_GATEWAY_URL") else { return nil }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? "") else {
            throw ConfigurationError(variable: "PASSERELLE_SMS_GATEWAY_URL", problem: "must be an http or https URL")
        }
        return SMSGatewaySettings(url: url, token: try e.secret("PASSERELLE_SMS_GATEWAY_TOKEN"))
    }
}
