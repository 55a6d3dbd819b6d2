#!/usr/bin/env bash
# End to end with all four services: from `POST /v1/referrals` being sent to the link worker's
# notification webhook arriving at a local receiver, at a steady RATE referrals/s (default 200)
# for DURATION seconds (default 20); and each service's resident memory, idle and under that load.
# Each figure is the median of RUNS runs (default 3) with the spread; every run starts the four
# services afresh on schemas and a topic prefix of its own, seeded with the demo catalogue and
# link workers, and drops them at the end. Prints a Markdown section. Talks to 127.0.0.1 only and
# stops by itself. PASSERELLE_BENCH_BIN may name a folder of release executables to use as they are;
# STAGES=1 prints, after each run, how long each stage of the loop took (endtoend-stages.sql).
# RATES, PARTITIONS and FETCH_WAITS list what to measure (defaults: RATE or 200, 12 and 100): offered
# referrals/s, the partition count of the event topics, and the consumers' fetch.wait.max.ms (how
# long the broker may hold a fetch that found nothing). Each run takes every combination in turn,
# so a drift of the machine touches each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bench=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
seconds=${DURATION:-20}
read -ra rates <<<"${RATES:-${RATE:-200}}"
read -ra partition_counts <<<"${PARTITIONS:-12}"
read -ra fetch_waits <<<"${FETCH_WAITS:-100}"
configurations=()
for rate in "${rates[@]}"; do for partitions in "${partition_counts[@]}"; do for wait in "${fetch_waits[@]}"; do
  configurations+=("$partitions/$wait/$rate")
done; done; done
# The broker's CPU time so far (ms), to read what idle consumers cost it between two readings
# (when it runs on this machine).
broker_pid=$(pgrep -x tansu | head -1 || true)
broker_cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$broker_pid/stat"; }
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres PGOPTIONS='-c client_min_messages=warning'
psql_admin=(psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check confluent-kafka >/dev/null

if [ -n "${PASSERELLE_BENCH_BIN:-}" ]; then
  bin=$PASSERELLE_BENCH_BIN
else
  bin=$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)
  for service in intake matching notification evaluation; do
    [ -x "$bin/passerelle-$service" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product "passerelle-$service" >/dev/null)
  done
fi

services=(intake matching notification evaluation)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
drop_schemas() { "${psql_admin[@]}" -c "$(for s in "${services[@]}"; do printf 'DROP SCHEMA IF EXISTS %s_e2e CASCADE;' "$s"; done)" >/dev/null; }
stop_services() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
tansu=$("$root/deploy/local/tansu-path.sh")
prefixes=()
drop_topics() {
  local name
  for prefix in "${prefixes[@]}"; do
    for name in $("$tansu" topic list --broker "tcp://$PASSERELLE_KAFKA_BOOTSTRAP" 2>/dev/null | grep -o "\"name\":\"$prefix[^\"]*\"" | cut -d'"' -f4); do
      "$tansu" topic delete "$name" --broker "tcp://$PASSERELLE_KAFKA_BOOTSTRAP" >/dev/null 2>&1 || true
    done
  done
}
trap 'stop_services; drop_schemas; drop_topics' EXIT

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }
field() { sed -E "s/.*[ ]$1=([0-9.]+)(\/([0-9.]+))?.*/\\$2/" <<<"$3"; }

declare -A values
for run in $(seq 1 "$runs"); do
for configuration in "${configurations[@]}"; do
  IFS=/ read -r partitions wait rate <<<"$configuration"
  drop_schemas
  prefix="e2e-$(date +%s%N)."
  prefixes+=("$prefix")
  receiver=$(free_port)
  export PASSERELLE_DB_USER=postgres PASSERELLE_DB_PASSWORD=postgres PASSERELLE_TOPIC_PREFIX=$prefix PASSERELLE_LOG_LEVEL=warning
  export PASSERELLE_JWT_HS256_SECRET=bench-GKLBEh6xnLPAmjSvE09o1ni2l5SsJJPVJJyIFLCznstmR7Po PASSERELLE_JWT_ISSUER=passerelle-bench PASSERELLE_JWT_AUDIENCE=passerelle PASSERELLE_NOTIFICATION_QUIET_HOURS=none
  export PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS=true PASSERELLE_EVALUATION_PSEUDONYM_KEY=bench-38zThrzjd5Id2tlRq7sIlppOmp57UexVF1uECSzPSYMzO
  export PASSERELLE_MATCHING_POSTAL_AREAS=$root/deploy/matching/postal-areas.csv PASSERELLE_KAFKA_PROPERTY_FETCH_WAIT_MAX_MS=$wait
  PASSERELLE_TOPIC_PARTITIONS=$partitions "$bin/passerelle-intake" create-topics >/dev/null
  declare -A ports=()
  pid_list=""
  for service in "${services[@]}"; do
    ports[$service]=$(free_port)
    PASSERELLE_DB_SCHEMA=${service}_e2e PASSERELLE_HTTP_PORT=${ports[$service]} PASSERELLE_CONSUMER_GROUP=e2e-$service-$run-${configuration//\//-} \
      "$bin/passerelle-$service" serve > "/tmp/passerelle-bench-e2e-$service.log" 2>&1 &
    pids+=($!)
    pid_list+="$service=$!,"
  done
  for service in "${services[@]}"; do
    for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:${ports[$service]}/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -fs "http://127.0.0.1:${ports[$service]}/health/ready" >/dev/null \
      || { echo "$service did not become ready; see /tmp/passerelle-bench-e2e-$service.log" >&2; exit 1; }
  done

  # What the demo has: the catalogue and link workers of the three sites, each link worker told
  # of new referrals by webhook (to the receiver the load generator runs).
  PASSERELLE_DB_SCHEMA=matching_e2e "$bin/passerelle-matching" import-hsds "$root/deploy/demo/catalogue" >/dev/null
  coordinator=$(python3 "$root/deploy/local/dev-token.py" --i-know-this-is-development --role network-coordinator --subject bench-coordinator --minutes 60)
  put() {
    local status
    status=$(curl -sS -o /tmp/passerelle-bench-e2e-put.out -w '%{http_code}' -X PUT "$1" -H "Authorization: Bearer $coordinator" \
      -H 'Content-Type: application/json' -d "$2")
    case $status in 2??) ;; *) echo "PUT $1 answered $status: $(cat /tmp/passerelle-bench-e2e-put.out)" >&2; exit 1 ;; esac
  }
  put "http://127.0.0.1:${ports[notification]}/v1/webhook-targets/bench-inbox" \
    "{\"url\": \"http://127.0.0.1:$receiver/hook\", \"secret\": \"whsec_$(head -c 32 /dev/urandom | base64)\"}"
  while read -r worker; do
    id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$worker")
    put "http://127.0.0.1:${ports[matching]}/v1/link-workers/$id" \
      "$(python3 -c 'import json,sys; w=json.loads(sys.argv[1]); w.pop("id"); w["caseloadCapacity"]=100000; print(json.dumps(w))' "$worker")"
    put "http://127.0.0.1:${ports[notification]}/v1/recipients/link-worker/$id" \
      '{"displayName": "Bench", "webhookTarget": "bench-inbox", "language": "fr", "channel": "webhook"}'
  done < <(python3 -c 'import json,sys; [print(json.dumps(w)) for w in json.load(open(sys.argv[1]))]' "$root/deploy/demo/link-workers.json")
  sleep 2  # let the services settle before idle memory is read
  # What the four services' idle consumers cost the broker: its CPU over 3 s with no load.
  if [ -n "$broker_pid" ]; then
    before=$(broker_cpu_ms); sleep 3; values[$configuration/broker_idle]+="$(awk -v a="$before" -v b="$(broker_cpu_ms)" 'BEGIN {printf "%.1f", (b - a) / 30}') "
  fi

  values[load]+="$(cut -d' ' -f1 /proc/loadavg) "
  referrer=$(python3 "$root/deploy/local/dev-token.py" --i-know-this-is-development --role referrer --subject bench-referrer \
    --site ottawa-west-chc --site ottawa-centretown-chc --site rural-east --minutes 60)
  line=$(python3 "$bench/endtoend_load.py" --intake-port "${ports[intake]}" --token "$referrer" --port "$receiver" \
    --rate "$rate" --seconds "$seconds" --pids "${pid_list%,}" | grep '^RESULT') \
    || { echo "the end-to-end run failed; logs in /tmp/passerelle-bench-e2e-*.log" >&2; exit 1; }
  echo "[endtoend] run $run, $rate/s, $partitions partitions, fetch wait $wait ms: ${line#RESULT }" >&2
  stop_services
  # STAGES=1: where each referral's time went, from the timestamps the schemas keep.
  [ "${STAGES:-0}" = 1 ] && "${psql_admin[@]}" -f "$bench/endtoend-stages.sql" >&2
  for name in sent delivered send_rate delivered_rate p50_ms p99_ms post_p50_ms post_p99_ms lag_ms; do
    values[$configuration/$name]+="$(field "$name" 1 "$line") "
  done
  for service in "${services[@]}"; do
    values[$configuration/idle_$service]+="$(field "rss_$service" 1 "$line") "
    values[$configuration/max_$service]+="$(field "rss_$service" 3 "$line") "
  done
done
done

# A median with its spread, or "–" where nothing was measured (the broker's CPU when it runs elsewhere).
figure() {
  [ -n "${values[$1]:-}" ] || { printf '–'; return; }
  printf '%s (%s)' "$(tr ' ' '\n' <<<"${values[$1]}" | grep . | median)" "$(tr ' ' '\n' <<<"${values[$1]}" | grep . | spread)"
}
count() { printf '%s (%s)' "$(tr ' ' '\n' <<<"${values[$1]}" | grep . | median | cut -d. -f1)" "$(tr ' ' '\n' <<<"${values[$1]}" | grep . | spread | sed 's/\.0//g')"; }

cat <<MD
## End to end: referral sent to link worker notified

All four services (release builds) run on this machine with the demo catalogue (~200 resources) and
the five link workers of the three sites; each link worker is notified of a new referral by a signed
webhook to a local receiver. Referrals are POSTed to intake at a steady rate for $seconds s (open
loop: each request is sent when due, whatever earlier ones are doing); latency runs from the request
being sent to the webhook arriving: intake's transaction and outbox relay, the broker, matching
(assignment + ranking, its outbox), the broker again, notification (plan, claim, render, sign, POST).
Median of $runs runs per row (spread min–max); each run measures every row in turn. Driver:
deploy/bench/endtoend_load.py. Targets: p50 < 50 ms, p99 < 250 ms at 200 referrals/s; idle memory
< 60 MB per service. The machine's 1-minute load average when each run began: $(tr ' ' '\n' <<<"${values[load]}" | grep . | paste -sd' ' | sed 's/ /, /g')
(on $(nproc) cores; more than that means other work shared the CPU). "Partitions" is the partition
count of each event topic (\`PASSERELLE_TOPIC_PARTITIONS\`; 12 by default); "fetch wait" the consumers'
\`fetch.wait.max.ms\` (100 by default); "broker idle CPU" what the four services' idle consumers cost
the broker before the load, in % of one core.

| offered /s | partitions | fetch wait ms | sent /s | delivered (of sent) | delivered /s | p50 ms | p99 ms | POST p50 ms | POST p99 ms | send lag p99 ms | broker idle CPU % |
|---|---|---|---|---|---|---|---|---|---|---|---|
MD
for c in "${configurations[@]}"; do
  IFS=/ read -r partitions wait rate <<<"$c"
  printf '| %s | %s | %s | %s | %s of %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rate" "$partitions" "$wait" "$(figure "$c/send_rate")" \
    "$(count "$c/delivered")" "$(count "$c/sent")" "$(figure "$c/delivered_rate")" "$(figure "$c/p50_ms")" "$(figure "$c/p99_ms")" \
    "$(figure "$c/post_p50_ms")" "$(figure "$c/post_p99_ms")" "$(figure "$c/lag_ms")" "$(figure "$c/broker_idle")"
done
# Memory under the heaviest load measured, with the first partition count and fetch wait.
heaviest=$(printf '%s\n' "${rates[@]}" | sort -n | tail -1)
memory=${partition_counts[0]}/${fetch_waits[0]}/$heaviest
cat <<MD

Resident memory (VmRSS, MB; $heaviest/s, ${partition_counts[0]} partitions, fetch wait ${fetch_waits[0]} ms): idle is read after
start and seeding, before the load; loaded is the largest value sampled every 0.25 s during the run
and until the last webhook arrived.

| service | idle MB | loaded MB |
|---|---|---|
MD
for service in "${services[@]}"; do
  printf '| %s | %s | %s |\n' "$service" "$(figure "$memory/idle_$service")" "$(figure "$memory/max_$service")"
done
