import Messaging
import PostgresClient

enum NotificationMigrations {
    /// The schema, in order.
    static let all: [Migration] = [
        MessagingSchema.migration, audience, delivery, wakeUpsAfterCommit, erasedClients, MessagingSchema.publicationRecord(version: 6),
        coordinators,
    ]

    /// Coordinators, registered per site by that site's coordinators: a recipient of kind
    /// `coordinator` belongs to one site and its id is `<site>/<their id>`, so one site's
    /// registration can never redirect another site's messages. Erased referrals are remembered
    /// by id, so an occasion arriving after the erasure is dropped instead of parked for ever.
    static let coordinators = Migration(
        7, "site_coordinators",
        """
        ALTER TABLE recipient DROP CONSTRAINT recipient_kind_check;
        ALTER TABLE recipient ADD CONSTRAINT recipient_kind_check CHECK (kind IN ('link-worker', 'referrer', 'partner', 'coordinator'));
        ALTER TABLE recipient ADD COLUMN site text;
        ALTER TABLE recipient ADD CONSTRAINT recipient_site_check
            CHECK ((kind = 'coordinator') = (site IS NOT NULL) AND (site IS NULL OR starts_with(id, site || '/')));
        CREATE INDEX recipient_site ON recipient (site, id) WHERE site IS NOT NULL;

        CREATE TABLE erased_referral (
            referral_id uuid PRIMARY KEY,
            erased_at timestamptz NOT NULL
        );
        """)

    /// Clients erased, by id only: a profile that arrives after the erasure (the clients topic
    /// and the referrals topic are not ordered with each other) or a replay must not bring
    /// their contact details back.
    static let erasedClients = Migration(
        5, "erased_clients",
        """
        CREATE TABLE erased_client (
            client_id uuid PRIMARY KEY,
            erased_at timestamptz NOT NULL
        );
        """)

    /// Who may be told about each referral, and how: flags only, no contact details.
    static let audience = Migration(
        2, "referral_audience",
        """
        CREATE TABLE referral_audience (
            referral_id uuid PRIMARY KEY,
            referral_version integer NOT NULL,
            client_id uuid NOT NULL,
            site text NOT NULL,
            referrer_id text NOT NULL,
            priority text NOT NULL,
            preferred_language text NOT NULL,
            preferred_channel text NOT NULL,
            consent_contact boolean NOT NULL,
            consent_share_with_partners boolean NOT NULL,
            received_at timestamptz NOT NULL
        );
        """)

    /// Contacts, templates, recipients, site policies and the notifications themselves.
    static let delivery = Migration(
        3, "delivery",
        """
        ALTER TABLE referral_audience ADD COLUMN link_worker_id uuid, ADD COLUMN needs text[] NOT NULL DEFAULT '{}';

        -- The client's identity and contact, from the compacted clients topic: the only copy of
        -- contact details in this schema, deleted when the client is erased.
        CREATE TABLE client_contact (
            client_id uuid PRIMARY KEY,
            client_version integer NOT NULL,
            given_name text NOT NULL,
            family_name text NOT NULL,
            phone text,
            email text,
            preferred_language text NOT NULL,
            preferred_channel text NOT NULL,
            consent_contact boolean NOT NULL,
            consent_share_with_partners boolean NOT NULL,
            updated_at timestamptz NOT NULL
        );

        -- Partner endpoints, configured by coordinators; the secret signs every delivery.
        CREATE TABLE webhook_target (
            id text PRIMARY KEY,
            url text NOT NULL,
            secret text NOT NULL,
            description text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        -- Staff and partners the service can reach: link workers, referrers, community partners.
        CREATE TABLE recipient (
            kind text NOT NULL CHECK (kind IN ('link-worker', 'referrer', 'partner')),
            id text NOT NULL,
            display_name text NOT NULL,
            email text,
            phone text,
            webhook_target text REFERENCES webhook_target (id),
            language text NOT NULL,
            channel text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
            PRIMARY KEY (kind, id)
        );

        CREATE TABLE site_policy (
            site text PRIMARY KEY,
            default_language text NOT NULL,
            time_zone text NOT NULL,
            quiet_start time,
            quiet_end time
        );

        CREATE TABLE template (
            key text NOT NULL,
            language text NOT NULL,
            channel text NOT NULL CHECK (channel IN ('email', 'text')),
            subject text,
            body text NOT NULL,
            html text,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (key, language, channel)
        );

        CREATE TABLE notification (
            id uuid PRIMARY KEY,
            referral_id uuid NOT NULL,
            source_event_id uuid NOT NULL,
            recipient_kind text NOT NULL,
            recipient_id text NOT NULL,
            template text NOT NULL,
            -- Language, channel and address are resolved when the message is sent, so a change
            -- of contact or consent in between takes effect; the address is cleared on erasure.
            language text,
            channel text,
            address text,
            -- Facts from the event the template needs; names and contacts are read at sending.
            facts jsonb NOT NULL,
            status text NOT NULL CHECK (status IN ('pending', 'deferred', 'sending', 'sent', 'failed', 'withheld')),
            attempts integer NOT NULL DEFAULT 0,
            not_before timestamptz NOT NULL,
            lease_until timestamptz,
            last_error text,
            created_at timestamptz NOT NULL,
            sent_at timestamptz,
            updated_at timestamptz NOT NULL
        );
        -- Occasions that arrived before the referral they concern (topics are not ordered
        -- with each other); planned when the referral arrives.
        CREATE TABLE parked_occasion (
            source_event_id uuid PRIMARY KEY,
            referral_id uuid NOT NULL,
            occasion jsonb NOT NULL,
            parked_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX parked_occasion_referral ON parked_occasion (referral_id);

        CREATE INDEX notification_due ON notification (not_before) WHERE status IN ('pending', 'deferred', 'sending');
        CREATE INDEX notification_referral ON notification (referral_id, created_at);

        -- Wakes the delivery loop of every replica when work arrives.
        CREATE FUNCTION notification_wake() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_TABLE_SCHEMA || '_notification', '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER notification_wake AFTER INSERT ON notification FOR EACH STATEMENT EXECUTE FUNCTION notification_wake();
        """)

    /// The planner asks for the delivery loop's wake-up after its commit, as writers of the
    /// outbox do (`MessagingSchema.wakeUpsAfterCommit`), instead of a trigger notifying inside it.
    static let wakeUpsAfterCommit = Migration(
        4, "wake_ups_after_commit",
        MessagingSchema.wakeUpsAfterCommit(version: 4).sql + """
            DROP TRIGGER IF EXISTS notification_wake ON notification;
            DROP FUNCTION IF EXISTS notification_wake();
            """)
}
