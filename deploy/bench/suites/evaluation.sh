#!/usr/bin/env bash
# Evaluation: how fast `passerelle-evaluation rebuild` replays the topics into a fresh projection
# (events/s; target at least 20,000), and how long each programme report takes over 100,000
# pathways. Figures are medians of RUNS runs (default 3) with their spread (min–max).
# Own schema and topic prefix, dropped at the end; talks to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
runs=${RUNS:-3}
seeded=${PATHWAYS:-20000}
report_pathways=${REPORT_PATHWAYS:-100000}
port=${PASSERELLE_BENCH_PORT:-18084}
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres
psql_admin=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)

bin=$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)
for product in passerelle-evaluation passerelle-bench; do
  [ -x "$bin/$product" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product "$product" >/dev/null)
done

schema=evaluation_bench
prefix="bench-evaluation-$(date +%s)."
export PASSERELLE_DB_USER=postgres PASSERELLE_DB_PASSWORD=postgres PASSERELLE_DB_SCHEMA=$schema PASSERELLE_DB_POOL_SIZE=4
export PASSERELLE_HTTP_PORT=$port PASSERELLE_TOPIC_PREFIX=$prefix PASSERELLE_LOG_LEVEL=warning
export PASSERELLE_JWT_HS256_SECRET=bench-GKLBEh6xnLPAmjSvE09o1ni2l5SsJJPVJJyIFLCznstmR7Po PASSERELLE_JWT_ISSUER=passerelle-bench PASSERELLE_JWT_AUDIENCE=passerelle
export PASSERELLE_CONSUMER_GROUP=bench-evaluation
server=
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
  "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null || true
}
trap cleanup EXIT
"${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
"$bin/passerelle-evaluation" create-topics >/dev/null
"$bin/passerelle-evaluation" migrate >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -g | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }

# ---- Rebuild --------------------------------------------------------------------------------
seed_line=$("$bin/passerelle-bench" seed-evaluation-events --pathways "$seeded")
events=$(awk '{print $2}' <<<"$seed_line")
rates=(); times=(); reading=()
for _ in $(seq 1 "$runs"); do
  line=$("$bin/passerelle-evaluation" rebuild)
  times+=("$(sed -E 's/.* in ([0-9.]+) s:.*/\1/' <<<"$line")")
  rates+=("$(sed -E 's/.*: ([0-9]+) events\/s.*/\1/' <<<"$line")")
  reading+=("$(sed -E 's/.*\(reading ([0-9.]+) s,.*/\1/' <<<"$line")")
done

# ---- Reports over 100,000 pathways ---------------------------------------------------------
# The projection's rows are generated in SQL (generate_series): the reports read only the tables.
"${psql_admin[@]}" <<SQL >/dev/null
SET search_path TO $schema;
TRUNCATE pathway, unmet_need, outcome_measure, service_use;
INSERT INTO pathway (referral_id, pathway_version, client_id, site, referrer_id, referrer_role, needs, support_level, priority, status,
    age_band, area, language, consent_evaluation_use, received_at, accepted_at, first_contact_at, connected_at, closed_at, closure_outcome,
    connection_count, connected_resource_kind, updated_at)
SELECT md5('r' || i)::uuid, 4, md5('c' || (i % 80000))::uuid, (ARRAY['ottawa-west-chc','ottawa-east-chc','gatineau-clsc'])[1 + i % 3],
    'dr-' || (i % 55), 'physician', ARRAY[(ARRAY['loneliness','housing','food-security','mental-wellbeing','income'])[1 + i % 5]],
    (ARRAY['signposting','light','medium','holistic'])[1 + i % 4], 'routine',
    (ARRAY['received','accepted','in-progress','completed','completed','completed','rejected','failed'])[1 + i % 8],
    CASE WHEN i % 5 <> 0 THEN (ARRAY['18-24','25-44','45-64','65-74','75+'])[1 + i % 5] END,
    CASE WHEN i % 5 <> 0 THEN 'K' || (i % 9) || 'A' END, CASE WHEN i % 5 <> 0 THEN (ARRAY['fr','en'])[1 + i % 2] END,
    i % 5 <> 0, t, t + interval '2 hours', t + (i % 96) * interval '1 hour', CASE WHEN i % 8 >= 3 THEN t + (i % 300) * interval '1 hour' END,
    CASE WHEN i % 8 >= 3 THEN t + interval '40 days' END, 'connected', 1, 'health-champion-group', t
FROM generate_series(1, $report_pathways) AS i, LATERAL (SELECT timestamptz '2026-01-01' + i * interval '5 minutes' AS t) AS x;
INSERT INTO unmet_need SELECT referral_id, 'housing', site, area, received_at FROM pathway WHERE hashtext(referral_id::text) % 10 = 0;
INSERT INTO outcome_measure (referral_id, instrument, timepoint, answers, scores, recorded_by)
SELECT referral_id, 'ucla3', tp, '{2,2,2}', jsonb_build_object('total', CASE WHEN tp = 'baseline' THEN 8 ELSE 5 + abs(hashtext(referral_id::text)) % 4 END), 'bench'
FROM pathway, unnest(ARRAY['baseline', 'follow-up-12w']) AS tp WHERE status = 'completed';
INSERT INTO service_use (referral_id, period, primary_care_visits, emergency_visits, recorded_by)
SELECT referral_id, period, 3 + abs(hashtext(referral_id::text || period)) % 5, abs(hashtext(period || referral_id::text)) % 3, 'bench'
FROM pathway, unnest(ARRAY['before', 'after']) AS period WHERE status = 'completed';
ANALYZE pathway; ANALYZE unmet_need; ANALYZE outcome_measure; ANALYZE service_use;
SQL
"$bin/passerelle-evaluation" serve > /tmp/passerelle-bench-evaluation.log 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
# All sites at once: only a network-wide role reports on the whole network (an analyst's token is bounded by its sites).
token=$(python3 "$root/deploy/local/dev-token.py" --i-know-this-is-development --role network-coordinator --subject bench --minutes 60)

cat <<EOF
## Evaluation: rebuild speed and report latency

**Rebuild.** \`passerelle-bench seed-evaluation-events\` publishes $seeded scripted pathways ($events events on the
referrals and matching topics, 12 partitions each); \`passerelle-evaluation rebuild\` then reads them all from the
beginning (partitions assigned, no group to join), applies each event with the live consumer's code to an
in-memory projection (batches decoded on every core ahead of the one being applied, in order), then loads
fresh tables with COPY on one connection while, on another, one transaction catches up on the topics and records
every event as processed, and swaps the tables in. The first of the runs also inserts the 117,000 processed-event
rows (the consumer group has processed nothing yet); the later ones find them there, as a rebuild beside a live
service does. The time is the whole command from reading the first record to the commit. Target: at least 20,000
events/s.

| events | seconds (spread) | events/s (spread) | of which reading and applying, s (spread) |
|---|---|---|---|
| $events | $(printf '%s\n' "${times[@]}" | median) ($(printf '%s\n' "${times[@]}" | spread)) | $(printf '%s\n' "${rates[@]}" | median | awk '{printf "%.0f", $1}') ($(printf '%s\n' "${rates[@]}" | spread)) | $(printf '%s\n' "${reading[@]}" | median) ($(printf '%s\n' "${reading[@]}" | spread)) |

**Reports** over $report_pathways pathways (generated in SQL; 80,000 distinct clients; outcome measures and service
use for the completed ones): \`GET /v1/reports/<name>\` over HTTP with a network coordinator's token, all sites and the whole
period, without and with a breakdown by age band; milliseconds per request, $runs requests each after one warm-up.

| report | ms (spread) | by age band, ms (spread) |
|---|---|---|
EOF
for report in overview needs support-levels funnel completion timings outcomes service-use unmet-needs; do
  row="| $report"
  for by in "" "?by=age-band"; do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/reports/$report$by"
    ms=()
    for _ in $(seq 1 "$runs"); do
      ms+=("$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/reports/$report$by" | awk '{printf "%.1f", $1 * 1000}')")
    done
    row+=" | $(printf '%s\n' "${ms[@]}" | median) ($(printf '%s\n' "${ms[@]}" | spread))"
  done
  echo "$row |"
done
