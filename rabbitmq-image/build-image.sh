#!/usr/bin/env bash
# Build mqcompare/rabbitmq:local without a registry (docs/reference.md, "Broker"): a Debian root
# filesystem with rabbitmq-server from Debian's packages (debootstrap), imported as
# mqcompare/rabbitmq:base, then rabbitmq-image/Dockerfile on top. An image already built is kept.
set -euo pipefail
IMAGE=${1:-mqcompare/rabbitmq:local}
HERE=$(cd "$(dirname "$0")" && pwd)
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE: already built"
  exit 0
fi
if ! docker image inspect mqcompare/rabbitmq:base >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed: apt-get install -y debootstrap"; exit 3; }
  ROOTFS=$(mktemp -d /tmp/mqcompare-rootfs-XXXXXX)
  trap 'rm -rf "$ROOTFS"' EXIT
  # the machine's own Debian mirror, from its apt sources (the project names no archive)
  # (either file may be missing: that must not end the script)
  MIRROR=${DEBIAN_MIRROR:-$(
    { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
      cat /etc/apt/sources.list 2>/dev/null | awk '/^deb / {print $2}'; } \
    | awk '!/-security/ && !seen++' || true)}
  [ -n "$MIRROR" ] || { echo "no Debian mirror in the apt sources: set DEBIAN_MIRROR"; exit 3; }
  debootstrap --variant=minbase --include=rabbitmq-server bookworm "$ROOTFS" "$MIRROR" >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import - mqcompare/rabbitmq:base >/dev/null
fi
docker build -q -t "$IMAGE" "$HERE" >/dev/null
echo "$IMAGE: built"
