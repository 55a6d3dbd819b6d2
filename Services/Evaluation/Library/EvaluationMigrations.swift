import PostgresClient

enum EvaluationMigrations {
    static let pathwayDetail = Migration(3, "pathway_detail_and_outcomes", """
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
}
