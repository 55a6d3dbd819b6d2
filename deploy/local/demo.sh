#!/usr/bin/env bash
# Sends sample referrals to a running intake and shows each one arrive in every service's schema.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
eval "$("$here/stack.sh" env)"
bin=${PASSERELLE_BIN:-$(cd "$root" && swift build --show-bin-path)}
intake=${PASSERELLE_INTAKE_URL:-http://127.0.0.1:8081}
export PASSERELLE_ALLOW_DEV_SECRET=${PASSERELLE_ALLOW_DEV_SECRET:-true}
token=$("$bin/passerelle-intake" token --role coordinator --subject demo-coordinator)
sql() { PGPASSWORD=postgres psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle -tAc "$1"; }

for file in "$root"/deploy/demo/referrals/*.json; do
  response=$(curl -fsS -X POST "$intake/v1/referrals" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: demo-$(basename "$file" .json)" --data-binary @"$file")
  id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"].lower())' <<<"$response")
  printf 'referral %s (%s) received by intake\n' "$id" "$(basename "$file" .json)"
  for table in matching.referral_intake notification.referral_audience evaluation.pathway; do
    for _ in $(seq 1 50); do
      [ "$(sql "SELECT count(*) FROM $table WHERE referral_id = '$id'")" = 1 ] && break
      sleep 0.2
    done
    printf '  %-32s %s\n' "$table" "$([ "$(sql "SELECT count(*) FROM $table WHERE referral_id = '$id'")" = 1 ] && echo recorded || echo MISSING)"
  done
done
