#!/usr/bin/env bash
# The compose deployment, proven by running it: builds the images, starts docker-compose.yml (with
# test.override.yml's local stand-ins for the public images), and checks what a network relies on:
#
#   1. every service healthy (readiness: PostgreSQL, broker, schema, consumer group), the console
#      and the development identity provider too (profile dev-identity);
#   2. the demo profile loads (catalogue, link workers, referrals) and each referral's link worker
#      gets the assignment e-mail, caught by the SMTP catcher;
#   2b. the console: its sign-in sends the browser to the provider at the host's address, a demo
#      link worker signs in there (authorization code with PKCE) and sees her site's demo referrals;
#      the services accept the provider's tokens, read inside the compose network, and refuse one
#      it did not sign;
#   3. referrals sent through intake's published port are assigned and notified;
#   4. `--scale matching=3`: three replicas share the referral partitions, each processes referrals;
#   5. one matching replica killed (SIGKILL) mid-stream: no referral lost, none assigned twice;
#   6. what only containers break: read-only root file system, non-root user, time zones, a crash's
#      symbolicated backtrace, `docker stop` ends a service, the console and the provider cleanly
#      (exit 0 within the grace period), placeholder secrets refused;
#   7. `docker-compose down -v`.
#
# Run as root on Debian 12 (CI runs it from .ci/run): installs docker.io, docker-compose and
# debootstrap when missing and starts dockerd if none answers. Everything listens on 127.0.0.1.
# Environment: COMPOSE_TEST_KEEP=1 leaves the stack running at the end (down -v otherwise);
# COMPOSE_TEST_REFERRALS (default 120) referrals in each of the scale and kill phases;
# COMPOSE_TEST_PROJECT (default passerelle-composetest) and COMPOSE_TEST_TAG (default latest, the
# tag of the passerelle-test/* images) let two runs share a Docker host, with
# COMPOSE_TEST_{INTAKE,NOTIFICATION,EVALUATION,MAILPIT,CONSOLE,IDENTITY}_PORT (default 18081,
# 18083, 18084, 18025, 18085, 18180).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
started=$SECONDS
phase_started=$SECONDS
log() { printf '[compose-test %4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }
phase() { log "-- $1 (previous phase took $((SECONDS - phase_started)) s)"; phase_started=$SECONDS; }
failures=0
check() { # check DESCRIPTION COMMAND...: records a failed check without stopping the run
  local what=$1; shift
  if "$@"; then log "ok   $what"; else log "FAIL $what"; failures=$((failures + 1)); fi
}
die() { log "FAIL $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it starts dockerd and runs debootstrap)"
project=${COMPOSE_TEST_PROJECT:-passerelle-composetest}
export COMPOSE_TEST_TAG=${COMPOSE_TEST_TAG:-latest}
tag=$COMPOSE_TEST_TAG
work=$(mktemp -d /var/tmp/passerelle-composetest.XXXXXX)
referrals_per_phase=${COMPOSE_TEST_REFERRALS:-120}

# ---- prerequisites --------------------------------------------------------------------------
phase "prerequisites"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  nohup dockerd >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; die "dockerd did not start"; }
fi
"$root/deploy/local/install.sh"

# ---- images ---------------------------------------------------------------------------------
phase "local stand-ins for the public images"
"$here/local-images.sh"
phase "executables (release, static Swift runtime) built on this host"
SCRATCH=${SCRATCH:-$root/.build} "$root/deploy/prebuilt/build.sh" >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log" >&2; die "the release build failed"; }
# The identity provider's libraries, as wheels for this host's Python (the stand-in's is Debian
# 12's, the same 3.11), installed in its image without a package index.
python3 -m pip download -q --disable-pip-version-check -r deploy/identity/requirements.txt -d deploy/identity/wheels \
  >"$work/wheels.log" 2>&1 || { tail -20 "$work/wheels.log" >&2; die "the identity provider's wheels could not be downloaded"; }

# A .env of fresh secrets, as an operator would write from .env.example.
secret() { head -c 36 /dev/urandom | base64 | tr -d '/+=' ; }
sed -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$(secret)|" \
    -e "s|^INTAKE_DB_PASSWORD=.*|INTAKE_DB_PASSWORD=$(secret)|" \
    -e "s|^MATCHING_DB_PASSWORD=.*|MATCHING_DB_PASSWORD=$(secret)|" \
    -e "s|^NOTIFICATION_DB_PASSWORD=.*|NOTIFICATION_DB_PASSWORD=$(secret)|" \
    -e "s|^EVALUATION_DB_PASSWORD=.*|EVALUATION_DB_PASSWORD=$(secret)|" \
    -e "s|^PASSERELLE_JWT_HS256_SECRET=.*|PASSERELLE_JWT_HS256_SECRET=$(secret)|" \
    -e "s|^PASSERELLE_EVALUATION_PSEUDONYM_KEY=.*|PASSERELLE_EVALUATION_PSEUDONYM_KEY=$(secret)|" \
    -e "s|^INTAKE_PORT=.*|INTAKE_PORT=${COMPOSE_TEST_INTAKE_PORT:-18081}|" \
    -e "s|^NOTIFICATION_PORT=.*|NOTIFICATION_PORT=${COMPOSE_TEST_NOTIFICATION_PORT:-18083}|" \
    -e "s|^EVALUATION_PORT=.*|EVALUATION_PORT=${COMPOSE_TEST_EVALUATION_PORT:-18084}|" \
    -e "s|^MAILPIT_UI_PORT=.*|MAILPIT_UI_PORT=${COMPOSE_TEST_MAILPIT_PORT:-18025}|" \
    -e "s|^CONSOLE_DB_PASSWORD=.*|CONSOLE_DB_PASSWORD=$(secret)|" \
    -e "s|^CONSOLE_PORT=.*|CONSOLE_PORT=${COMPOSE_TEST_CONSOLE_PORT:-18085}|" \
    -e "s|^IDENTITY_PORT=.*|IDENTITY_PORT=${COMPOSE_TEST_IDENTITY_PORT:-18180}|" \
    -e "s|^PASSERELLE_CONSOLE_PUBLIC_URL=.*|PASSERELLE_CONSOLE_PUBLIC_URL=http://127.0.0.1:${COMPOSE_TEST_CONSOLE_PORT:-18085}|" \
    -e "s|^IDENTITY_PUBLIC_URL=.*|IDENTITY_PUBLIC_URL=http://127.0.0.1:${COMPOSE_TEST_IDENTITY_PORT:-18180}|" \
    .env.example > "$work/.env"
! grep -qE '^[A-Z_]+=.*change-me' "$work/.env" || die "the test's .env still holds a change-me value"
set -a; . "$work/.env"; set +a
export PASSERELLE_ENV_FILE="$work/.env"
compose=(docker-compose --project-name "$project" --env-file "$work/.env" -f docker-compose.yml -f deploy/compose/test.override.yml --profile dev-identity)

cleanup() {
  local status=$?
  if [ $status -ne 0 ] || [ $failures -ne 0 ]; then
    "${compose[@]}" ps >&2 || true
    "${compose[@]}" logs --no-color --tail=40 >&2 || true
  fi
  if [ "${COMPOSE_TEST_KEEP:-0}" != 1 ]; then
    "${compose[@]}" --profile demo down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT
"${compose[@]}" --profile demo down -v --remove-orphans >/dev/null 2>&1 || true

phase "images (docker-compose build, the Dockerfile's prebuilt target)"
"${compose[@]}" build >"$work/compose-build.log" 2>&1 || { tail -40 "$work/compose-build.log" >&2; die "docker-compose build failed"; }
for service in intake matching notification evaluation console identity; do
  log "image passerelle-test/$service:$tag: $(docker image inspect -f '{{.Size}}' "passerelle-test/$service:$tag" | awk '{printf "%.0f MB", $1 / 1000000}')"
done

# ---- start ----------------------------------------------------------------------------------
phase "docker-compose up -d"
"${compose[@]}" up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "docker-compose up failed"; }

containers_of() { "${compose[@]}" ps -q "$1"; }
health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1"; }
wait_healthy() { # wait_healthy SERVICE COUNT SECONDS
  local service=$1 count=$2 deadline=$((SECONDS + $3)) healthy
  while :; do
    healthy=0
    for c in $(containers_of "$service"); do [ "$(health_of "$c")" = healthy ] && healthy=$((healthy + 1)); done
    [ "$healthy" -ge "$count" ] && return 0
    [ $SECONDS -lt $deadline ] || { log "$service: $healthy of $count healthy"; return 1; }
    sleep 2
  done
}
for service in postgres kafka mailpit intake matching notification evaluation identity console; do
  wait_healthy "$service" 1 240 || die "$service did not become healthy"
done
log "every service is healthy"

# ---- helpers --------------------------------------------------------------------------------
intake_url=http://127.0.0.1:$INTAKE_PORT
mail_url=http://127.0.0.1:$MAILPIT_UI_PORT
sql() { "${compose[@]}" exec -T postgres psql -X -q -U postgres -d "${PASSERELLE_DB_NAME:-passerelle}" -tA -c "$1"; }
# No service executable signs tokens: the development signer runs here, with .env's PASSERELLE_JWT_*.
token=$(python3 "$root/deploy/local/dev-token.py" --i-know-this-is-development --role network-coordinator --subject compose-test)
[ -n "$token" ] || die "deploy/local/dev-token.py did not sign a token"
export SEED_TOKEN=$token
# in_container CONTAINER PORT METHOD PATH [ASCII BODY]: an HTTP request from inside a container
# (matching has no published port); prints the response body, fails unless the status is 2xx.
in_container() {
  docker exec -i "$1" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    body=$4
    printf "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s" \
      "$1" "$2" "$3" "${#body}" "$body" >&3
    IFS= read -r status <&3
    [[ $status =~ ^HTTP/1\.[01]\ 2 ]] || { echo "$status" >&2; cat <&3 >&2; exit 1; }
    while IFS= read -r line <&3 && [ "${line%$'"'"'\r'"'"'}" != "" ]; do :; done
    cat <&3' "$2" "$3" "$4" "$token" "${5:-}"
}
# send_referrals COUNT SITE TAG [RATE]: POSTs COUNT referrals to intake's published port, RATE a
# second (default as fast as they are answered); prints their ids, one a line.
send_referrals() {
  python3 - "$intake_url" "$token" "$@" <<'PY'
import json, sys, time, urllib.request
url, token, count, site, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0
start = time.monotonic()
for i in range(count):
    body = {"client": {"givenName": "Compose", "familyName": f"Test {tag} {i}", "birthDate": "1970-01-01",
                       "contact": {"email": f"compose.{tag}.{i}@example.org"}, "preferredLanguage": "en",
                       "postalCode": "K1Y 4E9", "preferredChannel": "email"},
            "referrer": {"id": "compose-test", "role": "physician", "organisation": "Compose test clinic"},
            "site": site, "needs": ["loneliness"], "interests": ["walking"], "supportLevel": "light",
            "priority": "routine", "consent": {"contact": True, "shareWithPartners": False, "evaluationUse": True}}
    request = urllib.request.Request(f"{url}/v1/referrals", data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": f"compose-{tag}-{i}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        print(json.load(response)["id"].lower(), flush=True)
    if rate:
        time.sleep(max(0, start + (i + 1) / rate - time.monotonic()))
PY
}
# mail_to ADDRESS: how many e-mails the catcher holds for ADDRESS (Mailpit's API, or the stand-in's).
mail_to() {
  curl -fsS "$mail_url/api/v1/messages?limit=1000" | python3 -c '
import json, sys
wanted = sys.argv[1].lower()
print(sum(1 for m in json.load(sys.stdin)["messages"] if any(t["Address"].lower() == wanted for t in m["To"])))' "$1"
}
# wait_until SECONDS COMMAND...: retries COMMAND every second until it succeeds or time is up.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 1; done
}
processed_by() { # events a matching replica has processed, from its /metrics
  in_container "$1" 8082 GET /metrics | awk '/^passerelle_events_processed_total/ {s += $NF} END {print s + 0}'
}

# ---- demo profile ---------------------------------------------------------------------------
phase "demo profile: catalogue, link workers, referrals"
"${compose[@]}" --profile demo run --rm demo-catalogue >"$work/demo-catalogue.log" 2>&1 \
  || { cat "$work/demo-catalogue.log" >&2; die "demo-catalogue failed"; }
log "demo-catalogue: $(tail -1 "$work/demo-catalogue.log" | tr -d '\r')"
"${compose[@]}" --profile demo run --rm demo-seed >"$work/demo-seed.log" 2>&1 \
  || { cat "$work/demo-seed.log" >&2; die "demo-seed failed"; }
log "demo-seed: $(tail -1 "$work/demo-seed.log" | tr -d '\r')"
check "the demo catalogue is in matching" test "$(sql 'SELECT count(*) FROM matching.community_resource')" -gt 100
demo_referrals=$(sql "SELECT count(*) FROM intake.referral")
check "the demo referrals are in intake" test "$demo_referrals" -ge 5

demo_assignments_mailed() {
  local rows worker email
  rows=$(sql "SELECT a.link_worker_id, count(*) FROM matching.assignment a GROUP BY 1")
  [ "$(sql 'SELECT count(*) FROM matching.assignment')" -ge 5 ] || return 1
  while IFS='|' read -r worker count; do
    email=$(python3 -c 'import json,sys; print(next(w["email"] for w in json.load(open(sys.argv[1])) if w["id"] == sys.argv[2]))' \
      deploy/demo/link-workers.json "$worker")
    [ "$(mail_to "$email")" -ge "$count" ] || return 1
  done <<<"$rows"
}
check "each demo referral is assigned and its link worker's e-mail is caught" wait_until 90 demo_assignments_mailed
log "e-mail caught: $(curl -fsS "$mail_url/api/v1/messages" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"

# ---- the console and the identity provider ------------------------------------------------------
phase "console: sign-in at the development identity provider, caseload, the provider's tokens"
console_url=http://127.0.0.1:$CONSOLE_PORT
check "the console is live and ready on 127.0.0.1:$CONSOLE_PORT" \
  bash -c "curl -fsS '$console_url/health/live' | grep -qx live && curl -fsS '$console_url/health/ready' | grep -qx ready"
# The browser goes to the provider's host address; the console found it through the discovery
# document it read inside the compose network (http://identity:8180).
sign_in_location=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "$console_url/sign-in?return=/")
log "GET /sign-in: $sign_in_location"
sends_to_provider() { # the redirect's target: the provider's host address, an S256 challenge, the console's callback
  python3 - "$sign_in_location" "$IDENTITY_PUBLIC_URL" "$console_url" <<'PY'
import sys, urllib.parse
status, _, location = sys.argv[1].partition(" ")
query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
sys.exit(0 if status in ("302", "303") and location.startswith(sys.argv[2] + "/authorize?") and query.get("code_challenge")
         and query.get("code_challenge_method") == ["S256"] and query.get("redirect_uri") == [sys.argv[3] + "/auth/callback"] else 1)
PY
}
check "the sign-in page redirects the browser to the provider at $IDENTITY_PUBLIC_URL with PKCE (S256)" sends_to_provider
check "an unsigned visitor of the caseload is sent to sign in" \
  bash -c "[[ \$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' '$console_url/') =~ ^30[23]\ $console_url/sign-in ]]"
west_new=$(sql "SELECT id FROM intake.referral WHERE site = 'ottawa-west-chc' AND status = 'received' ORDER BY id" | paste -sd,)
west_all=$(sql "SELECT count(*) FROM intake.referral WHERE site = 'ottawa-west-chc'")
elsewhere=$(sql "SELECT id FROM intake.referral WHERE site <> 'ottawa-west-chc' ORDER BY id" | paste -sd,)
log "demo referrals at ottawa-west-chc: $west_all, new: ${west_new:-none}"
# console_session: a demo link worker of ottawa-west-chc signs in as a browser does (console ->
# provider's sign-in form -> console's callback, which exchanges the code with its PKCE verifier),
# then opens the caseload; checks it lists exactly her site's new referrals.
console_session() {
  python3 - "$console_url" "$IDENTITY_PUBLIC_URL" "$west_new" "$elsewhere" <<'PY'
import http.client, re, sys, urllib.parse
console, provider, expected, others = sys.argv[1], sys.argv[2], set(filter(None, sys.argv[3].split(","))), set(filter(None, sys.argv[4].split(",")))
def request(url, method="GET", headers=None, body=None):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, parts.path + ("?" + parts.query if parts.query else ""), body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode("utf-8", "replace")
    finally:
        connection.close()
def cookies(headers):
    return dict(v.split(";", 1)[0].split("=", 1) for k, v in headers if k.lower() == "set-cookie")
def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)
status, headers, _ = request(console + "/sign-in?return=/")
jar, location = cookies(headers), dict(headers).get("Location", "")
if status not in (302, 303) or not location.startswith(provider + "/authorize?"):
    fail(f"sign-in: {status} {location}")
status, _, page = request(location)
if status != 200 or 'name="password"' not in page:
    fail(f"the provider's sign-in page: {status}")
query = urllib.parse.urlsplit(location).query
status, _, page = request(provider + "/authorize", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                          query + "&" + urllib.parse.urlencode({"username": "amelie.roy", "password": "wrong"}))
if status != 401:
    fail(f"a wrong password was answered {status}")
status, headers, page = request(provider + "/authorize", "POST", {"Content-Type": "application/x-www-form-urlencoded"},
                                query + "&" + urllib.parse.urlencode({"username": "amelie.roy", "password": "demo"}))
callback = dict(headers).get("Location", "")
if status not in (302, 303) or not callback.startswith(console + "/auth/callback?"):
    fail(f"the provider did not send the browser back to the console: {status} {callback} {page[:200]}")
status, headers, page = request(callback, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
jar.update(cookies(headers))
if status not in (302, 303) or not jar.get("passerelle-session"):
    fail(f"the console opened no session: {status} {page[:300]}")
session = [v for k, v in headers if k.lower() == "set-cookie" and v.startswith("passerelle-session=")][0]
if "HttpOnly" not in session or "SameSite=Lax" not in session or "Secure" in session:
    fail(f"the session cookie over http: {session}")
status, _, page = request(console + "/", headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items() if v)})
if status != 200 or "<h1>Ma file de cas</h1>" not in page:
    fail(f"the caseload: {status} {page[:300]}")
table = page.split('id="table-new"', 1)[1] if 'id="table-new"' in page else ""
listed = set(re.findall(r'href="/referrals/([0-9a-fA-F-]{36})"', table.split("</table>", 1)[0]))
if {i.lower() for i in listed} != {i.lower() for i in expected}:
    fail(f"the caseload's new referrals {sorted(listed)} are not her site's {sorted(expected)}")
if any(other.lower() in page.lower() for other in others):
    fail("the caseload shows a referral of another site")
print(f"signed in as amelie.roy; the caseload lists her site's {len(listed)} new referrals")
PY
}
check "the demo site has new referrals for the caseload" test -n "$west_new"
check "a demo link worker signs in at the provider and her caseload lists her site's new demo referrals" console_session
# provider_tokens: a token from the provider (the code flow again, exchanged from this host at the
# back channel its discovery document names for this address) opens intake; the same claims
# signed with another key under the provider's key id, or its own token with a changed claim,
# do not.
provider_tokens() {
  python3 - "$IDENTITY_PUBLIC_URL" "$console_url/auth/callback" "$intake_url" <<'PY'
import base64, hashlib, http.client, json, secrets, sys, urllib.parse
from joserfc import jwt
from joserfc.jwk import RSAKey
provider, redirect, intake = sys.argv[1], sys.argv[2], sys.argv[3]
def request(url, method="GET", headers=None, body=None):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, parts.path + ("?" + parts.query if parts.query else ""), body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode("utf-8", "replace")
    finally:
        connection.close()
def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)
status, _, body = request(provider + "/.well-known/openid-configuration")
discovery = json.loads(body)
if discovery["issuer"] != provider or not discovery["token_endpoint"].startswith(provider):
    fail(f"the discovery document read from this host: {discovery}")
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
form = {"response_type": "code", "client_id": "passerelle-console", "redirect_uri": redirect, "scope": "openid passerelle",
        "state": "compose-test", "code_challenge": challenge, "code_challenge_method": "S256",
        "username": "amelie.roy", "password": "demo"}
status, headers, body = request(discovery["authorization_endpoint"], "POST", {"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(form))
code = urllib.parse.parse_qs(urllib.parse.urlsplit(dict(headers).get("Location", "")).query).get("code", [""])[0]
if not code:
    fail(f"no code: {status} {body[:200]}")
status, _, body = request(discovery["token_endpoint"], "POST", {"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(
    {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": "passerelle-console", "code_verifier": verifier}))
if status != 200:
    fail(f"the token endpoint answered {status}: {body[:200]}")
token = json.loads(body)["access_token"]
header_part, claims_part, signature = token.split(".")
def decoded(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
header, claims = decoded(header_part), decoded(claims_part)
if claims.get("iss") != provider:
    fail(f"the token's issuer is {claims.get('iss')}, not {provider}")
def intake_answers(bearer):
    return request(intake + "/v1/referrals?limit=1", headers={"Authorization": "Bearer " + bearer})[0]
answers = {"the provider's token": intake_answers(token)}
forged = jwt.encode({"alg": "RS256", "kid": header["kid"], "typ": header.get("typ", "at+jwt")}, claims, RSAKey.generate_key(2048))
answers["its claims signed by another key under the provider's key id"] = intake_answers(forged)
widened = dict(claims, realm_access={"roles": ["coordinator"]})
changed = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
answers["its token with the roles changed"] = intake_answers(f"{header_part}.{changed}.{signature}")
stranger = dict(claims, iss="http://identity:8180")
answers["a token naming another issuer"] = intake_answers(jwt.encode({"alg": "RS256", "kid": "stranger"}, stranger, RSAKey.generate_key(2048)))
print("; ".join(f"{what}: {status}" for what, status in answers.items()))
expected = [200, 401, 401, 401]
if list(answers.values()) != expected:
    fail(f"expected {expected}")
PY
}
check "intake accepts the provider's token (keys read at http://identity:8180) and refuses tokens it did not sign" provider_tokens

# ---- referrals through intake's published port ------------------------------------------------
phase "referrals through intake's published port"
matching_one=$(containers_of matching | head -1)
for n in 1 2; do
  in_container "$matching_one" 8082 PUT "/v1/link-workers/c0c0e000-0000-4000-8000-00000000000$n" \
    "{\"name\": \"Compose Worker $n\", \"site\": \"compose-test\", \"languages\": [\"en\"], \"caseloadCapacity\": 100000}" >/dev/null \
    || die "could not register a link worker in matching"
  in_container "$(containers_of notification)" 8083 PUT "/v1/recipients/link-worker/c0c0e000-0000-4000-8000-00000000000$n" \
    "{\"displayName\": \"Compose Worker $n\", \"email\": \"worker$n@compose-test.example.org\", \"language\": \"en\", \"channel\": \"email\"}" >/dev/null \
    || die "could not register a recipient in notification"
done
send_referrals 10 compose-test published >"$work/published.ids"
all_notified() { # all_notified IDS_FILE: each referral assigned once and its link worker's e-mail sent once
  local ids list
  ids=$(wc -l <"$1")
  list=$(sed "s/.*/'&'/" "$1" | paste -sd,)
  [ "$(sql "SELECT count(*) FROM matching.assignment WHERE referral_id IN ($list)")" = "$ids" ] || return 1
  [ "$(sql "SELECT count(*) FROM notification.notification WHERE referral_id IN ($list) AND recipient_kind = 'link-worker' AND template = 'referral-assigned' AND status = 'sent'")" = "$ids" ]
}
check "10 referrals sent to 127.0.0.1:$INTAKE_PORT are assigned and their link workers e-mailed" wait_until 60 all_notified "$work/published.ids"
check "the e-mails reached the SMTP catcher" test $(( $(mail_to worker1@compose-test.example.org) + $(mail_to worker2@compose-test.example.org) )) -ge 10

# ---- scale matching to three -----------------------------------------------------------------
phase "docker-compose up -d --scale matching=3"
"${compose[@]}" up -d --no-recreate --scale matching=3 matching >"$work/scale.log" 2>&1 || { cat "$work/scale.log" >&2; die "scaling failed"; }
wait_healthy matching 3 180 || die "three matching replicas did not become healthy"
mapfile -t replicas < <(containers_of matching)
log "matching replicas: ${#replicas[@]}"
# Readiness includes group membership; give the group its rebalance before measuring.
sleep 5
declare -A before
for c in "${replicas[@]}"; do before[$c]=$(processed_by "$c"); done
send_referrals "$referrals_per_phase" compose-test scaled >"$work/scaled.ids"
check "$referrals_per_phase referrals with three replicas: each assigned and notified once" wait_until 120 all_notified "$work/scaled.ids"
busy=0
for c in "${replicas[@]}"; do
  delta=$(( $(processed_by "$c") - ${before[$c]} ))
  log "replica $(docker inspect -f '{{.Name}}' "$c" | tr -d /): $delta events processed"
  [ "$delta" -gt 0 ] && busy=$((busy + 1))
done
check "each of the three replicas processed referrals" test "$busy" = 3

# ---- kill one replica mid-stream --------------------------------------------------------------
phase "docker kill of one matching replica mid-stream"
send_referrals "$referrals_per_phase" compose-test killed 40 >"$work/killed.ids" &
sender=$!
sleep 1.5
victim=${replicas[1]}
docker kill "$victim" >/dev/null
log "killed $(docker inspect -f '{{.Name}}' "$victim" | tr -d /) after $(wc -l <"$work/killed.ids") referrals were sent"
wait "$sender" || die "sending referrals failed"
check "$referrals_per_phase referrals sent around the kill: each assigned and notified once" wait_until 180 all_notified "$work/killed.ids"
# The assignment table's key would hide a second assignment; the events matching published would not.
check "no referral was assigned twice: one referral.assigned event each, caseloads equal assignments" test \
  "$(sql "SELECT count(*) FROM (SELECT record_key FROM matching.outbox WHERE event_type = 'passerelle.referral.assigned.v1' GROUP BY record_key HAVING count(*) > 1) d"):$(sql 'SELECT sum(current_caseload) FROM matching.link_worker')" \
  = "0:$(sql 'SELECT count(*) FROM matching.assignment')"
check "no link worker was notified twice for one referral" \
  test "$(sql "SELECT count(*) FROM (SELECT referral_id FROM notification.notification WHERE recipient_kind = 'link-worker' AND template = 'referral-assigned' GROUP BY referral_id HAVING count(*) > 1) d")" = 0
check "every referral intake holds reached matching" \
  test "$(sql 'SELECT count(*) FROM intake.referral')" = "$(sql 'SELECT count(*) FROM matching.referral_intake')"

# ---- what only containers break ----------------------------------------------------------------
phase "containers: file system, user, time zones, crash reporter, graceful stop"
intake_container=$(containers_of intake)
check "the root file system is read-only" bash -c "! docker exec $intake_container touch /usr/local/bin/x 2>/dev/null"
check "the service runs as user 10001" test "$(docker exec "$intake_container" id -u)" = 10001
check "time zone data is there (quiet hours in America/Toronto)" docker exec "$(containers_of notification)" test -s /usr/share/zoneinfo/America/Toronto
# A crash (here a SIGSEGV sent from outside) prints a symbolicated backtrace under the read-only
# root and the unprivileged user, as compose runs the service.
crashed=$(docker run -d --read-only --tmpfs /tmp --cap-drop ALL -e PASSERELLE_ALLOW_DEV_SECRET=true "passerelle-test/intake:$tag" serve)
sleep 3
docker kill -s SEGV "$crashed" >/dev/null
backtrace_printed() { docker logs "$crashed" 2>&1 | grep -q 'Program crashed' && docker logs "$crashed" 2>&1 | grep -qE '^ +[0-9]+ .* in passerelle-intake'; }
check "a crash prints a symbolicated backtrace in the container's log" wait_until 30 backtrace_printed
docker rm -f "$crashed" >/dev/null
refusal=$(docker run --rm --env-file .env.example "passerelle-test/intake:$tag" serve 2>&1) && refusal="started: $refusal"
check "a service refuses to start with .env.example's placeholder secrets" grep -q 'placeholder of .env.example' <<<"$refusal"
stop_started=$SECONDS
docker stop -t 30 "$intake_container" >/dev/null
check "docker stop ends intake cleanly (exit 0, $((SECONDS - stop_started)) s)" test "$(docker inspect -f '{{.State.ExitCode}}' "$intake_container")" = 0
docker start "$intake_container" >/dev/null
check "intake is healthy again after a restart" wait_healthy intake 1 120
console_container=$(containers_of console)
check "the console runs as user 10001 on a read-only root file system" \
  bash -c "[ \"\$(docker exec $console_container id -u)\" = 10001 ] && ! docker exec $console_container touch /usr/local/bin/x 2>/dev/null"
for service in console identity; do
  container=$(containers_of "$service")
  stop_started=$SECONDS
  docker stop -t 30 "$container" >/dev/null
  check "docker stop ends the $service cleanly (exit 0, $((SECONDS - stop_started)) s)" test "$(docker inspect -f '{{.State.ExitCode}}' "$container")" = 0
done

phase "docker-compose down -v"
if [ "${COMPOSE_TEST_KEEP:-0}" != 1 ]; then
  "${compose[@]}" --profile demo down -v --remove-orphans >/dev/null 2>&1
  check "nothing of the project is left" test -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
fi
log "done in $((SECONDS - started)) s: $failures failed checks"
[ "$failures" = 0 ]
