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

# The demo catalogue, an Open Referral HSDS data package (deploy/demo/catalogue/generate.py writes
# it; importing again updates it), and link workers for the three sites.
"$bin/passerelle-matching" import-hsds "$root/deploy/demo/catalogue" | tail -1
sql "INSERT INTO matching.link_worker (id, name, site, languages, caseload_capacity) VALUES
  ('4c1e0000-0000-4000-8000-000000000001', 'Amélie Roy', 'ottawa-west-chc', '{fr,en}', 25),
  ('4c1e0000-0000-4000-8000-000000000002', 'Jonathan Beaulieu', 'ottawa-west-chc', '{fr}', 25),
  ('4c1e0000-0000-4000-8000-000000000003', 'Priya Natarajan', 'ottawa-centretown-chc', '{en,fr}', 25),
  ('4c1e0000-0000-4000-8000-000000000004', 'Samuel Osei', 'ottawa-centretown-chc', '{en}', 25),
  ('4c1e0000-0000-4000-8000-000000000005', 'Chantal Lalonde', 'rural-east', '{fr,en}', 20)
  ON CONFLICT (id) DO NOTHING"

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

# One referral through the loop, as a link worker and an EHR see it.
first=$(ls "$root"/deploy/demo/referrals/*.json | head -1)
site=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["site"])' "$first")
worker=$("$bin/passerelle-intake" token --role link-worker --subject demo-link-worker --site "$site")
id=$(curl -fsS "$intake/v1/referrals?site=$site&status=received" -H "Authorization: Bearer $worker" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"].lower())')
printf '\nreferral %s in the inbox of site %s\n' "$id" "$site"
for body in '{"action": "accept"}' '{"action": "start"}'; do
  status=$(curl -fsS -X POST "$intake/v1/referrals/$id/transitions" -H "Authorization: Bearer $worker" \
    -H 'Content-Type: application/json' -d "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], "version", d["version"])')
  printf '  %-22s -> %s\n' "$body" "$status"
done

fhir_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
sed "s/SERVICE-REQUEST-ID/$fhir_id/" "$root/deploy/demo/fhir-bundle.json" > /tmp/passerelle-demo-bundle.json
curl -fsS -o /dev/null -X POST "$intake/fhir/r4/Bundle" -H "Authorization: Bearer $token" -H 'Content-Type: application/fhir+json' \
  --data-binary @/tmp/passerelle-demo-bundle.json
task=$(curl -fsS "$intake/fhir/r4/Task?focus=ServiceRequest/$fhir_id" -H "Authorization: Bearer $token" \
  | python3 -c 'import json,sys; t=json.load(sys.stdin)["entry"][0]["resource"]; print(t["status"])')
printf '\nFHIR ServiceRequest/%s (Gravity food-insecurity) taken in; its Task is %s\n' "$fhir_id" "$task"
