#!/usr/bin/env bash
# Loads the demo into running services through their HTTP APIs, as a coordinator, with a token
# signed by deploy/local/dev-token.py (or given as SEED_TOKEN): the link workers of link-workers.json (into matching, and
# into notification as e-mail recipients, when PASSERELLE_MATCHING_URL and
# PASSERELLE_NOTIFICATION_URL are set), then the referrals (referrals/*.json beside this script)
# into intake. Each referral is sent with the Idempotency-Key deploy/local/demo.sh uses, and each
# link worker is a PUT, so running it twice, or after demo.sh, creates nothing new.
#
# It needs nothing but bash: the service image has no curl, so requests go through bash's
# /dev/tcp (plain HTTP only). The compose job demo-seed runs it inside the intake image
# with SEED_TOKEN from the host, as the image has no Python:
#   SEED_TOKEN=$(deploy/local/dev-token.py --i-know-this-is-development --role network-coordinator --subject demo-seed) \
#     docker compose --profile demo up demo-seed
# (with .env's PASSERELLE_JWT_* exported in that shell); on a host with a local stack:
#   PASSERELLE_ALLOW_DEV_SECRET=true deploy/demo/seed.sh
#
# Environment:
#   PASSERELLE_INTAKE_URL  intake's base URL, http://host[:port] (default http://127.0.0.1:8081)
#   PASSERELLE_MATCHING_URL, PASSERELLE_NOTIFICATION_URL
#                          matching's and notification's base URLs; link workers are registered
#                          only when both are set
#   SEED_TOKEN             a bearer token to use instead of signing one with dev-token.py
#   SEED_READY_TIMEOUT     seconds to wait for intake to report ready (default 120)
#   SEED_REFERRALS_DIR     where the *.json referrals are (default: referrals/ beside this script)
# dev-token.py reads the same PASSERELLE_JWT_* settings as intake itself.
set -euo pipefail
# Content-Length counts bytes; the demo data has accented names.
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
referrals=${SEED_REFERRALS_DIR:-$here/referrals}
url=${PASSERELLE_INTAKE_URL:-http://127.0.0.1:8081}
ready_timeout=${SEED_READY_TIMEOUT:-120}

# A peer that hangs up mid-request must fail the write, not kill the script.
trap '' PIPE

log() { printf '[seed] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# use_service URL NAME: the service later requests go to.
host='' port=''
use_service() {
  [[ $1 =~ ^http://([^/:]+)(:([0-9]+))?/?$ ]] || die "$2 must look like http://host:port (got \"$1\")"
  host=${BASH_REMATCH[1]}
  port=${BASH_REMATCH[3]:-80}
}
use_service "$url" PASSERELLE_INTAKE_URL

# http_request METHOD PATH [BODY_FILE [HEADER...]]: one request on a fresh connection. Sets status,
# location and body; returns non-zero when no HTTP response came back.
status='' location='' body=''
http_request() {
  local method=$1 path=$2 file=${3:-} line name value length=''
  shift $(($# < 3 ? $# : 3))
  status='' location='' body=''
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  {
    printf '%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n' "$method" "$path" "$host" "$port"
    for line in "$@"; do printf '%s\r\n' "$line"; done
    if [[ -n $file ]]; then
      printf 'Content-Length: %s\r\n\r\n' "$(wc -c <"$file" | tr -d ' ')"
      cat "$file"
    else
      printf '\r\n'
    fi
  } >&3 2>/dev/null || { exec 3<&-; return 1; }

  if ! IFS= read -r -t 30 line <&3; then exec 3<&-; return 1; fi
  line=${line%$'\r'}
  [[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] || { exec 3<&-; return 1; }
  status=${BASH_REMATCH[1]}
  # Headers up to the blank line; bash reads a socket byte by byte, so the body stays unread.
  while IFS= read -r -t 30 line <&3; do
    line=${line%$'\r'}
    [[ -n $line ]] || break
    name=${line%%:*}
    value=${line#*:}
    value=${value# }
    case ${name,,} in
      content-length) length=$value ;;
      location) location=$value ;;
    esac
  done
  if [[ -n $length ]]; then
    body=$(head -c "$length" <&3 || true)
  else
    body=$(timeout 10 cat <&3 || true)
  fi
  exec 3<&-
}

log "waiting for intake at $url to be ready"
deadline=$((SECONDS + ready_timeout))
until http_request GET /health/ready && [[ $status == 200 ]]; do
  ((SECONDS < deadline)) || die "intake at $url was not ready within ${ready_timeout}s (last answer: ${status:-none} ${body})"
  sleep 2
done

if [[ -n ${SEED_TOKEN:-} ]]; then
  token=$SEED_TOKEN
else
  # No service executable signs tokens; the development signer needs Python, which hosts have
  # and the service image has not.
  signer=$here/../local/dev-token.py
  command -v python3 >/dev/null && [[ -f $signer ]] \
    || die "no SEED_TOKEN given and no python3 with deploy/local/dev-token.py to sign one"
  token=$(python3 "$signer" --role network-coordinator --subject demo-seed) \
    || die "could not sign a token (is PASSERELLE_JWT_HS256_SECRET set as for intake, and PASSERELLE_ALLOW_DEV_SECRET=true?)"
fi

# Link workers: one JSON object a line in link-workers.json (bash has no JSON parser, so the
# file keeps that shape). Matching gets what it stores, notification an e-mail recipient.
workers_file=${SEED_LINK_WORKERS:-$here/link-workers.json}
if [[ -n ${PASSERELLE_MATCHING_URL:-} && -n ${PASSERELLE_NOTIFICATION_URL:-} ]]; then
  body_file=$(mktemp)
  trap 'rm -f "$body_file"' EXIT
  field() { [[ $1 =~ \"$2\":\ *(\"([^\"]*)\"|\[\"([^\"]*)\"|([0-9]+)) ]] && printf '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}${BASH_REMATCH[4]}"; }
  workers=0
  while IFS= read -r line; do
    [[ $line == *'"id"'* ]] || continue
    id=$(field "$line" id) name=$(field "$line" name) site=$(field "$line" site) email=$(field "$line" email)
    language=$(field "$line" languages) capacity=$(field "$line" caseloadCapacity)
    languages=$([[ $line =~ \"languages\":\ *(\[[^]]*\]) ]] && printf '%s' "${BASH_REMATCH[1]}")
    [[ -n $id && -n $name && -n $site && -n $email && -n $language && -n $capacity ]] \
      || die "$workers_file: a line lacks id, name, site, email, languages or caseloadCapacity: $line"
    printf '{"name": "%s", "site": "%s", "languages": %s, "caseloadCapacity": %s}' "$name" "$site" "$languages" "$capacity" > "$body_file"
    use_service "$PASSERELLE_MATCHING_URL" PASSERELLE_MATCHING_URL
    http_request PUT "/v1/link-workers/$id" "$body_file" "Authorization: Bearer $token" 'Content-Type: application/json' \
      || die "no answer from matching at $PASSERELLE_MATCHING_URL"
    [[ $status == 2?? ]] || die "matching answered $status for link worker $name: $body"
    printf '{"displayName": "%s", "email": "%s", "language": "%s", "channel": "email"}' "$name" "$email" "$language" > "$body_file"
    use_service "$PASSERELLE_NOTIFICATION_URL" PASSERELLE_NOTIFICATION_URL
    http_request PUT "/v1/recipients/link-worker/$id" "$body_file" "Authorization: Bearer $token" 'Content-Type: application/json' \
      || die "no answer from notification at $PASSERELLE_NOTIFICATION_URL"
    [[ $status == 2?? ]] || die "notification answered $status for link worker $name: $body"
    workers=$((workers + 1))
  done < "$workers_file"
  log "$workers link workers registered in matching and notification (e-mail)"
  use_service "$url" PASSERELLE_INTAKE_URL
fi

shopt -s nullglob
files=("$referrals"/*.json)
((${#files[@]} > 0)) || die "no referrals in $referrals"

created=0 present=0
for file in "${files[@]}"; do
  key=demo-$(basename "$file" .json)
  http_request POST /v1/referrals "$file" "Authorization: Bearer $token" 'Content-Type: application/json' \
    "Idempotency-Key: $key" || die "no answer from intake at $url for $(basename "$file")"
  case $status in
    201) created=$((created + 1)); log "created ${location:-?} from $(basename "$file")" ;;
    200) present=$((present + 1)); log "already there: ${location:-?} ($(basename "$file"))" ;;
    *) die "intake answered $status for $(basename "$file"): $body" ;;
  esac
done
log "done: $created created, $present already present"
