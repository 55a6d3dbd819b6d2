#!/usr/bin/env bash
# Notifications through the webhook channel to a local receiver: deliveries/s and p50/p99 from
# the event on the topic (its ce_time) to the webhook arriving, at a steady offered rate.
# Each figure is the median of RUNS runs (default 3) with the spread. Prints a Markdown section.
# Talks to 127.0.0.1 only and stops by itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bench=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
seconds=${DURATION:-10}
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres
psql_admin=(psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check confluent-kafka >/dev/null

bin=$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)
[ -x "$bin/passerelle-notification" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product passerelle-notification >/dev/null)

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }

cat <<'MD'
## Notification: event to webhook delivered

Events (`referral.received` + `referral.assigned`) are produced at a steady rate onto the
service's topics; the rule "tell the link worker" sends each one a signed webhook
(Standard Webhooks) to a local receiver. Latency runs from the event's `ce_time` to the webhook
arriving: consume, plan in one transaction, claim, render, sign, POST, record + outbox event.
Driver: deploy/bench/notification_load.py (confluent-kafka producer, threaded HTTP receiver).

| offered rate /s | delivered /s (spread) | p50 ms (spread) | p99 ms (spread) |
|---|---|---|---|
MD

for rate in 200 500; do
  rates=(); p50s=(); p99s=()
  for run in $(seq 1 "$runs"); do
    schema=notification_bench
    prefix="bench-$(date +%s%N)."
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
    export PASSERELLE_DB_USER=postgres PASSERELLE_DB_PASSWORD=postgres PASSERELLE_DB_SCHEMA=$schema PASSERELLE_HTTP_PORT=$http
    export PASSERELLE_TOPIC_PREFIX=$prefix PASSERELLE_LOG_LEVEL=warning PASSERELLE_CONSUMER_GROUP=bench-notification-$run-$rate
    export PASSERELLE_JWT_HS256_SECRET=bench-GKLBEh6xnLPAmjSvE09o1ni2l5SsJJPVJJyIFLCznstmR7Po PASSERELLE_JWT_ISSUER=passerelle-bench PASSERELLE_JWT_AUDIENCE=passerelle PASSERELLE_NOTIFICATION_QUIET_HOURS=none
    export PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS=true PASSERELLE_NOTIFICATION_CONCURRENCY=32
    "$bin/passerelle-notification" create-topics >/dev/null
    "$bin/passerelle-notification" serve > /tmp/passerelle-bench-notification.log 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS notification_bench CASCADE" >/dev/null' EXIT
    for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$http/health/ready" >/dev/null 2>&1 && break; sleep 0.2; done
    worker=$(python3 -c 'import uuid; print(uuid.uuid4())')
    "${psql_admin[@]}" -c "SET search_path TO $schema;
      INSERT INTO webhook_target (id, url, secret) VALUES ('inbox', 'http://127.0.0.1:$port/hook', 'whsec_$(head -c 32 /dev/urandom | base64)');
      INSERT INTO recipient (kind, id, display_name, webhook_target, language, channel) VALUES ('link-worker', '$worker', 'Bench', 'inbox', 'fr', 'webhook');" >/dev/null
    line=$(python3 "$bench/notification_load.py" --bootstrap "$PASSERELLE_KAFKA_BOOTSTRAP" --prefix "$prefix" --port "$port" \
      --rate "$rate" --seconds "$seconds" --link-worker "$worker" | grep '^RESULT')
    kill $server; wait $server 2>/dev/null || true
    trap - EXIT
    "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
    rates+=("$(sed -E 's/.*rate=([0-9.]+).*/\1/' <<<"$line")")
    p50s+=("$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$line")")
    p99s+=("$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$line")")
  done
  printf '| %d | %s (%s) | %s (%s) | %s (%s) |\n' "$rate" \
    "$(printf '%s\n' "${rates[@]}" | median)" "$(printf '%s\n' "${rates[@]}" | spread)" \
    "$(printf '%s\n' "${p50s[@]}" | median)" "$(printf '%s\n' "${p50s[@]}" | spread)" \
    "$(printf '%s\n' "${p99s[@]}" | median)" "$(printf '%s\n' "${p99s[@]}" | spread)"
done
