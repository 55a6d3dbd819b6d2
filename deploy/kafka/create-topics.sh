#!/bin/sh
# Creates every topic listed in topics.txt that does not exist yet, with kafka-topics.sh from a
# Kafka distribution. The compose job kafka-topics runs it; it works against any cluster.
#
# topics.txt, one topic a line: NAME PARTITIONS CONFIGS, where CONFIGS is "-" or comma-separated
# key=value pairs; "#" starts a comment line. The list is only read here, never repeated, so the
# topics the code expects (a check compares the file with Shared/Contracts/Topics.swift) are the
# ones created.
#
# Environment:
#   BOOTSTRAP_SERVER         broker to talk to (default kafka:9092)
#   TOPICS_FILE              the list (default: topics.txt beside this script)
#   PASSERELLE_TOPIC_PREFIX  prefix of every topic name, as the services use it (default none)
#   PASSERELLE_TOPIC_PARTITIONS  partitions of each event topic, replacing the file's (dead-letter
#                            topics keep theirs); as the services' create-topics command reads it
#   REPLICATION_FACTOR       default 1 (a single broker); use 3 on a real cluster
#   KAFKA_TOPICS             the tool (default /opt/kafka/bin/kafka-topics.sh)
#   KAFKA_COMMAND_CONFIG     optional client properties file (SASL/TLS) for the tool
set -eu
here=$(cd "$(dirname "$0")" && pwd)
topics_file=${TOPICS_FILE:-$here/topics.txt}
bootstrap=${BOOTSTRAP_SERVER:-kafka:9092}
prefix=${PASSERELLE_TOPIC_PREFIX:-}
replication=${REPLICATION_FACTOR:-1}
kafka_topics=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
command_config=${KAFKA_COMMAND_CONFIG:-}

log() { printf '[create-topics] %s\n' "$*" >&2; }

[ -r "$topics_file" ] || { log "cannot read $topics_file"; exit 1; }
# Config values are split on commas below and must not be expanded as file patterns.
set -f

count=0
line_number=0
while read -r name partitions configs extra || [ -n "${name:-}" ]; do
  line_number=$((line_number + 1))
  case "$name" in '' | '#'*) continue ;; esac
  case "$partitions" in
    '' | *[!0-9]*) log "$topics_file:$line_number: partition count \"$partitions\" is not a number"; exit 1 ;;
  esac
  [ -z "${extra:-}" ] || { log "$topics_file:$line_number: unexpected text \"$extra\""; exit 1; }
  case "$name" in
    *.dlq) ;;
    *) partitions=${PASSERELLE_TOPIC_PARTITIONS:-$partitions}
       case "$partitions" in
         '' | *[!0-9]* | 0) log "PASSERELLE_TOPIC_PARTITIONS \"$partitions\" is not a positive number"; exit 1 ;;
       esac ;;
  esac

  set -- --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$prefix$name" \
    --partitions "$partitions" --replication-factor "$replication"
  [ -z "$command_config" ] || set -- "$@" --command-config "$command_config"
  if [ -n "${configs:-}" ] && [ "$configs" != "-" ]; then
    old_ifs=$IFS
    IFS=,
    for pair in $configs; do
      case "$pair" in
        ?*=*) set -- "$@" --config "$pair" ;;
        *) IFS=$old_ifs; log "$topics_file:$line_number: config \"$pair\" is not key=value"; exit 1 ;;
      esac
    done
    IFS=$old_ifs
  fi

  log "ensuring $prefix$name: $partitions partitions, configs ${configs:--}"
  # The tool must not read the topic list from standard input.
  "$kafka_topics" "$@" </dev/null
  count=$((count + 1))
done <"$topics_file"

[ "$count" -gt 0 ] || { log "$topics_file lists no topic"; exit 1; }
log "$count topics present on $bootstrap"
