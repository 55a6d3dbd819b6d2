#!/usr/bin/env bash
# Runs the benchmarks and writes BENCHMARKS.md (machine, date, figures). Needs the local stack
# (deploy/local/stack.sh start). Everything talks to 127.0.0.1 and stops by itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/deploy/local/stack.sh" start >/dev/null
out=$root/BENCHMARKS.md
intake=$("$here/intake.sh")
{
  echo "# Benchmarks"
  echo
  echo "Measured by \`deploy/bench/run.sh\` on $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(free -g | awk '/Mem:/ {print $2}') GiB of memory, $(. /etc/os-release && echo "$PRETTY_NAME"), PostgreSQL $(psql --version | awk '{print $3}'),"
  echo "release build of the services. Each figure is the median of ${RUNS:-3} runs of ${DURATION:-10} s, with the spread (min–max)."
  echo
  echo "## Intake: POST /v1/referrals vs a plain insert"
  echo
  echo "Load from \`wrk\` (deploy/bench/referral.lua: a new client per request). Each accepted referral is one"
  echo "transaction (client upsert, referral, status history, audit, two outbox rows) plus JWT verification and"
  echo "validation; the baseline is \`pgbench\` running one single-row INSERT transaction (deploy/bench/pgbench-insert.sql)"
  echo "with the same number of clients against the same PostgreSQL, in the same run. The target is a ratio of at least 0.5."
  echo
  echo "$intake"
  echo
  cat "$here/notes.md"
} > "$out"
echo "wrote $out"
