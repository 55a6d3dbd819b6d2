#!/usr/bin/env bash
# Loads the demo into running services and follows one referral through the whole loop:
#  - the catalogue (deploy/demo/catalogue, Open Referral HSDS) and the link workers of the three
#    sites (deploy/demo/link-workers.json) into matching, through its CLI and API;
#  - in notification, where messages go on this machine: the sites' policies and, when the local
#    inbox runs (deploy/local/inbox.py, started by up.sh), a webhook target on it for link workers,
#    referrers and partners;
#  - the sample referrals (deploy/demo/referrals), each shown arriving in every service's schema;
#  - each of them then taken through the loop by its link worker (so reports have closed pathways
#    to count), and a FHIR bundle taken in;
#  - then deploy/local/trace.py: one new referral, step by step, from received to the report.
#
# Environment: PASSERELLE_{INTAKE,MATCHING,NOTIFICATION,EVALUATION}_URL (default
# http://127.0.0.1:8081 … 8084), PASSERELLE_INBOX_URL (http://127.0.0.1:8090),
# PASSERELLE_INBOX_WEBHOOK_SECRET (default: the one up.sh keeps in the stack's folder),
# PASSERELLE_BIN (folder of the service executables), PASSERELLE_DEMO_TRACE=false to skip the trace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
eval "$("$here/stack.sh" env)"
dir=$("$here/stack.sh" dir)
bin=${PASSERELLE_BIN:-$(cd "$root" && swift build --show-bin-path)}
export PASSERELLE_INTAKE_URL=${PASSERELLE_INTAKE_URL:-http://127.0.0.1:8081}
export PASSERELLE_MATCHING_URL=${PASSERELLE_MATCHING_URL:-http://127.0.0.1:8082}
export PASSERELLE_NOTIFICATION_URL=${PASSERELLE_NOTIFICATION_URL:-http://127.0.0.1:8083}
export PASSERELLE_EVALUATION_URL=${PASSERELLE_EVALUATION_URL:-http://127.0.0.1:8084}
export PASSERELLE_INBOX_URL=${PASSERELLE_INBOX_URL:-http://127.0.0.1:8090}
intake=$PASSERELLE_INTAKE_URL matching=$PASSERELLE_MATCHING_URL notification=$PASSERELLE_NOTIFICATION_URL
export PASSERELLE_ALLOW_DEV_SECRET=${PASSERELLE_ALLOW_DEV_SECRET:-true}
token=$(python3 "$here/dev-token.py" --role network-coordinator --subject demo-coordinator)
sql() { PGPASSWORD=postgres psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle -tAc "$1"; }
# put URL JSON: an idempotent write as the coordinator; fails with the service's answer.
answer_file=$(mktemp)
trap 'rm -f "$answer_file"' EXIT
put() {
  local status
  status=$(curl -sS -o "$answer_file" -w '%{http_code}' -X PUT "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$2")
  case $status in 2??) ;; *) printf 'PUT %s answered %s: %s\n' "$1" "$status" "$(cat "$answer_file")" >&2; return 1 ;; esac
}

# The demo catalogue, an Open Referral HSDS data package (deploy/demo/catalogue/generate.py writes
# it; importing again updates it): ~200 resources around an urban community health centre
# (ottawa-centretown-chc), a francophone one (ottawa-west-chc) and a rural one (rural-east).
"$bin/passerelle-matching" import-hsds "$root/deploy/demo/catalogue" | tail -1
workers=$(python3 -c 'import json,sys; [print(w["id"], json.dumps(w)) for w in json.load(open(sys.argv[1]))]' "$root/deploy/demo/link-workers.json")
while read -r id body; do
  put "$matching/v1/link-workers/$id" "$(python3 -c 'import json,sys; w=json.loads(sys.argv[1]); w.pop("id"); w.pop("email", None); print(json.dumps(w))' "$body")"
done <<<"$workers"
printf 'link workers: %s\n' "$(python3 -c 'import json,sys; print(", ".join(w["name"] + " (" + w["site"] + ")" for w in json.load(open(sys.argv[1]))))' "$root/deploy/demo/link-workers.json")"

# Where notification sends: each site's language and quiet hours for clients; staff and partners
# by signed webhook to the local inbox (clients by SMS and e-mail, which up.sh also points there).
put "$notification/v1/sites/ottawa-west-chc/policy" '{"defaultLanguage": "fr", "timeZone": "America/Toronto", "quietHours": "20:00-08:00"}'
put "$notification/v1/sites/ottawa-centretown-chc/policy" '{"defaultLanguage": "en", "timeZone": "America/Toronto", "quietHours": "20:00-08:00"}'
put "$notification/v1/sites/rural-east/policy" '{"defaultLanguage": "fr", "timeZone": "America/Toronto", "quietHours": "20:00-08:00"}'
secret=${PASSERELLE_INBOX_WEBHOOK_SECRET:-$(cat "$dir/inbox/webhook-secret" 2>/dev/null || true)}
if [ -n "$secret" ] && curl -fs -o /dev/null "$PASSERELLE_INBOX_URL/messages"; then
  put "$notification/v1/webhook-targets/local-inbox" \
    "{\"url\": \"$PASSERELLE_INBOX_URL/webhooks/staff\", \"secret\": \"$secret\", \"description\": \"this machine's inbox (deploy/local/inbox.py)\"}"
  recipient() { put "$notification/v1/recipients/$1/$2" "{\"displayName\": \"$3\", \"webhookTarget\": \"local-inbox\", \"language\": \"$4\", \"channel\": \"webhook\"}"; }
  while read -r id body; do
    recipient link-worker "$id" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$body")" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["languages"][0])' "$body")"
  done <<<"$workers"
  recipient referrer dr-tremblay 'Dre Tremblay' fr
  recipient referrer np-okafor 'NP Okafor' en
  recipient referrer np-gauthier 'IPS Gauthier' fr
  recipient referrer sw-boateng 'Ms Boateng' en
  recipient referrer dr-bergeron 'Dr Bergeron' fr
  # Every resource's organisation hears of a new participant (when the client agreed to share).
  partners=0
  for id in $(curl -fsS "$matching/v1/resources" -H "Authorization: Bearer $token" | python3 -c 'import json,sys
d=json.load(sys.stdin); items=d if isinstance(d,list) else d.get("items", d.get("resources", []))
[print(r["id"].lower()) for r in items]'); do
    recipient partner "$id" 'Partner organisation' fr && partners=$((partners + 1))
  done
  printf 'notification: site policies, link workers, referrers and %d partners send to %s\n' "$partners" "$PASSERELLE_INBOX_URL"
else
  printf 'notification: site policies set; no local inbox at %s, so staff have no registered contact\n' "$PASSERELLE_INBOX_URL"
fi

ids=()
for file in "$root"/deploy/demo/referrals/*.json; do
  response=$(curl -fsS -X POST "$intake/v1/referrals" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: demo-$(basename "$file" .json)" --data-binary @"$file")
  id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"].lower())' <<<"$response")
  ids+=("$id")
  printf 'referral %s (%s) received by intake\n' "$id" "$(basename "$file" .json)"
  for table in matching.referral_intake notification.referral_audience evaluation.pathway; do
    for _ in $(seq 1 50); do
      [ "$(sql "SELECT count(*) FROM $table WHERE referral_id = '$id'")" = 1 ] && break
      sleep 0.2
    done
    printf '  %-32s %s\n' "$table" "$([ "$(sql "SELECT count(*) FROM $table WHERE referral_id = '$id'")" = 1 ] && echo recorded || echo MISSING)"
  done
done

# The sample referrals through the loop, as their link workers would take them, so that the
# evaluation reports have closed pathways to count (those already taken are left as they are).
printf '\nthe sample referrals through the loop (accepted, started, connected, completed, outcomes recorded):\n'
PASSERELLE_BIN=$bin python3 "$here/trace.py" --close "${ids[@]}"

fhir_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
sed "s/SERVICE-REQUEST-ID/$fhir_id/" "$root/deploy/demo/fhir-bundle.json" > /tmp/passerelle-demo-bundle.json
# As an EHR sends it: its own role, for the site it sends to; it reads back only what it sent.
ehr=$(python3 "$here/dev-token.py" --role ehr-integration --subject demo-ehr --site ottawa-centretown-chc)
curl -fsS -o /dev/null -X POST "$intake/fhir/r4/Bundle" -H "Authorization: Bearer $ehr" -H 'Content-Type: application/fhir+json' \
  --data-binary @/tmp/passerelle-demo-bundle.json
task=$(curl -fsS "$intake/fhir/r4/Task?focus=ServiceRequest/$fhir_id" -H "Authorization: Bearer $ehr" \
  | python3 -c 'import json,sys; t=json.load(sys.stdin)["entry"][0]["resource"]; print(t["status"])')
printf '\nFHIR ServiceRequest/%s (Gravity food-insecurity) taken in; its Task is %s\n' "$fhir_id" "$task"

if [ "${PASSERELLE_DEMO_TRACE:-true}" != false ]; then
  printf '\nOne new referral through the whole loop, as it happens (deploy/local/trace.py):\n'
  # The system stays up whatever the trace finds; what it found is printed above.
  PASSERELLE_BIN=$bin python3 "$here/trace.py" || printf 'the live trace did not finish (see above); the services keep running\n' >&2
fi
