#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, starts PostgreSQL and the broker,
# then runs the whole suite against them (REQUIRE_INTEGRATION=1: a missing server fails the
# run instead of skipping tests), then schemathesis against each service's OpenAPI document
# (Tests/APIFuzzTests), then the console in a browser (Tests/ConsoleBrowserTests), then the fault tests of the whole loop, which start their own
# PostgreSQL and broker on other ports (Tests/FaultTests/README.md; PASSERELLE_FAULT_SCENARIOS
# chooses scenarios, `none` skips them), then the compose deployment test (deploy/compose/test.sh:
# images built, the stack started in Docker, matching scaled and killed; about 20-30 minutes the
# first time on two cores, as root; PASSERELLE_COMPOSE_TEST=skip skips it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
"$here/install.sh"
# Unformatted code fails first, before anything is built (deploy/local/format.sh fixes it).
"$here/format.sh" --check
"$here/stack.sh" start
eval "$("$here/stack.sh" env)"
export REQUIRE_INTEGRATION=1
swift build --build-tests
swift test --skip-build "$@"
# schemathesis against each service's served OpenAPI document (Tests/APIFuzzTests).
python3 "$root/Tests/APIFuzzTests/fuzz.py" --bin "$(swift build --show-bin-path)"
# The console in headless Chromium: sign-in at the development identity provider, the caseload
# and a referral accepted in French and English, axe-core on every page (Tests/ConsoleBrowserTests).
python3 "$root/Tests/ConsoleBrowserTests/run.py" --bin "$(swift build --show-bin-path)"
python3 "$root/Tests/FaultTests/run_faults.py" --bin "$(swift build --show-bin-path)"
# Network namespaces and nftables need root (CI runs as root).
if [ "$(id -u)" = 0 ] && [ "${PASSERELLE_NET_FAULT_SCENARIOS:-}" != none ]; then
  python3 "$root/Tests/FaultTests/net_faults.py" --bin "$(swift build --show-bin-path)"
else
  echo "[test] network fault tests skipped (they need root; PASSERELLE_NET_FAULT_SCENARIOS=none skips them)" >&2
fi
if [ "${PASSERELLE_COMPOSE_TEST:-run}" = skip ]; then
  echo "[test] compose deployment test skipped (PASSERELLE_COMPOSE_TEST=skip)" >&2
else
  # The local stack is not needed by the compose test; its two cores are.
  "$here/stack.sh" stop
  "$root/deploy/compose/test.sh"
fi
