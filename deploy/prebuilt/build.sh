#!/usr/bin/env bash
# Builds the five executables (the four services and the console) in release mode with the Swift
# runtime linked in statically and copies them, stripped of debug sections, with
# swift-backtrace-static (symbolicated crash reports without the toolchain) into OUT (default:
# this folder). The Dockerfile's build stage runs it; on a host it fills deploy/prebuilt/ for
# `docker build --target prebuilt`.
#
# Environment: OUT (destination folder), SCRATCH (SwiftPM build folder, default .build).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/deploy/prebuilt}
scratch=${SCRATCH:-$root/.build}
services=(intake matching notification evaluation console)
cd "$root"
# One product at a time (SwiftPM takes one); the later ones reuse the shared modules.
for service in "${services[@]}"; do
  swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product "passerelle-$service"
done
bin=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
mkdir -p "$out"
for service in "${services[@]}"; do
  cp "$bin/passerelle-$service" "$out/"
  strip --strip-debug "$out/passerelle-$service"
done
cp "$toolchain/libexec/swift/linux/swift-backtrace-static" "$out/"
echo "executables in $out" >&2
