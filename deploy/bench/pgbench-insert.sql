-- The baseline: one plain single-row insert transaction, as intake's unit of work is one
-- transaction (referral + client + history + outbox rows).
INSERT INTO bench.plain_insert (id, payload, created_at) VALUES (gen_random_uuid(), 'referral', now());
