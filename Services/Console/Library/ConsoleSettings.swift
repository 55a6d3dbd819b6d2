import Domain
import Foundation
import Logging
import PostgresClient
import ServiceRuntime

/// Everything the console is configured with (PASSERELLE_CONSOLE_*, the services' addresses, the
/// identity provider, its own PostgreSQL schema for sessions).
public struct ConsoleSettings: Sendable {
    public var httpHost: String
    public var httpPort: Int
    /// Where browsers reach the console, e.g. `https://console.example.org`; the sign-in's
    /// redirect URI is `<publicURL>/auth/callback`.
    public var publicURL: String
    public var postgres: PostgresConfiguration
    /// The services' token verification, with the identity provider the console signs people in at.
    public var auth: AuthSettings
    public var clientID: String
    /// For a confidential client; a public one proves itself with PKCE alone.
    public var clientSecret: String?
    public var intakeURL: URL
    public var matchingURL: URL
    public var notificationURL: URL
    public var evaluationURL: URL
    /// A session unused for this long ends.
    public var idleTimeout: TimeInterval
    /// A session ends this long after sign-in whatever happens (and never after its token).
    public var absoluteTimeout: TimeInterval
    public var logLevel: Logger.Level
    public var migrateOnStart: Bool
    /// Postal areas (the first three characters of a postal code) and their centroids, for the
    /// directory's "near a postal code": PASSERELLE_CONSOLE_POSTAL_AREAS, a CSV file
    /// `area,latitude,longitude` such as deploy/matching/postal-areas.csv. Empty: no distance search.
    public var postalAreas: [String: Coordinates]
    /// The sites' local time (PASSERELLE_CONSOLE_TIME_ZONE, an IANA zone, America/Toronto unless
    /// set): the directory's "open now" is this day and time, as resources' opening hours are.
    public var timeZone: TimeZone
    /// SWEMWBS's seven items in French and English, from the file a network holds under its
    /// licence (PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE); nil: the console offers no SWEMWBS form.
    public var swemwbsItems: LicensedItems?

    /// Cookies are `Secure` unless the console is reached over plain http (local runs, and a single
    /// host's compose deployment reached on 127.0.0.1 with PASSERELLE_CONSOLE_ALLOW_HTTP=true).
    public var secureCookies: Bool { publicURL.hasPrefix("https://") }
    public var redirectURI: String { publicURL + "/auth/callback" }

    public init(
        httpHost: String = "127.0.0.1", httpPort: Int, publicURL: String, postgres: PostgresConfiguration, auth: AuthSettings, clientID: String,
        clientSecret: String? = nil, intakeURL: URL, matchingURL: URL, notificationURL: URL, evaluationURL: URL, idleTimeout: TimeInterval = 30 * 60,
        absoluteTimeout: TimeInterval = 8 * 3600, logLevel: Logger.Level = .info, migrateOnStart: Bool = true,
        postalAreas: [String: Coordinates] = [:], timeZone: TimeZone = TimeZone(identifier: "America/Toronto")!, swemwbsItems: LicensedItems? = nil
    ) {
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.publicURL = publicURL
        self.postgres = postgres
        self.auth = auth
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.intakeURL = intakeURL
        self.matchingURL = matchingURL
        self.notificationURL = notificationURL
        self.evaluationURL = evaluationURL
        self.idleTimeout = idleTimeout
        self.absoluteTimeout = absoluteTimeout
        self.logLevel = logLevel
        self.migrateOnStart = migrateOnStart
        self.postalAreas = postalAreas
        self.timeZone = timeZone
        self.swemwbsItems = swemwbsItems
    }

    /// The centroids of a CSV file `area,latitude,longitude` (a header line first); a row that is
    /// not one is a configuration error naming its line, never skipped in silence.
    static func postalAreas(path: String) throws(ConfigurationError) -> [String: Coordinates] {
        let variable = "PASSERELLE_CONSOLE_POSTAL_AREAS"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(variable: variable, problem: "cannot read \(path)")
        }
        var areas: [String: Coordinates] = [:]
        for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() where index > 0 {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3, fields[0].count == 3, let latitude = Double(fields[1]), let longitude = Double(fields[2]),
                let point = try? Coordinates(latitude: latitude, longitude: longitude)
            else { throw ConfigurationError(variable: variable, problem: "\(path) line \(index + 1) is not area,latitude,longitude") }
            areas[fields[0].uppercased()] = point
        }
        return areas
    }

    public static func fromEnvironment(_ environment: Environment = Environment()) throws -> ConsoleSettings {
        let e = environment
        // The services' own reading of the PostgreSQL, token and logging variables.
        let common = try ServiceSettings.fromEnvironment(service: "console", defaultPort: 8085, environment: e)
        guard let provider = common.auth.openIDProvider else {
            throw ConfigurationError(
                variable: "PASSERELLE_OIDC_DISCOVERY_URL", problem: "the console signs people in with OpenID Connect; set the provider's issuer")
        }
        _ = provider
        let publicURL = e.string("PASSERELLE_CONSOLE_PUBLIC_URL", default: "http://127.0.0.1:\(common.httpPort)").trimmingCharacters(in: ["/"])
        // Over http the session cookie travels in the clear and cannot be Secure: said explicitly.
        let httpAllowed = e.allowsDevelopmentSecrets || e.string("PASSERELLE_CONSOLE_ALLOW_HTTP", default: "false") == "true"
        guard publicURL.hasPrefix("https://") || (publicURL.hasPrefix("http://") && httpAllowed) else {
            throw ConfigurationError(
                variable: "PASSERELLE_CONSOLE_PUBLIC_URL",
                problem: "must be https (http only with PASSERELLE_CONSOLE_ALLOW_HTTP=true or PASSERELLE_ALLOW_DEV_SECRET=true)")
        }
        func url(_ name: String, _ fallback: String) throws(ConfigurationError) -> URL {
            let text = e.string(name, default: fallback)
            guard let url = URL(string: text), url.scheme != nil, url.host != nil else {
                throw ConfigurationError(variable: name, problem: "\"\(text)\" is not an absolute URL")
            }
            return url
        }
        let idle = try e.int("PASSERELLE_CONSOLE_IDLE_MINUTES", default: 30)
        let absolute = try e.int("PASSERELLE_CONSOLE_ABSOLUTE_MINUTES", default: 8 * 60)
        guard (1...24 * 60).contains(idle), (idle...7 * 24 * 60).contains(absolute) else {
            throw ConfigurationError(
                variable: "PASSERELLE_CONSOLE_ABSOLUTE_MINUTES", problem: "idle (1 to 1440) must not be longer than absolute (up to 10080) minutes")
        }
        var areas: [String: Coordinates] = [:]
        if let path = e.optionalString("PASSERELLE_CONSOLE_POSTAL_AREAS") { areas = try postalAreas(path: path) }
        let zoneName = e.string("PASSERELLE_CONSOLE_TIME_ZONE", default: "America/Toronto")
        // A region's name (Area/Location): TimeZone(identifier:) also takes abbreviations such as
        // EST, which ignore daylight saving, and reads a name only up to a NUL.
        guard zoneName == "UTC" || zoneName.wholeMatch(of: /[A-Za-z]+(\/[A-Za-z0-9_+\-]+)+/) != nil, let zone = TimeZone(identifier: zoneName)
        else {
            throw ConfigurationError(variable: "PASSERELLE_CONSOLE_TIME_ZONE", problem: "\"\(zoneName)\" is not an IANA time zone such as America/Toronto")
        }
        var swemwbs: LicensedItems?
        if let path = e.optionalString("PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE") {
            swemwbs = try LicensedItems.load(path: path, count: 7, variable: "PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE")
        }
        return ConsoleSettings(
            httpHost: common.httpHost, httpPort: common.httpPort, publicURL: publicURL, postgres: common.postgres, auth: common.auth,
            clientID: e.string("PASSERELLE_CONSOLE_CLIENT_ID", default: "passerelle-console"),
            clientSecret: try e.secret("PASSERELLE_CONSOLE_CLIENT_SECRET"),
            intakeURL: try url("PASSERELLE_INTAKE_URL", "http://127.0.0.1:8081"),
            matchingURL: try url("PASSERELLE_MATCHING_URL", "http://127.0.0.1:8082"),
            notificationURL: try url("PASSERELLE_NOTIFICATION_URL", "http://127.0.0.1:8083"),
            evaluationURL: try url("PASSERELLE_EVALUATION_URL", "http://127.0.0.1:8084"),
            idleTimeout: TimeInterval(idle * 60), absoluteTimeout: TimeInterval(absolute * 60), logLevel: common.logLevel,
            migrateOnStart: common.migrateOnStart,
            postalAreas: areas, timeZone: zone, swemwbsItems: swemwbs)
    }
}
