#!/usr/bin/env bash
# Build mqcompare/rabbitmq:local without a registry (FACTS.md, "Docker"): a Debian root
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
  MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  debootstrap --variant=minbase --include=rabbitmq-server bookworm "$ROOTFS" "$MIRROR" >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import - mqcompare/rabbitmq:base >/dev/null
fi
docker build -q -t "$IMAGE" "$HERE" >/dev/null
echo "$IMAGE: built"
