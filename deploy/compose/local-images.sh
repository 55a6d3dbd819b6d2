#!/usr/bin/env bash
# Builds, from Debian's packages and this machine, the images a registry would otherwise provide,
# for deploy/compose/test.sh only (the compose file networks use keeps the public images):
#
#   passerelle-local/debian:bookworm     debootstrap of Debian 12 (minbase), imported with docker import
#   passerelle-local/runtime:bookworm    the services' runtime base (libpq, librdkafka >= 2.1, CA certificates, tzdata)
#   passerelle-local/postgres:15         Debian's PostgreSQL behind an entrypoint like the official image's
#   passerelle-local/broker:tansu        the Tansu broker (Kafka protocol)
#   passerelle-local/inbox:latest        an SMTP catcher answering Mailpit's API (deploy/local/inbox.py)
#   passerelle-local/python:bookworm     Debian's Python with pip, for the development identity provider
#
# An image that exists is kept; REBUILD=1 builds them all again. Needs root (debootstrap), a
# running dockerd, and what deploy/local/install.sh installs (librdkafka in /usr/local, Tansu).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '[local-images] %s\n' "$*" >&2; }

have() { [ "${REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

if ! have passerelle-local/debian:bookworm; then
  command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  rootfs=$(mktemp -d /var/tmp/passerelle-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap of Debian 12 from $mirror (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; exit 1; }
  # The image's own sources list, without the host's proxy or credentials.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" > "$rootfs/etc/apt/sources.list"
  # As Debian's slim images: no documentation, manual pages or translations, now or from
  # packages installed later; no package caches.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' > "$rootfs/etc/dpkg/dpkg.cfg.d/passerelle-slim"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | docker import -c 'CMD ["bash"]' - passerelle-local/debian:bookworm >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  trap - EXIT
fi

# build NAME DOCKERFILE [FILE...]: builds NAME from a context holding the Dockerfile and FILEs.
build() {
  local name=$1 dockerfile=$2 context
  shift 2
  have "$name" && return 0
  context=$(mktemp -d)
  cp "$here/local/$dockerfile" "$context/Dockerfile"
  for file in "$@"; do cp -L "$file" "$context/"; done
  log "building $name"
  docker build -q -t "$name" "$context" >/dev/null
  rm -rf "$context"
}

rdkafka=/usr/local/lib/librdkafka.so.1
[ -e "$rdkafka" ] || { log "$rdkafka is missing: run deploy/local/install.sh"; exit 1; }
tansu=$("$root/deploy/local/tansu-path.sh") || { log "Tansu is missing: run deploy/local/install.sh"; exit 1; }

build passerelle-local/runtime:bookworm runtime.Dockerfile "$rdkafka"
build passerelle-local/postgres:15 postgres.Dockerfile "$here/local/postgres-entrypoint.sh"
build passerelle-local/broker:tansu broker.Dockerfile "$tansu"
build passerelle-local/inbox:latest inbox.Dockerfile "$root/deploy/local/inbox.py"
build passerelle-local/python:bookworm python.Dockerfile
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^passerelle-local/' | sed 's/^/[local-images] /' >&2
