#!/usr/bin/env bash
# Sets up and runs the whole system on this machine: installs what is missing, starts
# PostgreSQL and the broker, builds and starts the four services, loads the demo, and leaves
# everything running. Stop it with deploy/local/down.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
log() { printf '[up] %s\n' "$*" >&2; }

"$here/install.sh"
"$here/stack.sh" start
dir=$("$here/stack.sh" dir)
eval "$("$here/stack.sh" env)"

configuration=${PASSERELLE_BUILD:-debug}
log "building the services ($configuration; the first build takes a few minutes)"
mkdir -p "$dir/logs"
swift build -c "$configuration" > "$dir/logs/build.log" 2>&1 || { tail -40 "$dir/logs/build.log"; log "build failed; see $dir/logs/build.log"; exit 1; }
bin=$(swift build -c "$configuration" --show-bin-path 2>/dev/null)

export PASSERELLE_ALLOW_DEV_SECRET=${PASSERELLE_ALLOW_DEV_SECRET:-true}
export PASSERELLE_MATCHING_POSTAL_AREAS=${PASSERELLE_MATCHING_POSTAL_AREAS:-$root/deploy/matching/postal-areas.csv}
mkdir -p "$dir/logs" "$dir/run"
declare -A ports=([intake]=8081 [matching]=8082 [notification]=8083 [evaluation]=8084)
for service in intake matching notification evaluation; do
  pidfile="$dir/run/$service.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "$service already running (pid $(cat "$pidfile"))"
    continue
  fi
  PASSERELLE_HTTP_PORT=${ports[$service]} nohup "$bin/passerelle-$service" serve >> "$dir/logs/$service.log" 2>&1 &
  echo $! > "$pidfile"
done

for service in intake matching notification evaluation; do
  port=${ports[$service]}
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null || { log "$service is not ready; see $dir/logs/$service.log"; exit 1; }
done
log "all four services are ready"

PASSERELLE_BIN=$bin "$here/demo.sh"

cat <<TEXT

Passerelle is running on this machine.
  intake        http://127.0.0.1:8081   (POST /v1/referrals, GET /v1/referrals/{id})
  matching      http://127.0.0.1:8082
  notification  http://127.0.0.1:8083
  evaluation    http://127.0.0.1:8084
  each service: /health/live  /health/ready  /metrics
  PostgreSQL    127.0.0.1:${PASSERELLE_DB_PORT} (database passerelle; schemas intake, matching, notification, evaluation)
  Kafka         ${PASSERELLE_KAFKA_BOOTSTRAP}
  logs          $dir/logs/
  a token       PASSERELLE_ALLOW_DEV_SECRET=true $bin/passerelle-intake token --role referrer --subject dr-tremblay
Stop everything with: deploy/local/down.sh   (add --clean to delete the data too)
TEXT
