#!/usr/bin/env bash
# HSDS import: a generated 211 directory (Tests/MatchingTests/Fixtures/hsds-211/generate.py: AIRS
# codes across the taxonomy, missing organizations and taxonomy rows, languages as names and
# sentences) of SIZES services (default 1,000, 10,000 and 20,000), imported by the release
# executable (`passerelle-matching import-hsds`, which streams folders: bounded memory) into an
# empty schema, then again (every service updated in place). Reports wall time and the process's peak resident memory (GNU time), the
# median of RUNS runs (default 3) with the spread (min–max). Prints a Markdown section;
# deploy/bench/run.sh stores it. Talks to 127.0.0.1 only, on a schema of its own, removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
runs=${RUNS:-3}
sizes=${SIZES:-1000 10000 20000}
eval "$("$root/deploy/local/stack.sh" env)"
export PGPASSWORD=postgres
psql_admin=(psql -X -q -h 127.0.0.1 -p "$PASSERELLE_DB_PORT" -U postgres -d passerelle)
command -v /usr/bin/time >/dev/null || { echo "GNU time is needed (apt-get install time)" >&2; exit 1; }

bin=${PASSERELLE_BENCH_BIN:-$(cd "$root" && swift build -c release --scratch-path .build-release --show-bin-path)}
[ -x "$bin/passerelle-matching" ] || (cd "$root" && swift build -c release --scratch-path .build-release --product passerelle-matching >/dev/null)

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
spread() { sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "%.1f–%.1f", min, max}'; }

schema=hsds_bench
work=$(mktemp -d)
export PASSERELLE_DB_USER=postgres PASSERELLE_DB_PASSWORD=postgres PASSERELLE_DB_SCHEMA=$schema
export PASSERELLE_LOG_LEVEL=warning PASSERELLE_JWT_HS256_SECRET=bench-GKLBEh6xnLPAmjSvE09o1ni2l5SsJJPVJJyIFLCznstmR7Po PASSERELLE_JWT_ISSUER=passerelle-bench PASSERELLE_JWT_AUDIENCE=passerelle
cleanup() {
  rm -rf "$work"
  "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
}
trap cleanup EXIT

# One import: prints "seconds peak_MB" and keeps the command's summary line.
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin/passerelle-matching" import-hsds "$1" > "$work/out"
  tail -1 "$work/out" > "$work/summary"
  awk '{printf "%s %.1f\n", $1, $2 / 1024}' "$work/time"
}

declare -A first_s first_mb again_s again_mb summary
for size in $sizes; do
  python3 "$root/Tests/MatchingTests/Fixtures/hsds-211/generate.py" --services "$size" --out "$work/dir-$size"
  for _ in $(seq 1 "$runs"); do
    "${psql_admin[@]}" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
    "$bin/passerelle-matching" migrate >/dev/null
    read -r s mb < <(measure "$work/dir-$size")
    first_s[$size]+="$s "; first_mb[$size]+="$mb "
    summary[$size]=$(cat "$work/summary")
    read -r s mb < <(measure "$work/dir-$size")
    again_s[$size]+="$s "; again_mb[$size]+="$mb "
  done
done

echo "## HSDS import: a 211 directory"
echo
echo "A generated 211 directory (HSDS 2.0 CSV folder, ~4 services per organization, one location, address"
echo "and phone each, 1–3 AIRS terms, languages) imported by \`passerelle-matching import-hsds\` (release build)"
echo "into an empty schema, then imported again (every service updated in place). Wall time of the whole"
echo "command (start, migrations check, read, one transaction, exit) and its peak resident memory (GNU"
echo "time's maximum RSS). Median of $runs runs (min–max). Target: 10,000 services in under 10 s, with"
echo "memory that does not grow with the file."
echo
echo "| services | CSV MB | first import s | first import peak MB | re-import s | re-import peak MB |"
echo "|---|---|---|---|---|---|"
for size in $sizes; do
  csv_mb=$(du -sm "$work/dir-$size" | cut -f1)
  echo "| $size | $csv_mb | $(tr ' ' '\n' <<<"${first_s[$size]}" | grep . | median) ($(tr ' ' '\n' <<<"${first_s[$size]}" | grep . | spread)) | $(tr ' ' '\n' <<<"${first_mb[$size]}" | grep . | median) ($(tr ' ' '\n' <<<"${first_mb[$size]}" | grep . | spread)) | $(tr ' ' '\n' <<<"${again_s[$size]}" | grep . | median) ($(tr ' ' '\n' <<<"${again_s[$size]}" | grep . | spread)) | $(tr ' ' '\n' <<<"${again_mb[$size]}" | grep . | median) ($(tr ' ' '\n' <<<"${again_mb[$size]}" | grep . | spread)) |"
done
echo
echo "What the import reported (last run of each size):"
echo
for size in $sizes; do echo "- $size: ${summary[$size]}"; done
