#!/usr/bin/env bash
# The two C-library wrappers on their own, beside the C programs of the libraries they wrap, on
# the same servers in the same run:
#  - KafkaProducer (Shared/KafkaClient) against librdkafka's rdkafka_performance: messages/s of
#    MESSAGES records (default 500000) of SIZE bytes (256) to a topic of PARTITIONS partitions (3),
#    acks=all, idempotent, linger.ms=LINGER (1, the services' setting), batches of BATCH (500)
#    from SENDERS_FEW (8) or SENDERS_MANY (200) concurrent senders; a new topic per run.
#  - PostgresConnectionPool (Shared/PostgresClient) against pgbench: single-row INSERT
#    transactions/s at 1, 8 and 32 clients for DURATION seconds (10).
# Each figure is the median of RUNS runs (3) with the spread (min–max). Builds rdkafka_performance
# from the librdkafka source package of the installed version the first time (cached in
# /var/tmp/passerelle-bench/bin). Prints a Markdown section; talks to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bench=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
duration=${DURATION:-10}
messages=${MESSAGES:-500000}
size=${SIZE:-256}
partitions=${PARTITIONS:-3}
linger=${LINGER:-1}
batch=${BATCH:-500}
# Concurrent batch senders: as few as a service's relays keep busy, and as many as fill
# librdkafka's local queue (queue.buffering.max.messages, 100000) the way rdkafka_performance does.
senders_few=${SENDERS_FEW:-8}
senders_many=${SENDERS_MANY:-200}
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres
psql_admin=(env PGOPTIONS=--client-min-messages=warning psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)
tansu=$("$root/deploy/local/tansu-path.sh")
broker=tcp://127.0.0.1:${PASSERELLE_KAFKA_BOOTSTRAP##*:}
log() { printf '[wrappers] %s\n' "$*" >&2; }
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# rdkafka_performance, built from the same librdkafka release the wrapper links (install.sh
# builds that release from Debian 13's source package into /usr/local) and linked against it.
rdkafka_version=$(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --modversion rdkafka)
cache=/var/tmp/passerelle-bench
performance=$cache/bin/rdkafka_performance-$rdkafka_version
if [ ! -x "$performance" ]; then
  log "building rdkafka_performance from the librdkafka $rdkafka_version source package (about a minute)"
  src_list=/etc/apt/sources.list.d/passerelle-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    uris=$(awk -F': ' '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "${uris:-http://deb.debian.org/debian}" \
      | "${sudo_cmd[@]}" tee "$src_list" >/dev/null
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq --download-only "librdkafka=$rdkafka_version-*" >/dev/null 2>&1 \
     || apt-get source -qq --download-only librdkafka >/dev/null 2>&1)
  tarball=$(find "$work" -maxdepth 1 -name 'librdkafka_*.orig.tar.gz' | head -1)
  [ -n "$tarball" ] || { log "could not download the librdkafka source package"; exit 1; }
  case $tarball in *"_$rdkafka_version.orig"*) ;; *) log "the source package is $(basename "$tarball"), not the installed $rdkafka_version"; exit 1 ;; esac
  tar xzf "$tarball" -C "$work"
  srcdir=$(find "$work" -maxdepth 1 -type d -name 'librdkafka-*' | head -1)
  # The example includes the library's internal headers, which need configure's config.h.
  (cd "$srcdir" && ./configure --prefix=/usr/local --disable-gssapi >/dev/null 2>&1)
  mkdir -p "$cache/bin"
  cc -O2 -I"$srcdir" -I"$srcdir/src" "$srcdir/examples/rdkafka_performance.c" -o "$performance.tmp" \
    -L/usr/local/lib -Wl,-rpath,/usr/local/lib -lrdkafka -lm -lpthread
  mv "$performance.tmp" "$performance"
  rm -rf "$work"
fi

(cd "$root" && swift build -c release --scratch-path .build-release --product passerelle-wrapper-bench >/dev/null)
wrapper=$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)/passerelle-wrapper-bench

# A topic per run with a name of its own, deleted after the run (and at exit if a run fails);
# a schema of the benchmark's own, dropped at exit.
schema=wrapper_bench
topic_base=bench.wrappers.$(date +%s).$$
topic=
"${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;
  CREATE TABLE $schema.plain_insert (id uuid PRIMARY KEY, payload text, created_at timestamptz);" >/dev/null
trap '[ -z "$topic" ] || "$tansu" topic delete --broker "$broker" "$topic" >/dev/null 2>&1 || true
      "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null' EXIT

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.0f–%.0f", min, max}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
field() { sed -nE "s/.* $1=([0-9.]+).*/\\1/p" <<<"$2"; }

# --- Kafka -------------------------------------------------------------------------------------
new_topic() {
  topic=$topic_base.$1
  "$tansu" topic create --broker "$broker" --partitions "$partitions" "$topic" >/dev/null
}
drop_topic() {
  "$tansu" topic delete --broker "$broker" "$topic" >/dev/null
  topic=
}
few_rates=(); many_rates=(); c_rates=()
for run in $(seq 1 "$runs"); do
  # Each run starts with a different one, so none always meets a broker that has just been busy.
  case $(( run % 3 )) in
    1) order=(few many c) ;;
    2) order=(many c few) ;;
    0) order=(c few many) ;;
  esac
  for side in "${order[@]}"; do
    new_topic "$run.$side"
    case $side in
      few|many)
        senders=$senders_few; [ "$side" = many ] && senders=$senders_many
        line=$("$wrapper" kafka --bootstrap "$PASSERELLE_KAFKA_BOOTSTRAP" --topic "$topic" --messages "$messages" --size "$size" \
          --batch "$batch" --senders "$senders" --linger "$linger" | grep '^RESULT')
        [ "$(field messages "$line")" = "$messages" ] || { log "the producer delivered only part: $line"; exit 1; }
        if [ "$side" = few ]; then few_rates+=("$(field rate "$line")"); else many_rates+=("$(field rate "$line")"); fi
        ;;
      c)
        # -D: each message is copied into a buffer librdkafka frees, as the wrapper's
        # RD_KAFKA_MSG_F_COPY copies it (rdkafka_performance otherwise lends one buffer to all).
        # The -X settings undo rdkafka_performance's own defaults (linger.ms=1000, 3 retries,
        # 500 ms backoff) to match what KafkaProducerConfiguration sets.
        summary=$("$performance" -P -t "$topic" -b "$PASSERELLE_KAFKA_BOOTSTRAP" -s "$size" -c "$messages" -D -a all \
          -X enable.idempotence=true -X linger.ms="$linger" -X message.timeout.ms=30000 \
          -X message.send.max.retries=2147483647 -X retry.backoff.ms=100 -X client.id=rdkafka-performance \
          -X allow.auto.create.topics=false 2>/dev/null | grep 'messages produced' | tail -1)
        delivered=$(sed -nE 's/.* ([0-9]+) delivered .*/\1/p' <<<"$summary")
        [ "$delivered" = "$messages" ] || { log "rdkafka_performance delivered only part: $summary"; exit 1; }
        c_rates+=("$(sed -nE 's/.*: ([0-9]+) msgs\/s.*/\1/p' <<<"$summary")")
        ;;
    esac
    drop_topic
  done
done
few_rate=$(printf '%s\n' "${few_rates[@]}" | median)
many_rate=$(printf '%s\n' "${many_rates[@]}" | median)
c_rate=$(printf '%s\n' "${c_rates[@]}" | median)

# --- PostgreSQL --------------------------------------------------------------------------------
# pgbench runs the same three statements the pool sends for `transaction { execute(INSERT) }`:
# BEGIN, the INSERT with its value as a parameter of a prepared statement, COMMIT (-M prepared;
# the pool prepares every parameterised statement once per connection). The pool sends the three
# in one round trip (libpq's pipeline mode), so pgbench runs them both ways: one round trip each
# (its usual way), and pipelined like the pool (\startpipeline … \endpipeline).
script=$(mktemp)
pipelined=$(mktemp)
trap '[ -z "$topic" ] || "$tansu" topic delete --broker "$broker" "$topic" >/dev/null 2>&1 || true
      rm -f "$script" "$pipelined"; "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null' EXIT
printf 'BEGIN;\nINSERT INTO %s.plain_insert (id, payload, created_at) VALUES (gen_random_uuid(), :payload, now());\nCOMMIT;\n' "$schema" > "$script"
{ printf '\\startpipeline\n'; cat "$script"; printf '\\endpipeline\n'; } > "$pipelined"
empty_table() { "${psql_admin[@]}" -c "TRUNCATE $schema.plain_insert" >/dev/null; }
pool_rows=()
for clients in 1 8 32; do
  transaction_rates=(); session_rates=(); baselines=(); pipelined_baselines=()
  threads=$(( clients < 2 ? 1 : 2 ))
  for _ in $(seq 1 "$runs"); do
    for api in transaction session; do
      empty_table
      line=$("$wrapper" postgres --port "$PASSERELLE_DB_PORT" --password postgres --schema "$schema" --clients "$clients" \
        --seconds "$duration" --api "$api" | grep '^RESULT')
      if [ "$api" = transaction ]; then transaction_rates+=("$(field rate "$line")"); else session_rates+=("$(field rate "$line")"); fi
    done
    empty_table
    tps=$(pgbench -n -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -c "$clients" -j "$threads" -T "$duration" -M prepared \
      -D payload=referral -f "$script" passerelle 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}')
    [ -n "$tps" ] || { log "pgbench failed at $clients clients"; exit 1; }
    baselines+=("$tps")
    empty_table
    tps=$(pgbench -n -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -c "$clients" -j "$threads" -T "$duration" -M prepared \
      -D payload=referral -f "$pipelined" passerelle 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}')
    [ -n "$tps" ] || { log "pipelined pgbench failed at $clients clients"; exit 1; }
    pipelined_baselines+=("$tps")
  done
  transaction_rate=$(printf '%s\n' "${transaction_rates[@]}" | median)
  session_rate=$(printf '%s\n' "${session_rates[@]}" | median)
  base=$(printf '%s\n' "${baselines[@]}" | median)
  piped=$(printf '%s\n' "${pipelined_baselines[@]}" | median)
  pool_rows+=("$(printf '| %d | %s (%s) | %.2f× / %.2f× | %s (%s) | %.2f× / %.2f× | %s (%s) | %s (%s) |' "$clients" \
    "$transaction_rate" "$(printf '%s\n' "${transaction_rates[@]}" | spread)" "$(ratio "$transaction_rate" "$base")" "$(ratio "$transaction_rate" "$piped")" \
    "$session_rate" "$(printf '%s\n' "${session_rates[@]}" | spread)" "$(ratio "$session_rate" "$base")" "$(ratio "$session_rate" "$piped")" \
    "$base" "$(printf '%s\n' "${baselines[@]}" | spread)" "$piped" "$(printf '%s\n' "${pipelined_baselines[@]}" | spread)")")
done

cat <<EOF
## Wrappers: KafkaProducer and PostgresConnectionPool vs librdkafka's and PostgreSQL's own programs

The two C-library wrappers measured through their public API, the way the services use them, beside
the C programs that come with the libraries, against the same broker and database in the same run.

**Kafka producer** (librdkafka $rdkafka_version): $messages records of $size bytes without a key to a new
topic of $partitions partitions on the local Tansu, \`acks=all\`, idempotent, \`linger.ms=$linger\`, timed from a
new producer to the last acknowledgement. Passerelle: \`KafkaProducer.send([KafkaRecord])\` with batches of
$batch records from concurrent senders, each waiting for its batch's reports before sending the next (as
outbox relays do); baseline: \`rdkafka_performance -P\` built from the same librdkafka release, one thread
producing until librdkafka's local queue (100000 messages) is full. Target: a ratio of at least 0.8.

| producer | records in flight at most | messages/s (spread) | ratio |
|---|---|---|---|
| Passerelle KafkaProducer, $senders_few senders | $((senders_few * batch)) | $few_rate ($(printf '%s\n' "${few_rates[@]}" | spread)) | $(ratio "$few_rate" "$c_rate")× |
| Passerelle KafkaProducer, $senders_many senders | $((senders_many * batch)) | $many_rate ($(printf '%s\n' "${many_rates[@]}" | spread)) | $(ratio "$many_rate" "$c_rate")× |
| rdkafka_performance (C) | 100000 | $c_rate ($(printf '%s\n' "${c_rates[@]}" | spread)) | 1.00× |

**PostgreSQL pool** (libpq): single-row INSERT transactions/s for $duration s per run, each client one
connection. Passerelle: as many tasks as clients over a pool of as many connections, each running
\`pool.transaction { execute(INSERT) }\` (async body) or \`pool.sessionTransaction { execute(INSERT) }\` (synchronous
body); either way the task runs on the leased connection's thread, and BEGIN, the INSERT and COMMIT travel in one
round trip. Baselines: \`pgbench -M prepared\` running BEGIN; the same INSERT; COMMIT, one round trip per statement
(pgbench's usual way), and the same three pipelined into one round trip like the pool's. Ratios are given against
each (usual / pipelined). Target: a ratio of at least 0.9.

| clients | pool.transaction tx/s (spread) | ratio | pool.sessionTransaction tx/s (spread) | ratio | pgbench tx/s (spread) | pgbench pipelined tx/s (spread) |
|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${pool_rows[@]}"
