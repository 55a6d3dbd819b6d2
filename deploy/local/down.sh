#!/usr/bin/env bash
# Stops the four services (SIGTERM: they finish in-flight work and commit), then the stack.
# With --clean, also deletes the local data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$("$here/stack.sh" dir)
for pidfile in "$dir"/run/*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
done
if [ "${1:-}" = "--clean" ]; then "$here/stack.sh" clean; else "$here/stack.sh" stop; fi
