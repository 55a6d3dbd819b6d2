#!/usr/bin/env bash
# Formats the Swift sources with `swift format` (it ships with the toolchain) and the checked-in
# .swift-format configuration.
#
#   format.sh           rewrite the sources in place
#   format.sh --check   change nothing; exit 1 if a file is not formatted or breaks a lint rule
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sources=(Package.swift Services Shared Tests deploy/bench)
if [ "${1:-}" = --check ]; then
  if ! swift format lint --strict --parallel --recursive "${sources[@]}"; then
    echo "[format] the sources are not formatted: run deploy/local/format.sh" >&2
    exit 1
  fi
else
  swift format format --in-place --parallel --recursive "${sources[@]}"
fi
