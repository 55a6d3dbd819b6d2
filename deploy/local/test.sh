#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, starts PostgreSQL and the broker,
# then runs the whole suite against them (REQUIRE_INTEGRATION=1: a missing server fails the
# run instead of skipping tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
"$here/install.sh"
"$here/stack.sh" start
eval "$("$here/stack.sh" env)"
export REQUIRE_INTEGRATION=1
swift build --build-tests
swift test --skip-build "$@"
