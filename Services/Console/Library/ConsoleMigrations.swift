import PostgresClient

/// The console's own schema holds sessions only: no domain data lives here (the four services
/// own it and the console reads it through their APIs with the signed-in user's token).
public enum ConsoleMigrations {
    public static let all: [Migration] = [
        Migration(
            1, "sessions",
            """
            -- A signed-in browser. Only the SHA-256 of the cookie's value is kept, so a copy of this
            -- table does not hand out sessions.
            CREATE TABLE session (
                id_hash text PRIMARY KEY,
                subject text NOT NULL,
                display_name text NOT NULL,
                site text,
                roles text[] NOT NULL,
                access_token text NOT NULL,
                token_expires_at timestamptz NOT NULL,
                csrf_token text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                last_seen_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX session_last_seen ON session (last_seen_at);
            -- A sign-in under way: the PKCE verifier waits here for the provider's redirect back,
            -- keyed by the SHA-256 of the state that the browser also holds in a cookie.
            CREATE TABLE pending_sign_in (
                state_hash text PRIMARY KEY,
                code_verifier text NOT NULL,
                return_to text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            """)
    ]
}
