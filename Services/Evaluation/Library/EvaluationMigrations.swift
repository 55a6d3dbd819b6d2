import Messaging
import PostgresClient

enum EvaluationMigrations {
    /// The schema, in order.
    static let all: [Migration] = [
        MessagingSchema.migration,
        Migration(
            2, "pathway",
            """
            CREATE TABLE pathway (
                referral_id uuid PRIMARY KEY,
                pathway_version integer NOT NULL,
                client_id uuid NOT NULL,
                site text NOT NULL,
                referrer_role text NOT NULL,
                needs text[] NOT NULL,
                support_level text NOT NULL,
                priority text NOT NULL,
                status text NOT NULL,
                age_band text NOT NULL,
                area text,
                consent_evaluation_use boolean NOT NULL,
                received_at timestamptz NOT NULL
            );
            """),
        pathwayDetail,
        serviceUse,
        pathwayRecord,
        sociodemographics,
        MessagingSchema.wakeUpsAfterCommit(version: 7),
        quasiIdentifiers,
        MessagingSchema.publicationRecord(version: 9),
        casework,
    ]

    /// Casework "dosage" per pathway, from intake's contact and goal events: counts, minutes and
    /// goal progress codes, nothing a person wrote.
    static let casework = Migration(
        10, "pathway_casework",
        """
        ALTER TABLE pathway
            ADD COLUMN contacts_logged integer NOT NULL DEFAULT 0,
            ADD COLUMN contacts_reached integer NOT NULL DEFAULT 0,
            ADD COLUMN contact_minutes integer NOT NULL DEFAULT 0,
            ADD COLUMN goal_ids text[] NOT NULL DEFAULT '{}',
            ADD COLUMN goal_start_progress text[] NOT NULL DEFAULT '{}',
            ADD COLUMN goal_progress text[] NOT NULL DEFAULT '{}';
        """)

    /// How many consenting clients share a pathway's site, age band, language and area is
    /// counted each time it reaches the analyst stream.
    static let quasiIdentifiers = Migration(
        8, "pathway_quasi_identifiers",
        """
        CREATE INDEX pathway_quasi_identifiers ON pathway (site, age_band, language, area) INCLUDE (client_id) WHERE consent_evaluation_use;
        """)

    static let pathwayDetail = Migration(
        3, "pathway_detail_and_outcomes",
        """
        ALTER TABLE pathway
            ADD COLUMN accepted_at timestamptz,
            ADD COLUMN first_contact_at timestamptz,
            ADD COLUMN connected_at timestamptz,
            ADD COLUMN closed_at timestamptz,
            ADD COLUMN closure_outcome text,
            ADD COLUMN closure_reason text,
            ADD COLUMN connection_count integer NOT NULL DEFAULT 0,
            ADD COLUMN connected_resource_kind text;

        CREATE TABLE unmet_need (
            referral_id uuid NOT NULL,
            category text NOT NULL,
            site text NOT NULL,
            area text,
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (referral_id, category)
        );

        -- Scored server-side; one answer set per instrument and timepoint.
        CREATE TABLE outcome_measure (
            referral_id uuid NOT NULL,
            instrument text NOT NULL,
            timepoint text NOT NULL CHECK (timepoint IN ('baseline', 'follow-up-6w', 'follow-up-12w', 'closure')),
            answers integer[] NOT NULL,
            scores jsonb NOT NULL,
            recorded_by text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (referral_id, instrument, timepoint)
        );
        """)

    static let serviceUse = Migration(
        4, "service_use",
        """
        -- Visits in the six months before and after the referral; NULL is "not known", not zero.
        CREATE TABLE service_use (
            referral_id uuid NOT NULL,
            period text NOT NULL CHECK (period IN ('before', 'after')),
            primary_care_visits integer CHECK (primary_care_visits >= 0),
            emergency_visits integer CHECK (emergency_visits >= 0),
            recorded_by text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (referral_id, period)
        );
        """)

    /// The pathway as the shared reducer writes it: sociodemographics only while consented,
    /// the referrer (to count referrers), the connected categories, and when it last changed.
    static let pathwayRecord = Migration(
        5, "pathway_record",
        """
        ALTER TABLE pathway
            ALTER COLUMN age_band DROP NOT NULL,
            ADD COLUMN referrer_id text,
            ADD COLUMN language text,
            ADD COLUMN connected_categories text[],
            ADD COLUMN updated_at timestamptz;
        UPDATE pathway SET updated_at = received_at,
            age_band = CASE WHEN consent_evaluation_use THEN age_band END,
            area = CASE WHEN consent_evaluation_use THEN area END;
        ALTER TABLE pathway ALTER COLUMN updated_at SET NOT NULL;
        CREATE INDEX pathway_site_received ON pathway (site, received_at);
        CREATE INDEX pathway_received ON pathway (received_at);
        """)

    /// Sociodemographics for equity analysis, from `referral.received` when consented.
    static let sociodemographics = Migration(
        6, "pathway_sociodemographics",
        """
        ALTER TABLE pathway
            ADD COLUMN gender text,
            ADD COLUMN income_band text,
            ADD COLUMN newcomer text,
            ADD COLUMN disability text,
            ADD COLUMN racial_ethnic_group text;
        """)
}
