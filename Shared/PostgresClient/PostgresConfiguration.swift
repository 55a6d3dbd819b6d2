/// How to reach PostgreSQL. Everything libpq needs, passed as keyword/value pairs (never as an
/// interpolated conninfo string), so no value can inject another keyword.
public struct PostgresConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String?
    /// The schema this service owns; it becomes the connection's `search_path`.
    public var schema: String?
    public var applicationName: String
    /// libpq `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
    public var sslMode: String
    public var sslRootCertificate: String?
    public var connectTimeoutSeconds: Int
    /// Server-side bound on any single statement; a hung query cannot pin a pooled connection forever.
    public var statementTimeoutMilliseconds: Int?
    /// Server-side bound on a transaction left idle: a session whose client vanished without the
    /// server seeing it (a proxy or NAT dropping one side) would otherwise keep its transaction and
    /// row locks until TCP keepalive notices, two hours by default; an outbox relay round's rows
    /// would stay locked and the outbox stopped without an error.
    public var idleInTransactionTimeoutMilliseconds: Int?
    public var poolSize: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 5432,
        database: String = "passerelle",
        user: String = "postgres",
        password: String? = nil,
        schema: String? = nil,
        applicationName: String = "passerelle",
        sslMode: String = "prefer",
        sslRootCertificate: String? = nil,
        connectTimeoutSeconds: Int = 5,
        statementTimeoutMilliseconds: Int? = 30_000,
        idleInTransactionTimeoutMilliseconds: Int? = 120_000,
        poolSize: Int = 8
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.schema = schema
        self.applicationName = applicationName
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.idleInTransactionTimeoutMilliseconds = idleInTransactionTimeoutMilliseconds
        self.poolSize = poolSize
    }

    /// The keyword/value pairs handed to `PQconnectdbParams`.
    var connectionParameters: [(String, String)] {
        var options = ["-c TimeZone=UTC", "-c DateStyle=ISO", "-c client_min_messages=warning"]
        if let schema { options.append("-c search_path=\(schema)") }
        if let statementTimeoutMilliseconds { options.append("-c statement_timeout=\(statementTimeoutMilliseconds)") }
        if let idleInTransactionTimeoutMilliseconds {
            options.append("-c idle_in_transaction_session_timeout=\(idleInTransactionTimeoutMilliseconds)")
        }
        var pairs: [(String, String)] = [
            ("host", host),
            ("port", String(port)),
            ("dbname", database),
            ("user", user),
            ("application_name", applicationName),
            ("sslmode", sslMode),
            ("connect_timeout", String(connectTimeoutSeconds)),
            ("client_encoding", "UTF8"),
            ("options", options.joined(separator: " ")),
            // The client side's own check: a server gone without a reset is noticed in about a minute.
            ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ]
        if let password { pairs.append(("password", password)) }
        if let sslRootCertificate { pairs.append(("sslrootcert", sslRootCertificate)) }
        return pairs
    }

    /// Schema and role names are identifiers we put in SQL ourselves; only plain ones are allowed.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
        return name.count <= 63 && name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}
