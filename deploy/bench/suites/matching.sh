#!/usr/bin/env bash
# Matching: time to rank one referral against catalogues of 1,000, 10,000 and 100,000
# resources (in memory, as each replica does once its catalogue is loaded), and referrals
# matched per second end to end (consume, rank, check capacity, assign, write matches and
# events) with one and two replicas of the release executable in one consumer group.
# Each figure is the median of RUNS runs (default 3) with the spread (min–max). Prints a
# Markdown section; deploy/bench/run.sh stores it. Talks to 127.0.0.1 only, on a schema,
# topic prefix and consumer group of its own, removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
runs=${RUNS:-3}
referrals=${REFERRALS:-3000}
catalogue=${CATALOGUE:-10000}
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres
psql_admin=(psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)

bin=$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)
for product in passerelle-matching passerelle-bench; do
  [ -x "$bin/$product" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product "$product" >/dev/null)
done

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }
field() { sed -E "s/.*$1=([0-9.]+).*/\1/"; }

# ---- Ranking one referral ---------------------------------------------------------------------
declare -A p50 p99
for _ in $(seq 1 "$runs"); do
  while read -r line; do
    size=$(field resources <<<"$line")
    p50[$size]+="$(field p50_us <<<"$line") "
    p99[$size]+="$(field p99_us <<<"$line") "
  done < <("$bin/passerelle-bench" rank --sizes 1000,10000,100000 --referrals 2000 | grep '^RESULT')
done

# ---- Throughput with one and two replicas -----------------------------------------------------
schema=matching_bench
export PASSERELLE_DB_USER=postgres PASSERELLE_DB_PASSWORD=postgres PASSERELLE_DB_SCHEMA=$schema PASSERELLE_DB_POOL_SIZE=8
export PASSERELLE_LOG_LEVEL=warning PASSERELLE_JWT_HS256_SECRET=bench-GKLBEh6xnLPAmjSvE09o1ni2l5SsJJPVJJyIFLCznstmR7Po PASSERELLE_JWT_ISSUER=passerelle-bench PASSERELLE_JWT_AUDIENCE=passerelle
export PASSERELLE_KAFKA_PROPERTY_SESSION_TIMEOUT_MS=6000 PASSERELLE_KAFKA_PROPERTY_MAX_POLL_INTERVAL_MS=10000
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
}
trap cleanup EXIT

declare -A rates
for replicas in 1 2; do
  for run in $(seq 1 "$runs"); do
    # A fresh schema, topics and group each run, so earlier events are not replayed.
    "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
    export PASSERELLE_TOPIC_PREFIX="bench-matching-$replicas-$run-$$."
    export PASSERELLE_CONSUMER_GROUP="bench-matching-$replicas-$run-$$"
    "$bin/passerelle-matching" migrate >/dev/null
    "$bin/passerelle-matching" create-topics >/dev/null
    "$bin/passerelle-bench" feed-matching --resources "$catalogue" >/dev/null
    servers=()
    for replica in $(seq 1 "$replicas"); do
      PASSERELLE_HTTP_PORT=$((18181 + replica)) "$bin/passerelle-matching" serve >> "/tmp/passerelle-bench-matching-$replica.log" 2>&1 &
      servers+=($!)
    done
    # Every replica in the group and handling events before the clock starts.
    "$bin/passerelle-bench" feed-matching --referrals $((40 * replicas)) --timeout 120 >/dev/null
    sleep 3
    line=$("$bin/passerelle-bench" feed-matching --referrals "$referrals" --timeout 600 | grep '^RESULT')
    rates[$replicas]+="$(field rate <<<"$line") "
    for pid in "${servers[@]}"; do kill "$pid"; done
    for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
    servers=()
  done
done

cat <<EOF2
## Matching: ranking time and referrals matched per second

Ranking one referral (\`passerelle-bench rank\`, release build): a made-up catalogue around Ottawa
(1–3 need categories per resource out of 23, languages, ages, areas, accessibility, seats, interests, schedules),
2,000 made-up referrals per size, timed one by one in memory: category index, hard filters, scoring of what can
still reach the top 5, reasons for the top 5. The target is p99 < 5 ms at 100,000 resources.

| resources | p50 µs (spread) | p99 µs (spread) |
|---|---|---|
EOF2
for size in 1000 10000 100000; do
  printf '| %s | %s (%s) | %s (%s) |\n' "$size" \
    "$(tr ' ' '\n' <<<"${p50[$size]}" | grep . | median)" "$(tr ' ' '\n' <<<"${p50[$size]}" | grep . | spread)" \
    "$(tr ' ' '\n' <<<"${p99[$size]}" | grep . | median)" "$(tr ' ' '\n' <<<"${p99[$size]}" | grep . | spread)"
done
cat <<EOF2

Referrals matched per second: $referrals referral.received events sent at once to the release executable(s) in one
consumer group (12 partitions), timed until every referral is assigned in PostgreSQL; each referral is one
transaction (dedup record, referral row, catalogue version and seats check, top 5 against a $catalogue-resource
catalogue, link-worker assignment under row locks across 8 sites, matches, two or three outbox events), then the
relay publishes. The target is two replicas at ≥ 1.7× one when CPU allows.

| replicas | referrals/s (spread) | ratio to one |
|---|---|---|
EOF2
one=$(tr ' ' '\n' <<<"${rates[1]}" | grep . | median)
for replicas in 1 2; do
  rate=$(tr ' ' '\n' <<<"${rates[$replicas]}" | grep . | median)
  printf '| %s | %s (%s) | %s× |\n' "$replicas" "$rate" "$(tr ' ' '\n' <<<"${rates[$replicas]}" | grep . | spread)" \
    "$(awk -v a="$rate" -v b="$one" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
done
