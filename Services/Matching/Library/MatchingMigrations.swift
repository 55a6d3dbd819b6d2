import Messaging
import PostgresClient

enum MatchingMigrations {
    /// The schema, in order.
    static let all: [Migration] = [
        MessagingSchema.migration,
        Migration(
            2, "referral_intake",
            """
            -- What matching knows of each referral: the thin received event, latest version wins.
            CREATE TABLE referral_intake (
                referral_id uuid PRIMARY KEY,
                referral_version integer NOT NULL,
                site text NOT NULL,
                needs text[] NOT NULL,
                interests text[] NOT NULL,
                support_level text NOT NULL,
                priority text NOT NULL,
                preferred_language text NOT NULL,
                postal_area text,
                latitude double precision,
                longitude double precision,
                age_band text NOT NULL,
                received_at timestamptz NOT NULL
            );
            """),
        catalogue,
        connections,
        assignmentRelease,
        catalogueVersion,
        MessagingSchema.wakeUpsAfterCommit(version: 7),
        catalogueReview,
        rematchCaller,
        erasedReferrals,
        MessagingSchema.publicationRecord(version: 11),
        openingHours,
    ]

    static let catalogue = Migration(
        3, "catalogue_and_assignment",
        """
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
    static let connections = Migration(
        4, "connections",
        """
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
    static let assignmentRelease = Migration(
        5, "assignment_release",
        """
        -- When the referral closed: its link worker's caseload went down once, at that moment.
        ALTER TABLE assignment ADD COLUMN released_at timestamptz;
        """)
}

extension MatchingMigrations {
    /// Every column a match reads, i.e. all but the seats taken (which change with every
    /// connection and are checked in the database instead).
    static let catalogueColumns = """
        organisation, name, kind, categories, description, languages, interpretation_available, delivery, address, latitude,
        longitude, schedule, weekdays, minimum_age, maximum_age, areas, eligibility_notes, cost, accessibility, seats,
        waitlist_allowed, tags, contact, active, last_verified
        """

    static let catalogueVersion = Migration(
        6, "catalogue_version_and_sources",
        """
        -- Where a resource came from in an Open Referral HSDS directory: a re-import finds it by
        -- the service id and updates it; an export gives the ids back.
        CREATE TABLE catalogue_source (
            resource_id uuid PRIMARY KEY REFERENCES community_resource (id) ON DELETE CASCADE,
            service_id text NOT NULL UNIQUE,
            organisation_id text,
            location_id text
        );

        -- The catalogue's version, bumped in the transaction of any change to what matching
        -- reads, and announced on channel catalogue_<schema> at commit: every replica's
        -- in-memory catalogue compares versions before matching, so it is never stale.
        CREATE TABLE catalogue_version (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            version bigint NOT NULL
        );
        INSERT INTO catalogue_version (version) VALUES (1);

        CREATE FUNCTION catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            EXECUTE format('UPDATE %I.catalogue_version SET version = version + 1', TG_TABLE_SCHEMA);
            PERFORM pg_notify('catalogue_' || TG_TABLE_SCHEMA, '');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER community_resource_changed
            AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF \(catalogueColumns) ON community_resource
            FOR EACH STATEMENT EXECUTE FUNCTION catalogue_changed();

        -- What a rematch needs of the referral beyond the thin columns above.
        ALTER TABLE referral_intake ADD COLUMN accessibility_needs text[] NOT NULL DEFAULT '{}';

        -- A rematch request answered once per idempotency key: a retry gets the same answer
        -- and publishes nothing new.
        CREATE TABLE rematch (
            referral_id uuid NOT NULL,
            idempotency_key text NOT NULL,
            response jsonb NOT NULL,
            requested_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (referral_id, idempotency_key)
        );
        """)
}

extension MatchingMigrations {
    static let catalogueReview = Migration(
        8, "catalogue_review",
        """
        -- A directory's service that no crosswalk rule places imports uncategorised: searchable,
        -- never a candidate of automatic matching (it is in no category's list).
        ALTER TABLE community_resource DROP CONSTRAINT community_resource_categories_check;
        CREATE INDEX community_resource_uncategorised ON community_resource (id) WHERE cardinality(categories) = 0;

        -- What an import left for a coordinator to decide, kept until a later import settles it:
        -- the reasons, a placeholder organisation, language values that name no ISO 639
        -- language (as written), and the crosswalk rules that chose the need categories.
        ALTER TABLE catalogue_source
            ADD COLUMN review text[] NOT NULL DEFAULT '{}',
            ADD COLUMN placeholder_organisation boolean NOT NULL DEFAULT false,
            ADD COLUMN unread_languages text[] NOT NULL DEFAULT '{}',
            ADD COLUMN taxonomy_rules text[] NOT NULL DEFAULT '{}',
            ADD COLUMN imported_at timestamptz NOT NULL DEFAULT now();
        CREATE INDEX catalogue_source_review ON catalogue_source (resource_id) WHERE cardinality(review) > 0;
        """)
}

extension MatchingMigrations {
    static let rematchCaller = Migration(
        9, "rematch_caller",
        """
        -- A rematch's idempotency key is its caller's own (the token subject): the same key from
        -- another caller is another request, never a replay of someone else's answer. Answers kept
        -- from before have no caller and replay for nobody.
        ALTER TABLE rematch ADD COLUMN caller text NOT NULL DEFAULT '';
        ALTER TABLE rematch ALTER COLUMN caller DROP DEFAULT;
        ALTER TABLE rematch DROP CONSTRAINT rematch_pkey;
        ALTER TABLE rematch ADD PRIMARY KEY (referral_id, caller, idempotency_key);
        """)
}

extension MatchingMigrations {
    static let erasedReferrals = Migration(
        10, "erased_referrals",
        """
        -- Referrals whose client was erased: ids only. A received event for one of them (a
        -- redelivery, a replay of the topic from its beginning) is not recorded again.
        CREATE TABLE erased_referral (
            referral_id uuid PRIMARY KEY,
            erased_at timestamptz NOT NULL
        );
        """)
}

extension MatchingMigrations {
    static let openingHours = Migration(
        12, "opening_hours",
        """
        -- When a resource is open, day by day (objects weekday, opens_at, closes_at as "HH:MM"),
        -- for a search of what is open at a given moment. Matching does not rank on it: it is
        -- not among the columns whose change bumps the catalogue's version.
        ALTER TABLE community_resource ADD COLUMN opening_hours jsonb NOT NULL DEFAULT '[]';
        """)
}
