import PostgresClient

/// The tables every service's schema has for reliable messaging: the transactional outbox
/// and the processed-event record of idempotent consumers. Each service lists this migration
/// first (version 1) and numbers its own from 2.
public enum MessagingSchema {
    public static let migration = Migration(
        1, "messaging_tables",
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            event_type text NOT NULL,
            topic text NOT NULL,
            record_key text NOT NULL,
            headers jsonb NOT NULL,
            -- JSON body; NULL publishes a tombstone (compacted topics).
            payload text,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            sent_at timestamptz,
            attempts integer NOT NULL DEFAULT 0,
            last_error text
        );
        CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

        -- Wakes the relay when a transaction that wrote to the outbox commits (a hint; it also polls).
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

        CREATE TABLE processed_events (
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            record_offset bigint NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (consumer, event_id)
        );
        """)

    /// Drops the trigger that notified the relay from inside each writing transaction: writers
    /// now ask for the wake-up after their commit (`Outbox.wakeUpChannel`), which keeps
    /// PostgreSQL from serialising their commits. Each service adds it with its next version.
    public static func wakeUpsAfterCommit(version: Int) -> Migration {
        Migration(
            version, "outbox_wake_ups_after_commit",
            """
            DROP TRIGGER IF EXISTS outbox_notify ON outbox;
            DROP FUNCTION IF EXISTS outbox_notify();
            """)
    }

    /// What the outbox keeps about each row's publication: the partition and offset of the
    /// broker's acknowledgement (set from the delivery report, with `sent_at`), so a reader of
    /// the topic can prove a row published, or prove the broker lost what it acknowledged; and
    /// the dead-letter state of rows that can never be published (`dead_lettered_at`, with
    /// `refusals` counting the refusals that are not mere unavailability); and the indexes the
    /// relay's purge reads. Each service adds it with its next version.
    public static func publicationRecord(version: Int) -> Migration {
        Migration(
            version, "outbox_publication_record",
            """
            ALTER TABLE outbox ADD COLUMN sent_partition integer, ADD COLUMN sent_offset bigint,
                ADD COLUMN refusals integer NOT NULL DEFAULT 0, ADD COLUMN dead_lettered_at timestamptz;
            -- The relay reads rows neither sent nor dead-lettered, in id order.
            DROP INDEX outbox_unsent;
            CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL AND dead_lettered_at IS NULL;
            -- A key's later rows follow its dead letter: found by topic and key.
            CREATE INDEX outbox_dead_letters ON outbox (topic, record_key, id) WHERE dead_lettered_at IS NOT NULL;
            -- The purge of published rows, oldest first, and of processed events past their horizon.
            CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
            CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
            """)
    }

    /// The LISTEN channel of a schema's outbox.
    public static func channel(schema: String) -> String { schema + "_outbox" }
}
