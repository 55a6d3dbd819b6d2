#!/usr/bin/env bash
# Generates the Swift client of each service's API from its OpenAPI document, with Apple's
# swift-openapi-generator (built once, on its own, from ./Generator), into Shared/APIClients/.
# The clients are committed; the console and the tests call the services through them.
#
#   generate-clients.sh           regenerate
#   generate-clients.sh --check   exit 1 if a committed client differs from its document
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scratch="$root/.build-openapi-generator"
check=0
[ "${1:-}" = --check ] && check=1

swift build --package-path "$here/Generator" --scratch-path "$scratch" --product swift-openapi-generator >&2
generator="$scratch/debug/swift-openapi-generator"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/embed.py" --composed "$work"

status=0
for service in intake matching notification evaluation; do
  name="$(tr '[:lower:]' '[:upper:]' <<< "${service:0:1}")${service:1}"
  out="$work/out/${name}API"
  mkdir -p "$out"
  "$generator" generate --config "$here/client-generator.yaml" --output-directory "$out" "$work/$service.json" > "$work/$service.log" 2>&1 \
    || { cat "$work/$service.log" >&2; exit 1; }
  target="$root/Shared/APIClients/${name}API"
  if [ "$check" = 1 ]; then
    if ! diff -r -q "$out" "$target" >/dev/null 2>&1; then
      echo "Shared/APIClients/${name}API is stale: run Shared/Contracts/OpenAPI/generate-clients.sh" >&2
      status=1
    fi
  else
    rm -rf "$target"
    mkdir -p "$target"
    cp "$out"/*.swift "$target/"
  fi
done
exit $status
