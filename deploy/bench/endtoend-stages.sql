-- Where a referral's time goes in an end-to-end run, read from the timestamps each schema keeps
-- (p50 / p99 ms per stage, for the link worker's notification of each referral). Run by
-- suites/endtoend.sh with STAGES=1, before the run's schemas are dropped.
WITH received AS (
    SELECT event_id, record_key::uuid AS referral_id, created_at, sent_at
    FROM intake_e2e.outbox WHERE event_type = 'passerelle.referral.received.v1'
), assigned AS (
    SELECT event_id, record_key::uuid AS referral_id, created_at, sent_at
    FROM matching_e2e.outbox WHERE event_type = 'passerelle.referral.assigned.v1'
), path AS (
    SELECT r.created_at AS t0, r.sent_at AS t1, mp.processed_at AS t2, a.created_at AS t3, a.sent_at AS t4,
           np.processed_at AS t5, n.sent_at AS t6
    FROM received r
    JOIN matching_e2e.processed_events mp ON mp.event_id = r.event_id
    JOIN assigned a ON a.referral_id = r.referral_id
    JOIN notification_e2e.processed_events np ON np.event_id = a.event_id
    JOIN notification_e2e.notification n ON n.source_event_id = a.event_id AND n.recipient_kind = 'link-worker'
), stages(stage, ordinal, ms) AS (
    SELECT s.stage, s.ordinal, extract(epoch FROM s.finish - s.start) * 1000 FROM path,
    LATERAL (VALUES
        ('intake outbox relay (commit → acknowledged by the broker)', 1, t0, t1),
        ('broker → matching consumer', 2, t1, t2),
        ('matching transaction', 3, t2, t3),
        ('matching outbox relay', 4, t3, t4),
        ('broker → notification consumer', 5, t4, t5),
        ('notification: planned, claimed, rendered, webhook answered', 6, t5, t6),
        ('intake commit → webhook answered', 7, t0, t6)
    ) AS s(stage, ordinal, start, finish)
)
SELECT stage, count(*) AS referrals,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p99_ms
FROM stages GROUP BY stage, ordinal ORDER BY ordinal;
