#!/usr/bin/env bash
# Sets up and runs the whole system on this machine: installs what is missing, starts
# PostgreSQL and the broker, builds and starts the four services, loads the demo, and leaves
# everything running, with a local inbox (deploy/local/inbox.py) that catches every message sent.
# Stop it with deploy/local/down.sh.
# Settings: PASSERELLE_BUILD (debug, or release), PASSERELLE_INBOX_HTTP_PORT (8090) and
# PASSERELLE_INBOX_SMTP_PORT (2525) for the inbox; notification's own PASSERELLE_SMS_GATEWAY_URL and
# PASSERELLE_SMTP_* win over the inbox when set.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
log() { printf '[up] %s\n' "$*" >&2; }

"$here/install.sh"
"$here/stack.sh" start
dir=$("$here/stack.sh" dir)
eval "$("$here/stack.sh" env)"

configuration=${PASSERELLE_BUILD:-debug}
log "building the services ($configuration; the first build takes a few minutes)"
mkdir -p "$dir/logs"
swift build -c "$configuration" > "$dir/logs/build.log" 2>&1 || { tail -40 "$dir/logs/build.log"; log "build failed; see $dir/logs/build.log"; exit 1; }
bin=$(swift build -c "$configuration" --show-bin-path 2>/dev/null)

export PASSERELLE_ALLOW_DEV_SECRET=${PASSERELLE_ALLOW_DEV_SECRET:-true}
# People sign in at the development identity provider (deploy/local/dev-identity-provider.py);
# the services verify its RS256 tokens against its published keys, roles and site read where
# Keycloak puts them. HS256 tokens from dev-token.py keep working beside them.
idp_port=${PASSERELLE_IDP_PORT:-8180}
console_port=${PASSERELLE_CONSOLE_PORT:-8085}
export PASSERELLE_OIDC_DISCOVERY_URL=${PASSERELLE_OIDC_DISCOVERY_URL:-http://127.0.0.1:$idp_port}
export PASSERELLE_OIDC_AUDIENCE=${PASSERELLE_OIDC_AUDIENCE:-passerelle}
export PASSERELLE_OIDC_ROLES_CLAIM=${PASSERELLE_OIDC_ROLES_CLAIM:-realm_access.roles}
export PASSERELLE_OIDC_SITE_CLAIM=${PASSERELLE_OIDC_SITE_CLAIM:-site}
export PASSERELLE_MATCHING_POSTAL_AREAS=${PASSERELLE_MATCHING_POSTAL_AREAS:-$root/deploy/matching/postal-areas.csv}
mkdir -p "$dir/logs" "$dir/run" "$dir/inbox"

# Nothing leaves this machine: notification's SMS gateway, SMTP relay and the staff's webhook
# target (registered by demo.sh) are the local inbox, which keeps every message it catches.
inbox_http=${PASSERELLE_INBOX_HTTP_PORT:-8090}
inbox_smtp=${PASSERELLE_INBOX_SMTP_PORT:-2525}
export PASSERELLE_INBOX_URL=http://127.0.0.1:$inbox_http
[ -s "$dir/inbox/webhook-secret" ] || (umask 077; printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" > "$dir/inbox/webhook-secret")
export PASSERELLE_SMS_GATEWAY_URL=${PASSERELLE_SMS_GATEWAY_URL:-$PASSERELLE_INBOX_URL/sms}
export PASSERELLE_SMTP_HOST=${PASSERELLE_SMTP_HOST:-127.0.0.1} PASSERELLE_SMTP_PORT=${PASSERELLE_SMTP_PORT:-$inbox_smtp}
export PASSERELLE_SMTP_SECURITY=${PASSERELLE_SMTP_SECURITY:-none}
export PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS=${PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS:-true}
# Evaluation publishes its de-identified stream only with a pseudonym key: a local one, kept.
[ -s "$dir/evaluation-pseudonym-key" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n' > "$dir/evaluation-pseudonym-key")
export PASSERELLE_EVALUATION_PSEUDONYM_KEY=${PASSERELLE_EVALUATION_PSEUDONYM_KEY:-$(cat "$dir/evaluation-pseudonym-key")}
if [ -f "$dir/run/inbox.pid" ] && kill -0 "$(cat "$dir/run/inbox.pid")" 2>/dev/null; then
  log "the local inbox is already running (pid $(cat "$dir/run/inbox.pid"))"
else
  nohup python3 "$here/inbox.py" --file "$dir/inbox/messages.jsonl" --http-port "$inbox_http" --smtp-port "$inbox_smtp" \
    --webhook-secret "$(cat "$dir/inbox/webhook-secret")" >> "$dir/logs/inbox.log" 2>&1 &
  echo $! > "$dir/run/inbox.pid"
fi

if [ -f "$dir/run/identity-provider.pid" ] && kill -0 "$(cat "$dir/run/identity-provider.pid")" 2>/dev/null; then
  log "the development identity provider is already running (pid $(cat "$dir/run/identity-provider.pid"))"
else
  nohup python3 "$here/dev-identity-provider.py" --port "$idp_port" --redirect-uri "http://127.0.0.1:$console_port/auth/callback" \
    >> "$dir/logs/identity-provider.log" 2>&1 &
  echo $! > "$dir/run/identity-provider.pid"
fi

declare -A ports=([intake]=8081 [matching]=8082 [notification]=8083 [evaluation]=8084)
for service in intake matching notification evaluation; do
  pidfile="$dir/run/$service.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "$service already running (pid $(cat "$pidfile"))"
    continue
  fi
  PASSERELLE_HTTP_PORT=${ports[$service]} nohup "$bin/passerelle-$service" serve >> "$dir/logs/$service.log" 2>&1 &
  echo $! > "$pidfile"
done

for service in intake matching notification evaluation; do
  port=${ports[$service]}
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null || { log "$service is not ready; see $dir/logs/$service.log"; exit 1; }
done
log "all four services are ready"

pidfile="$dir/run/console.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "console already running (pid $(cat "$pidfile"))"
else
  PASSERELLE_HTTP_PORT=$console_port PASSERELLE_CONSOLE_PUBLIC_URL=http://127.0.0.1:$console_port \
    PASSERELLE_CONSOLE_POSTAL_AREAS=${PASSERELLE_CONSOLE_POSTAL_AREAS:-$root/deploy/matching/postal-areas.csv} \
    nohup "$bin/passerelle-console" serve >> "$dir/logs/console.log" 2>&1 &
  echo $! > "$pidfile"
fi
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$console_port/health/ready" >/dev/null 2>&1 && curl -fs "$PASSERELLE_OIDC_DISCOVERY_URL/.well-known/openid-configuration" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$console_port/health/ready" >/dev/null || { log "the console is not ready; see $dir/logs/console.log"; exit 1; }

PASSERELLE_BIN=$bin "$here/demo.sh"

openapi=""
for service in intake matching notification evaluation; do
  curl -fs -o /dev/null "http://127.0.0.1:${ports[$service]}/openapi.json" && openapi+=" http://127.0.0.1:${ports[$service]}/openapi.json"
done
cat <<TEXT

Passerelle is running on this machine.
  console       http://127.0.0.1:$console_port   sign in as a demo user (password: demo) at the development identity provider
                link workers amelie.roy, jonathan.beaulieu (ottawa-west-chc), priya.natarajan, samuel.osei
                (ottawa-centretown-chc), chantal.lalonde (rural-east); referrers dr.tremblay, dr.okafor,
                inf.gagnon; coordinator claire.dubois (ottawa-west-chc)
  identity      $PASSERELLE_OIDC_DISCOVERY_URL   development only (RS256 tokens, discovery, JWKS)
  intake        http://127.0.0.1:8081   referrals (POST /v1/referrals, GET /v1/referrals?site=&status=, transitions), FHIR R4 at /fhir/r4
  matching      http://127.0.0.1:8082   catalogue (/v1/resources, HSDS import/export), matches, connections
  notification  http://127.0.0.1:8083   delivery log (/v1/notifications?referral=), templates, recipients, site policies
  evaluation    http://127.0.0.1:8084   outcomes, reports (/v1/reports, e.g. /v1/reports/funnel)
  OpenAPI      ${openapi:- (none served)}
  each service  /health/live  /health/ready  /metrics (Prometheus), e.g. http://127.0.0.1:8081/metrics
  PostgreSQL    127.0.0.1:${PASSERELLE_DB_PORT} (database passerelle; schemas intake, matching, notification, evaluation)
  Kafka         ${PASSERELLE_KAFKA_BOOTSTRAP} (topics passerelle.{referrals,clients,matching,notifications,evaluation}.v1)
  messages sent ${PASSERELLE_INBOX_URL}/messages, also $dir/inbox/messages.jsonl (webhooks, SMS, and e-mail on SMTP 127.0.0.1:$inbox_smtp)
  logs          $dir/logs/
  a token       PASSERELLE_ALLOW_DEV_SECRET=true deploy/local/dev-token.py --role referrer --subject dr-tremblay --site ottawa-west-chc
  trace again   PASSERELLE_EVALUATION_PSEUDONYM_KEY=\$(cat $dir/evaluation-pseudonym-key) python3 deploy/local/trace.py
Stop everything with: deploy/local/down.sh   (add --clean to delete the data too)
TEXT
