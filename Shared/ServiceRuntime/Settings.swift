import Contracts
import Foundation
import KafkaClient
import Logging
import PostgresClient

/// Reads configuration from the environment. Secrets may come from `NAME_FILE` (a mounted file)
/// instead of `NAME`; their values are never logged.
public struct Environment: Sendable {
    public var values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    public func string(_ name: String, default value: String) -> String {
        values[name].flatMap { $0.isEmpty ? nil : $0 } ?? value
    }

    public func optionalString(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func int(_ name: String, default value: Int) throws(ConfigurationError) -> Int {
        guard let text = optionalString(name) else { return value }
        guard let number = Int(text) else { throw ConfigurationError(variable: name, problem: "\"\(text)\" is not a whole number") }
        return number
    }

    ///
    /// A value still holding `.env.example`'s placeholder marker (`change-me`) is refused unless
    /// `PASSERELLE_ALLOW_DEV_SECRET=true`: a deployment copied from the example must not run on
    /// secrets that anyone can read in this repository. So is a key Passerelle itself keys
    /// HMACs with (a name ending `_SECRET` or `_KEY`: the token secret, evaluation's pseudonym
    /// key) that is short or guessable (see `SecretStrength`); passwords and tokens that other
    /// systems issue (databases, SASL, SMTP, the SMS gateway) are theirs to judge.
    public func secret(_ name: String) throws(ConfigurationError) -> String? {
        let value: String?
        var variable = name
        if let path = optionalString(name + "_FILE") {
            variable = name + "_FILE"
            do {
                value = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ConfigurationError(variable: variable, problem: "cannot read \(path)")
            }
        } else {
            value = optionalString(name)
        }
        guard let value, !allowsDevelopmentSecrets else { return value }
        if value.lowercased().contains(Self.placeholderMarker) {
            throw ConfigurationError(
                variable: variable,
                problem: "still holds the placeholder of .env.example; replace it with a secret of your own (e.g. `openssl rand -base64 48`)")
        }
        if name.hasSuffix("_SECRET") || name.hasSuffix("_KEY"), let weakness = SecretStrength(value).weakness {
            // Never the value itself: only what is wrong with it.
            throw ConfigurationError(variable: variable, problem: "\(weakness); use a random one (e.g. `openssl rand -base64 48`)")
        }
        return value
    }

    /// `PASSERELLE_ALLOW_DEV_SECRET=true`: local runs, where well-known and weak secrets and tokens
    /// without issuer or audience are accepted.
    public var allowsDevelopmentSecrets: Bool {
        string("PASSERELLE_ALLOW_DEV_SECRET", default: "false") == "true"
    }

    /// What every placeholder secret of `.env.example` and the Kubernetes example secret contains.
    public static let placeholderMarker = "change-me"
}

/// A conservative estimate of how guessable a secret is, from its text alone. Each character is
/// counted for at most log2 of the distinct characters the secret uses, and for no more than the
/// secret's own character frequencies give (Shannon); a secret that repeats itself is counted by
/// its distinct pairs of adjacent characters. The smallest of these estimates is kept, so a
/// random secret passes while words, repeats and short alphabets do not.
public struct SecretStrength: Sendable, Equatable {
    public static let minimumBytes = 32
    public static let minimumBits = 128.0

    public let bytes: Int
    public let estimatedBits: Double

    public init(_ secret: String) {
        let symbols = Array(secret.unicodeScalars)
        bytes = secret.utf8.count
        guard symbols.count > 1 else {
            estimatedBits = 0
            return
        }
        var counts: [Unicode.Scalar: Int] = [:]
        for symbol in symbols { counts[symbol, default: 0] += 1 }
        let perSymbol = log2(Double(counts.count))
        let length = Double(symbols.count)
        let shannon = counts.values.reduce(0.0) { sum, count in
            let p = Double(count) / length
            return sum - p * log2(p)
        }
        var pairs = Set<[Unicode.Scalar]>()
        for index in symbols.indices.dropLast() { pairs.insert([symbols[index], symbols[index + 1]]) }
        estimatedBits = min(length * perSymbol, length * shannon, Double(pairs.count + 1) * perSymbol)
    }

    /// A secret a caller gives through an API to have what is sent to them signed (a webhook
    /// target's, a FHIR subscription's), held to the same rule as the services' own: whoever
    /// guesses it can forge deliveries. A Standard Webhooks key (`whsec_<base64>`) is judged by its
    /// base64 text, which is as long and as varied as the random bytes it encodes.
    public init(signingSecret secret: String) {
        self.init(secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret)
    }

    /// What is wrong with the secret, or nil when it is strong enough.
    public var weakness: String? {
        if bytes < Self.minimumBytes { return "is \(bytes) bytes long; it must be at least \(Self.minimumBytes)" }
        if estimatedBits < Self.minimumBits {
            return "is too guessable (about \(Int(estimatedBits)) bits by a conservative estimate; at least \(Int(Self.minimumBits)) are required)"
        }
        return nil
    }
}

public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var variable: String
    public var problem: String
    public var description: String { "configuration \(variable): \(problem)" }

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }
}

/// Everything one Passerelle service process is configured with. Every variable is listed,
/// with its default, in `.env.example` at the repository root.
public struct ServiceSettings: Sendable {
    public var serviceName: String
    public var httpHost: String
    public var httpPort: Int
    public var postgres: PostgresConfiguration
    public var kafka: KafkaConfiguration
    public var topics: TopicNames
    public var consumerGroup: String
    /// How many partitions the service's consumer handles at once (each in order).
    public var consumerConcurrency: Int
    public var auth: AuthSettings
    public var logLevel: Logger.Level
    /// Apply migrations when the service starts (otherwise run `<executable> migrate`).
    public var migrateOnStart: Bool
    /// The variables the settings were read from: a service reads its own settings here
    /// (e.g. notification's SMTP relay), so tests can hand them in without touching the process.
    public var environment: Environment

    public init(
        serviceName: String, httpHost: String = "127.0.0.1", httpPort: Int, postgres: PostgresConfiguration,
        kafka: KafkaConfiguration, topics: TopicNames = TopicNames(), consumerGroup: String? = nil, consumerConcurrency: Int = 4, auth: AuthSettings,
        logLevel: Logger.Level = .info, migrateOnStart: Bool = true, environment: Environment = Environment([:])
    ) {
        self.serviceName = serviceName
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.postgres = postgres
        self.kafka = kafka
        self.topics = topics
        self.consumerGroup = consumerGroup ?? "passerelle-\(serviceName)"
        self.consumerConcurrency = consumerConcurrency
        self.auth = auth
        self.logLevel = logLevel
        self.migrateOnStart = migrateOnStart
        self.environment = environment
    }

    /// Reads `PASSERELLE_*` variables. Defaults suit the local stack (deploy/local/stack.sh).
    public static func fromEnvironment(service: String, defaultPort: Int, environment: Environment = Environment()) throws -> ServiceSettings {
        let e = environment
        let schema = e.string("PASSERELLE_DB_SCHEMA", default: service)
        guard PostgresConfiguration.isPlainIdentifier(schema) else {
            throw ConfigurationError(variable: "PASSERELLE_DB_SCHEMA", problem: "must be a lowercase identifier")
        }
        let postgres = PostgresConfiguration(
            host: e.string("PASSERELLE_DB_HOST", default: "127.0.0.1"),
            port: try e.int("PASSERELLE_DB_PORT", default: 55432),
            database: e.string("PASSERELLE_DB_NAME", default: "passerelle"),
            user: e.string("PASSERELLE_DB_USER", default: "passerelle_\(service)"),
            password: try e.secret("PASSERELLE_DB_PASSWORD") ?? "passerelle_\(service)",
            schema: schema,
            applicationName: "passerelle-\(service)",
            sslMode: e.string("PASSERELLE_DB_SSLMODE", default: "prefer"),
            sslRootCertificate: e.optionalString("PASSERELLE_DB_SSLROOTCERT"),
            poolSize: try e.int("PASSERELLE_DB_POOL_SIZE", default: 8))
        // Anything under PASSERELLE_KAFKA_PROPERTY_<NAME> becomes librdkafka property <name>
        // (underscores to dots): security.protocol, sasl.mechanisms, ssl.ca.location, …
        var properties: [String: String] = [:]
        for (key, value) in e.values where key.hasPrefix("PASSERELLE_KAFKA_PROPERTY_") {
            properties[key.dropFirst("PASSERELLE_KAFKA_PROPERTY_".count).lowercased().replacingOccurrences(of: "_", with: ".")] = value
        }
        if let password = try e.secret("PASSERELLE_KAFKA_SASL_PASSWORD") { properties["sasl.password"] = password }
        let kafka = KafkaConfiguration(
            bootstrapServers: e.string("PASSERELLE_KAFKA_BOOTSTRAP", default: "127.0.0.1:59092"),
            clientID: "passerelle-\(service)", properties: properties)
        let consumerConcurrency = try e.int("PASSERELLE_CONSUMER_CONCURRENCY", default: 4)
        guard (1...64).contains(consumerConcurrency) else {
            throw ConfigurationError(variable: "PASSERELLE_CONSUMER_CONCURRENCY", problem: "must be between 1 and 64, not \(consumerConcurrency)")
        }
        let partitions = try e.int("PASSERELLE_TOPIC_PARTITIONS", default: TopicName.defaultPartitions)
        guard (1...1_000).contains(partitions) else {
            throw ConfigurationError(variable: "PASSERELLE_TOPIC_PARTITIONS", problem: "must be between 1 and 1000, not \(partitions)")
        }
        let level = e.string("PASSERELLE_LOG_LEVEL", default: "info")
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError(
                variable: "PASSERELLE_LOG_LEVEL", problem: "\"\(level)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        return ServiceSettings(
            serviceName: service,
            httpHost: e.string("PASSERELLE_HTTP_HOST", default: "127.0.0.1"),
            httpPort: try e.int("PASSERELLE_HTTP_PORT", default: defaultPort),
            postgres: postgres, kafka: kafka,
            topics: TopicNames(prefix: e.string("PASSERELLE_TOPIC_PREFIX", default: ""), partitions: partitions),
            consumerGroup: e.optionalString("PASSERELLE_CONSUMER_GROUP"),
            consumerConcurrency: consumerConcurrency,
            auth: try AuthSettings.fromEnvironment(e),
            logLevel: logLevel,
            migrateOnStart: e.string("PASSERELLE_MIGRATE_ON_START", default: "true") == "true",
            environment: e)
    }
}
