#!/usr/bin/env bash
# The console under a busy site: the caseload and a referral page with its casework, timed one
# request after another (p50/p95 of REQUESTS requests, default 200) with REFERRALS open referrals
# at the link worker's site (default 2,000). Target: p95 under 200 ms. Figures are medians of RUNS
# runs (default 3) with their spread (min–max). PASSERELLE_BENCH_BIN: the executables to time (the
# release build otherwise); the section says which build it was. Prints a Markdown section.
# Own schemas and topic prefix, dropped at the end; talks to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bench=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
referrals=${REFERRALS:-2000}
requests=${REQUESTS:-200}
eval "$("$root/deploy/local/stack.sh" env)"

bin=${PASSERELLE_BENCH_BIN:-$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)}
for product in passerelle-intake passerelle-matching passerelle-notification passerelle-console; do
  [ -x "$bin/$product" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product "$product" >/dev/null)
done
case $bin in */debug*) build=debug ;; *) build=release ;; esac
commit=$(cd "$root" && git rev-parse --short HEAD)

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }

declare -A values
for run in $(seq 1 "$runs"); do
  line=$(python3 "$bench/console_load.py" --bin "$bin" --referrals "$referrals" --requests "$requests" | grep '^RESULT')
  for key in caseload_p50_ms caseload_p95_ms caseload_max_ms referral_p50_ms referral_p95_ms referral_max_ms; do
    values[$key]+="$(sed -E "s/.*$key=([0-9.]+).*/\1/" <<<"$line") "
  done
done
figure() { printf '%s\n' ${values[$1]} | median; printf ' ('; printf '%s\n' ${values[$1]} | spread; printf ')'; }

cat <<MD
## Console: caseload and referral page under a busy site

$referrals open referrals at one site, sent through intake; a link worker signed in through the
development identity provider (authorization code with PKCE) has accepted one and logged a
contact, a note and a plan on it. Each page is fetched $requests times one after another after 10
warm-up requests, the session cookie sent as a browser does: the caseload (two lists of 25 from
intake, her counts by status) and the referral page (the referral, its contacts, plan, notes,
client, message log and connections, read in parallel from intake, notification and matching).
Target: p95 under 200 ms. Driver: deploy/bench/console_load.py. Build: **$build** ($commit).

| page | p50 ms (spread) | p95 ms (spread) | max ms (spread) |
|---|---|---|---|
| caseload \`/\` | $(figure caseload_p50_ms) | $(figure caseload_p95_ms) | $(figure caseload_max_ms) |
| referral page \`/referrals/{id}\` | $(figure referral_p50_ms) | $(figure referral_p95_ms) | $(figure referral_max_ms) |
MD
