#!/usr/bin/env bash
# The local stack: a throw-away PostgreSQL cluster (run as a non-root user, on its own port and
# data directory) and the Tansu broker, both on 127.0.0.1.
#
#   deploy/local/stack.sh start    start both (idempotent), create database, roles, schemas, topics
#   deploy/local/stack.sh stop     stop both
#   deploy/local/stack.sh clean    stop and delete all data
#   deploy/local/stack.sh status
#   deploy/local/stack.sh env      print the environment the services and tests read
#   deploy/local/stack.sh restart-postgres | restart-broker   (used by fault tests)
#   deploy/local/stack.sh stop-postgres    stop PostgreSQL alone, for an outage of chosen length
#                                          (`start` brings it back; used by fault tests)
#
# Settings (environment): PASSERELLE_LOCAL_DIR (default /var/tmp/passerelle-<hash>), PASSERELLE_PG_PORT
# (55432), PASSERELLE_KAFKA_PORT (59092), PASSERELLE_PG_OS_USER (postgres), PASSERELLE_TANSU_STORAGE
# (memory://tansu/, which a broker restart empties; s3://BUCKET/ keeps topics across restarts, with
# AWS_ENDPOINT, AWS_ALLOW_HTTP and credentials in the environment, which the broker inherits),
# PASSERELLE_TOPIC_PARTITIONS (the partitions of each event topic created; deploy/kafka/topics.txt's otherwise).
# The network fault tests put each server in a network namespace of its own: PASSERELLE_PG_HOST and
# PASSERELLE_KAFKA_HOST (127.0.0.1) are the addresses they listen on, PASSERELLE_PG_NETNS and
# PASSERELLE_KAFKA_NETNS the namespaces they run in (none).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# Outside the checkout by default: the server runs as a non-root user that must be able to
# reach its data directory, whatever the permissions of the checkout's parents.
dir=${PASSERELLE_LOCAL_DIR:-/var/tmp/passerelle-$(printf '%s' "$root" | md5sum | cut -c1-8)}
pg_port=${PASSERELLE_PG_PORT:-55432}
kafka_port=${PASSERELLE_KAFKA_PORT:-59092}
os_user=${PASSERELLE_PG_OS_USER:-postgres}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pg_host=${PASSERELLE_PG_HOST:-127.0.0.1}
kafka_host=${PASSERELLE_KAFKA_HOST:-127.0.0.1}
pg_netns=(); [ -z "${PASSERELLE_PG_NETNS:-}" ] || pg_netns=(ip netns exec "$PASSERELLE_PG_NETNS")
kafka_netns=(); [ -z "${PASSERELLE_KAFKA_NETNS:-}" ] || kafka_netns=(ip netns exec "$PASSERELLE_KAFKA_NETNS")
db=passerelle
log() { printf '[stack] %s\n' "$*" >&2; }

as_pg() {
  if [ "$(id -un)" = "$os_user" ]; then "${pg_netns[@]}" "$@"; else "${pg_netns[@]}" runuser -u "$os_user" -- "$@"; fi
}

pg_running() { [ -f "$dir/pg/data/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1; }
kafka_running() { [ -f "$dir/tansu.pid" ] && kill -0 "$(cat "$dir/tansu.pid")" 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  log "$what did not open $host:$port"; return 1
}

start_postgres() {
  [ -n "$pg_bin" ] || { log "PostgreSQL server binaries not found: run deploy/local/install.sh"; exit 1; }
  id "$os_user" >/dev/null 2>&1 || useradd --system --home-dir "$dir" "$os_user"
  mkdir -p "$dir/pg/run"
  chown -R "$os_user" "$dir/pg"
  # The data directory's parents must be traversable by the non-root server user.
  chmod 755 "$dir"
  if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
    log "initialising a PostgreSQL cluster in $dir/pg/data"
    printf 'postgres\n' > "$dir/pg/pwfile"; chown "$os_user" "$dir/pg/pwfile"
    as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --pwfile="$dir/pg/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$dir/pg/pwfile"
  fi
  # Reached from other namespaces: clients on the server's own subnet, with a password.
  if [ "$pg_host" != 127.0.0.1 ] && ! grep -q '^host all all samenet' "$dir/pg/data/pg_hba.conf"; then
    echo 'host all all samenet scram-sha-256' >> "$dir/pg/data/pg_hba.conf"
  fi
  if ! pg_running; then
    log "starting PostgreSQL on $pg_host:$pg_port"
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 30 \
      -o "-p $pg_port -k $dir/pg/run -c listen_addresses=$pg_host -c max_connections=300 -c fsync=on" start >/dev/null
  fi
  local psql=(as_pg psql -X -q -h "$dir/pg/run" -p "$pg_port" -U postgres)
  for name in $db ${db}_test; do
    "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 \
      || "${psql[@]}" -d postgres -c "CREATE DATABASE $name"
  done
  "${psql[@]}" -d "$db" -v intake_password=passerelle_intake -v matching_password=passerelle_matching \
    -v notification_password=passerelle_notification -v evaluation_password=passerelle_evaluation -v console_password=passerelle_console \
    -f "$root/deploy/postgres/init.sql" >/dev/null
}

start_kafka() {
  local tansu
  tansu=$("$here/tansu-path.sh") || { log "Tansu not installed: run deploy/local/install.sh"; exit 1; }
  if ! kafka_running; then
    log "starting the Tansu broker on $kafka_host:$kafka_port"
    mkdir -p "$dir"
    nohup "${kafka_netns[@]}" "$tansu" broker --listener-url "tcp://$kafka_host:$kafka_port" --advertised-listener-url "tcp://$kafka_host:$kafka_port" \
      --storage-engine "${PASSERELLE_TANSU_STORAGE:-memory://tansu/}" > "$dir/tansu.log" 2>&1 &
    echo $! > "$dir/tansu.pid"
    wait_port "$kafka_host" "$kafka_port" "Tansu"
  fi
  case "${PASSERELLE_TOPIC_PARTITIONS:-1}" in
    *[!0-9]* | 0) log "PASSERELLE_TOPIC_PARTITIONS \"$PASSERELLE_TOPIC_PARTITIONS\" is not a positive number"; exit 1 ;;
  esac
  local existing
  existing=$("$tansu" topic list --broker "tcp://$kafka_host:$kafka_port" 2>/dev/null || true)
  while read -r name partitions configs; do
    case "$name" in ''|\#*) continue ;; esac
    grep -qF -- "\"name\":\"$name\"" <<<"$existing" && continue
    # A deployment's own partition count replaces the event topics' (dead-letter topics keep one).
    case "$name" in *.dlq) ;; *) partitions=${PASSERELLE_TOPIC_PARTITIONS:-$partitions} ;; esac
    local args=(topic create "$name" --broker "tcp://$kafka_host:$kafka_port" --partitions "$partitions")
    if [ "$configs" != "-" ]; then
      IFS=',' read -ra pairs <<<"$configs"
      for pair in "${pairs[@]}"; do args+=(--config "$pair"); done
    fi
    "$tansu" "${args[@]}" >/dev/null
  done < "$root/deploy/kafka/topics.txt"
}

stop_all() {
  if kafka_running; then
    log "stopping Tansu"; kill "$(cat "$dir/tansu.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kafka_running || break; sleep 0.1; done
  fi
  rm -f "$dir/tansu.pid"
  if pg_running; then log "stopping PostgreSQL"; as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null; fi
}

print_env() {
  cat <<ENV
export PASSERELLE_DB_HOST=$pg_host
export PASSERELLE_DB_PORT=$pg_port
export PASSERELLE_DB_NAME=$db
export PASSERELLE_KAFKA_BOOTSTRAP=$kafka_host:$kafka_port
export PASSERELLE_TEST_DB_URL=postgresql://postgres:postgres@$pg_host:$pg_port/${db}_test
export PASSERELLE_TEST_KAFKA=$kafka_host:$kafka_port
ENV
}

case "${1:-}" in
  start) start_postgres; start_kafka; log "ready: PostgreSQL $pg_host:$pg_port, Kafka $kafka_host:$kafka_port" ;;
  stop) stop_all ;;
  clean) stop_all; rm -rf "$dir"; log "removed $dir" ;;
  status)
    pg_running && echo "postgres: running on $pg_host:$pg_port" || echo "postgres: stopped"
    kafka_running && echo "kafka: running on $kafka_host:$kafka_port" || echo "kafka: stopped" ;;
  env) print_env ;;
  dir) echo "$dir" ;;
  restart-postgres) as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w restart >/dev/null ;;
  stop-postgres) if pg_running; then as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null; fi ;;
  restart-broker)
    # Wait for the old process to be gone, or start_kafka would find it still running.
    if kafka_running; then
      kill "$(cat "$dir/tansu.pid")"
      for _ in $(seq 1 100); do kafka_running || break; sleep 0.1; done
    fi
    start_kafka ;;
  *) echo "usage: $0 start|stop|clean|status|env|restart-postgres|stop-postgres|restart-broker" >&2; exit 2 ;;
esac
