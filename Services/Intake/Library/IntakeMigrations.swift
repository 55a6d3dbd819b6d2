import Messaging
import PostgresClient

enum IntakeMigrations {
    static let all: [Migration] = [
        MessagingSchema.migration,
        Migration(2, "clients_and_referrals", """
            CREATE TABLE client (
                id uuid PRIMARY KEY,
                -- normalised name + birth date + postal code: one client, however often referred
                identity_key text NOT NULL UNIQUE,
                given_name text NOT NULL,
                family_name text NOT NULL,
                birth_date date NOT NULL,
                phone text,
                email text,
                preferred_language text NOT NULL,
                postal_code text,
                latitude double precision,
                longitude double precision,
                accessibility_needs text[] NOT NULL DEFAULT '{}',
                preferred_channel text NOT NULL,
                consent_contact boolean NOT NULL,
                consent_share_with_partners boolean NOT NULL,
                consent_evaluation_use boolean NOT NULL,
                sociodemographics jsonb,
                version integer NOT NULL DEFAULT 1,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE referral (
                id uuid PRIMARY KEY,
                external_id text UNIQUE,
                client_id uuid NOT NULL REFERENCES client (id) ON DELETE CASCADE,
                referrer_id text NOT NULL,
                referrer_role text NOT NULL,
                referrer_organisation text,
                site text NOT NULL,
                needs text[] NOT NULL CHECK (cardinality(needs) > 0),
                interests text[] NOT NULL DEFAULT '{}',
                support_level text NOT NULL,
                priority text NOT NULL,
                notes text,
                screening_answers jsonb NOT NULL DEFAULT '{}',
                status text NOT NULL,
                status_before_hold text,
                version integer NOT NULL,
                received_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE INDEX referral_inbox ON referral (site, status, priority, received_at);

            CREATE TABLE referral_status_history (
                referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
                version integer NOT NULL,
                from_status text,
                to_status text NOT NULL,
                action text,
                actor_id text NOT NULL,
                actor_role text NOT NULL,
                reason text,
                outcome text,
                request_id text,
                changed_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (referral_id, version)
            );

            -- A retried POST with the same key returns the first result.
            CREATE TABLE idempotency_key (
                key text PRIMARY KEY,
                referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            """),
        auditAndInbox,
        fhirPatients,
        MessagingSchema.wakeUpsAfterCommit(version: 5),
    ]
}

extension IntakeMigrations {
    static let auditAndInbox = Migration(3, "audit", """
        -- Who read or changed which referral, when, from which request.
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor_id text NOT NULL,
            actor_roles text NOT NULL,
            action text NOT NULL,
            referral_id uuid,
            client_id uuid,
            request_id text
        );
        CREATE INDEX audit_log_referral ON audit_log (referral_id, at);
        CREATE INDEX referral_referrer ON referral (referrer_id, received_at);
        """)
}

extension IntakeMigrations {
    static let fhirPatients = Migration(4, "fhir_patient", """
        -- Patients posted before the ServiceRequest that references them.
        CREATE TABLE fhir_patient (
            id text PRIMARY KEY,
            resource jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """)
}
