import Messaging
import PostgresClient

enum MatchingMigrations {
    static let catalogue = Migration(3, "catalogue_and_assignment", """
        -- The asset inventory, after the Open Referral HSDS service model.
        CREATE TABLE community_resource (
            id uuid PRIMARY KEY,
            organisation text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('internal-program', 'health-champion-group', 'external-partner')),
            categories text[] NOT NULL CHECK (cardinality(categories) > 0),
            description text NOT NULL DEFAULT '',
            languages text[] NOT NULL,
            interpretation_available boolean NOT NULL DEFAULT false,
            delivery text[] NOT NULL,
            address text,
            latitude double precision,
            longitude double precision,
            schedule text,
            weekdays integer[] NOT NULL DEFAULT '{}',
            minimum_age integer,
            maximum_age integer,
            areas text[] NOT NULL DEFAULT '{}',
            eligibility_notes text,
            cost text,
            accessibility text[] NOT NULL DEFAULT '{}',
            seats integer CHECK (seats IS NULL OR seats >= 0),
            seats_taken integer NOT NULL DEFAULT 0,
            waitlist_allowed boolean NOT NULL DEFAULT false,
            tags text[] NOT NULL DEFAULT '{}',
            contact text,
            active boolean NOT NULL DEFAULT true,
            last_verified date,
            updated_at timestamptz NOT NULL DEFAULT now(),
            -- Never more seats taken than there are, whatever the concurrency.
            CHECK (seats IS NULL OR seats_taken <= seats)
        );
        CREATE INDEX community_resource_categories ON community_resource USING gin (categories) WHERE active;

        CREATE TABLE link_worker (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            site text NOT NULL,
            languages text[] NOT NULL,
            caseload_capacity integer NOT NULL CHECK (caseload_capacity > 0),
            current_caseload integer NOT NULL DEFAULT 0 CHECK (current_caseload >= 0),
            active boolean NOT NULL DEFAULT true
        );
        CREATE INDEX link_worker_site ON link_worker (site) WHERE active;

        -- One assignment per referral, however often its event is delivered.
        CREATE TABLE assignment (
            referral_id uuid PRIMARY KEY,
            link_worker_id uuid NOT NULL REFERENCES link_worker (id),
            assigned_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE referral_match (
            referral_id uuid NOT NULL,
            rank integer NOT NULL,
            resource_id uuid NOT NULL,
            score double precision NOT NULL,
            reasons text[] NOT NULL,
            proposed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (referral_id, rank)
        );
        """)
}

extension MatchingMigrations {
    static let connections = Migration(4, "connections", """
        -- Referral ↔ resource, from proposal to attendance; an open connection holds a seat.
        CREATE TABLE connection (
            id uuid PRIMARY KEY,
            referral_id uuid NOT NULL,
            resource_id uuid NOT NULL REFERENCES community_resource (id),
            status text NOT NULL,
            reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX connection_referral ON connection (referral_id);
        """)
}

extension MatchingMigrations {
    static let assignmentRelease = Migration(5, "assignment_release", """
        -- When the referral closed: its link worker's caseload went down once, at that moment.
        ALTER TABLE assignment ADD COLUMN released_at timestamptz;
        """)
}
