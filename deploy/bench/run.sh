#!/usr/bin/env bash
# Runs the benchmarks and writes BENCHMARKS.md (machine, date, figures). Needs the local stack
# (deploy/local/stack.sh start). Everything talks to 127.0.0.1 and stops by itself.
#
#   deploy/bench/run.sh                  every suite in deploy/bench/suites/
#   deploy/bench/run.sh intake matching  only those suites; the others keep their last results
#   deploy/bench/run.sh --assemble       rewrite BENCHMARKS.md from the stored results only
#
# Each suite prints a Markdown section, stored as deploy/bench/results/<suite>.md with the date
# and machine; a hand-written results/<suite>-notes.md, if any, follows its section.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
results=$here/results
mkdir -p "$results"

if [ "${1:-}" != "--assemble" ]; then
  suites=("$@")
  if [ ${#suites[@]} -eq 0 ]; then
    for script in "$here"/suites/*.sh; do suites+=("$(basename "$script" .sh)"); done
  fi
  "$root/deploy/local/stack.sh" start >/dev/null
  # PASSERELLE_BENCH_BIN: a folder of release executables already built, which the suites that read
  # it (endtoend) use as they are, instead of building.
  [ -n "${PASSERELLE_BENCH_BIN:-}" ] || (cd "$root" && swift build -c release --scratch-path .build-release >/dev/null)
  for suite in "${suites[@]}"; do
    echo "[bench] $suite" >&2
    section=$("$here/suites/$suite.sh")
    {
      echo "$section"
      echo
      echo "_Measured on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB of memory._"
    } > "$results/$suite.md"
  done
fi

{
  echo "# Benchmarks"
  echo
  echo "Measured by \`deploy/bench/run.sh\` (one command; \`deploy/bench/run.sh <suite>\` runs one) on"
  echo "$(. /etc/os-release && echo "$PRETTY_NAME"), PostgreSQL $(psql --version | awk '{print $3}'), release builds of the services."
  echo "Each figure is a median of several runs with its spread (min–max), and a ratio beside its baseline where"
  echo "there is one. Each section says when and on what machine it was measured."
  for section in "$results"/*.md; do
    case $section in *-notes.md) continue ;; esac
    echo
    cat "$section"
    notes=${section%.md}-notes.md
    if [ -f "$notes" ]; then echo; cat "$notes"; fi
  done
} > "$root/BENCHMARKS.md"
echo "wrote $root/BENCHMARKS.md" >&2
