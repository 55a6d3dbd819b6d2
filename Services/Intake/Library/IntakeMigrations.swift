import Messaging
import PostgresClient

enum IntakeMigrations {
    static let all: [Migration] = [
        MessagingSchema.migration,
        Migration(
            2, "clients_and_referrals",
            """
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
        fhirTasksAndSubscriptions,
        fhirTaskConnections,
        requestsBelongToTheirCaller,
        ownersAndSites,
        casework,
        followUpClocks,
        patientsBelongToTheirClient,
        MessagingSchema.publicationRecord(version: 13),
        supportLevelRevisions,
    ]
}

extension IntakeMigrations {
    static let ownersAndSites = Migration(
        9, "owners_and_sites",
        """
        -- A Patient belongs to whoever posted it: one EHR's Patient/123 is not another's, and
        -- neither can overwrite or reference the other's. Patients posted before owners were kept
        -- belong to no caller (the EHR posts them again with its next referral).
        ALTER TABLE fhir_patient ADD COLUMN owner text NOT NULL DEFAULT '';
        ALTER TABLE fhir_patient ALTER COLUMN owner DROP DEFAULT;
        ALTER TABLE fhir_patient DROP CONSTRAINT fhir_patient_pkey;
        ALTER TABLE fhir_patient ADD PRIMARY KEY (owner, id);
        -- A subscriber may hold several sites; its notifications are bounded by all of them.
        ALTER TABLE fhir_subscription ADD COLUMN owner_sites text[] NOT NULL DEFAULT '{}';
        UPDATE fhir_subscription SET owner_sites = ARRAY[owner_site] WHERE owner_site IS NOT NULL;
        """)
}

extension IntakeMigrations {
    static let patientsBelongToTheirClient = Migration(
        12, "patients_belong_to_their_client",
        """
        -- Whom each posted Patient describes, so erasing the client erases it: the client its
        -- ServiceRequest was recorded for, and the identity it names (found even if no referral
        -- ever named it).
        ALTER TABLE fhir_patient ADD COLUMN client_id uuid REFERENCES client (id) ON DELETE CASCADE, ADD COLUMN identity_key text;
        CREATE INDEX fhir_patient_client ON fhir_patient (client_id);
        CREATE INDEX fhir_patient_identity ON fhir_patient (identity_key);
        """)
}

extension IntakeMigrations {
    static let requestsBelongToTheirCaller = Migration(
        8, "requests_belong_to_their_caller",
        """
        -- Who sent each referral (the token's subject): an external id repeated by its sender
        -- answers with the referral, by anyone else with a conflict that tells nothing of it.
        ALTER TABLE referral ADD COLUMN submitted_by text;
        UPDATE referral r SET submitted_by = (
            SELECT h.actor_id FROM referral_status_history h WHERE h.referral_id = r.id ORDER BY h.version LIMIT 1);

        -- An Idempotency-Key is its caller's own: the same key from another caller is another
        -- request, never an answer with someone else's referral.
        ALTER TABLE idempotency_key ADD COLUMN caller text;
        UPDATE idempotency_key k SET caller = coalesce(r.submitted_by, '') FROM referral r WHERE r.id = k.referral_id;
        ALTER TABLE idempotency_key ALTER COLUMN caller SET NOT NULL;
        ALTER TABLE idempotency_key DROP CONSTRAINT idempotency_key_pkey;
        ALTER TABLE idempotency_key ADD CONSTRAINT idempotency_key_pkey PRIMARY KEY (caller, key);
        """)
}

extension IntakeMigrations {
    static let auditAndInbox = Migration(
        3, "audit",
        """
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
    static let fhirPatients = Migration(
        4, "fhir_patient",
        """
        -- Patients posted before the ServiceRequest that references them.
        CREATE TABLE fhir_patient (
            id text PRIMARY KEY,
            resource jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """)
}

extension IntakeMigrations {
    static let fhirTasksAndSubscriptions = Migration(
        6, "fhir_tasks_and_subscriptions",
        """
        -- The FHIR Task of each referral that names a ServiceRequest (its id is the referral's),
        -- moved with the referral in the transaction that changes it.
        CREATE TABLE fhir_task (
            referral_id uuid PRIMARY KEY REFERENCES referral (id) ON DELETE CASCADE,
            service_request_id text NOT NULL UNIQUE,
            service_request jsonb,
            patient jsonb,
            requester jsonb NOT NULL,
            requested_service jsonb,
            submitted_by text NOT NULL,
            status text NOT NULL,
            business_status text NOT NULL,
            business_status_text text NOT NULL,
            status_reason text,
            outputs jsonb NOT NULL DEFAULT '[]',
            version integer NOT NULL,
            authored_on timestamptz NOT NULL,
            last_modified timestamptz NOT NULL
        );

        -- Referrals received before Tasks existed get theirs, at their current status.
        INSERT INTO fhir_task (referral_id, service_request_id, requester, submitted_by, status, business_status, business_status_text,
            status_reason, outputs, version, authored_on, last_modified)
        SELECT r.id, r.external_id, jsonb_build_object('display', r.referrer_id), r.referrer_id,
            CASE r.status WHEN 'received' THEN 'requested' ELSE r.status END, r.status, r.status, h.reason,
            CASE WHEN r.status = 'completed' AND h.outcome IS NOT NULL THEN jsonb_build_array(jsonb_build_object(
                'type', jsonb_build_object('coding', jsonb_build_array(jsonb_build_object(
                    'system', 'http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes', 'code', 'resulting-activity'))),
                'valueCodeableConcept', jsonb_build_object('text', h.outcome))) ELSE '[]'::jsonb END,
            1, r.received_at, r.updated_at
        FROM referral r
        LEFT JOIN LATERAL (SELECT reason, outcome FROM referral_status_history WHERE referral_id = r.id ORDER BY version DESC LIMIT 1) h ON true
        WHERE r.external_id IS NOT NULL;

        -- Topic-based subscriptions (FHIR R4 backport) with a rest-hook channel. The subscriber's
        -- identity is kept: it is notified only of Tasks it may read.
        CREATE TABLE fhir_subscription (
            id uuid PRIMARY KEY,
            owner_subject text NOT NULL,
            owner_roles text[] NOT NULL,
            owner_site text,
            topic text NOT NULL,
            filters jsonb NOT NULL DEFAULT '{}',
            endpoint text NOT NULL,
            secret text NOT NULL,
            headers text[] NOT NULL DEFAULT '{}',
            content text NOT NULL,
            reason text NOT NULL,
            status text NOT NULL,
            end_at timestamptz,
            events_since_start bigint NOT NULL DEFAULT 0,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        -- Notifications to send, written in the transaction of the change they announce
        -- (outbox-like): claimed with a lease, retried with backoff, each kept once sent.
        CREATE TABLE fhir_subscription_notification (
            id uuid PRIMARY KEY,
            subscription_id uuid NOT NULL REFERENCES fhir_subscription (id) ON DELETE CASCADE,
            kind text NOT NULL,
            event_number bigint,
            focus text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            lease_until timestamptz,
            attempts integer NOT NULL DEFAULT 0,
            sent_at timestamptz,
            given_up_at timestamptz,
            last_error text
        );
        CREATE INDEX fhir_subscription_notification_due ON fhir_subscription_notification (subscription_id, created_at)
            WHERE sent_at IS NULL AND given_up_at IS NULL;
        """)
}

extension IntakeMigrations {
    static let fhirTaskConnections = Migration(
        7, "fhir_task_connections",
        """
        -- What matching reports of each connection of a referral that has a Task (its events on the
        -- matching topic): the Task's output. The newest change of each connection wins.
        CREATE TABLE fhir_task_connection (
            connection_id uuid PRIMARY KEY,
            referral_id uuid NOT NULL REFERENCES fhir_task (referral_id) ON DELETE CASCADE,
            resource_name text,
            resource_kind text,
            state text NOT NULL,
            changed_at timestamptz NOT NULL
        );
        CREATE INDEX fhir_task_connection_referral ON fhir_task_connection (referral_id, changed_at);
        """)
}

extension IntakeMigrations {
    static let casework = Migration(
        10, "casework",
        """
        -- A link worker's casework, kept with the referral it belongs to (erasing the client
        -- deletes the referral, and this with it). Personal data: never copied onto a topic;
        -- events carry only the codes, counts and minutes.
        CREATE TABLE casework_contact (
            id uuid PRIMARY KEY,
            referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
            occurred_at timestamptz NOT NULL,
            mode text NOT NULL,
            party text NOT NULL,
            reached boolean NOT NULL,
            minutes integer NOT NULL CHECK (minutes BETWEEN 0 AND 600),
            note text,
            author_id text NOT NULL,
            -- A retried request with the same key logs the contact once (per caller and referral).
            idempotency_key text,
            logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            UNIQUE (referral_id, author_id, idempotency_key)
        );
        CREATE INDEX casework_contact_referral ON casework_contact (referral_id, occurred_at);

        -- "What matters to me", in the client's words.
        CREATE TABLE casework_plan (
            referral_id uuid PRIMARY KEY REFERENCES referral (id) ON DELETE CASCADE,
            what_matters text NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        );

        CREATE TABLE casework_goal (
            id uuid PRIMARY KEY,
            referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
            life_domain text NOT NULL,
            description text NOT NULL,
            progress text NOT NULL,
            set_by text NOT NULL,
            set_at timestamptz NOT NULL,
            reviewed_at timestamptz,
            idempotency_key text,
            UNIQUE (referral_id, set_by, idempotency_key)
        );
        CREATE INDEX casework_goal_referral ON casework_goal (referral_id, set_at);

        CREATE TABLE casework_goal_review (
            id bigserial PRIMARY KEY,
            goal_id uuid NOT NULL REFERENCES casework_goal (id) ON DELETE CASCADE,
            previous_progress text NOT NULL,
            progress text NOT NULL,
            note text,
            reviewed_by text NOT NULL,
            reviewed_at timestamptz NOT NULL
        );

        -- Private notes: the site's link workers and coordinators read them, no one else.
        CREATE TABLE casework_note (
            id uuid PRIMARY KEY,
            referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
            body text NOT NULL,
            author_id text NOT NULL,
            written_at timestamptz NOT NULL,
            idempotency_key text,
            UNIQUE (referral_id, author_id, idempotency_key)
        );
        CREATE INDEX casework_note_referral ON casework_note (referral_id, written_at);
        """)
}

extension IntakeMigrations {
    static let followUpClocks = Migration(
        11, "follow_up_clocks",
        """
        -- The link worker who accepted a referral: their caseload.
        ALTER TABLE referral ADD COLUMN owner_id text;
        UPDATE referral r SET owner_id = (
            SELECT h.actor_id FROM referral_status_history h WHERE h.referral_id = r.id AND h.action = 'accept' ORDER BY h.version DESC LIMIT 1);
        CREATE INDEX referral_owner ON referral (owner_id) WHERE owner_id IS NOT NULL;

        -- A site's clocks; sites without a row use the standard policy.
        CREATE TABLE follow_up_policy (
            site text PRIMARY KEY,
            first_contact_working_days integer NOT NULL,
            follow_up_weeks integer[] NOT NULL,
            max_hold_days integer NOT NULL,
            escalate_after_working_days integer NOT NULL,
            holidays text NOT NULL,
            time_zone text NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        );

        -- Each step a referral waits for, with its due and escalation times. The follow-up clock
        -- raises a step once when it falls due (overdue_at) and once when it is escalated
        -- (escalated_at); a step met or closed raises nothing more.
        CREATE TABLE follow_up_step (
            referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
            step text NOT NULL,
            opened_at timestamptz NOT NULL,
            due_at timestamptz NOT NULL,
            escalate_at timestamptz NOT NULL,
            met_at timestamptz,
            closed_at timestamptz,
            overdue_at timestamptz,
            escalated_at timestamptz,
            PRIMARY KEY (referral_id, step)
        );
        CREATE INDEX follow_up_step_due ON follow_up_step (due_at) WHERE met_at IS NULL AND closed_at IS NULL AND escalated_at IS NULL;
        """)
}

extension IntakeMigrations {
    static let supportLevelRevisions = Migration(
        14, "support_level_revisions",
        """
        -- Why a link worker changed a referral's support level after assessing the client: words
        -- about the person, kept here and deleted with the referral.
        CREATE TABLE support_level_revision (
            id bigserial PRIMARY KEY,
            referral_id uuid NOT NULL REFERENCES referral (id) ON DELETE CASCADE,
            previous_level text NOT NULL,
            level text NOT NULL,
            reason text NOT NULL,
            revised_by text NOT NULL,
            revised_at timestamptz NOT NULL
        );
        CREATE INDEX support_level_revision_referral ON support_level_revision (referral_id, id);
        """)
}
