#!/usr/bin/env bash
# Build a RabbitMQ image without a registry (docs/reference.md, "Broker"): a Debian root
# filesystem with rabbitmq-server from Debian's packages (debootstrap), imported as a base
# image, then rabbitmq-image/Dockerfile on top. An image already built is kept.
#   RABBITMQ=3.10 (default): Debian 12's RabbitMQ 3.10, mqcompare/rabbitmq:local
#   RABBITMQ=4.0:            Debian 13's RabbitMQ 4.0, mqcompare/rabbitmq:4.0
set -euo pipefail
RABBITMQ=${RABBITMQ:-3.10}
case "$RABBITMQ" in
  3.10) SUITE=bookworm; IMAGE=mqcompare/rabbitmq:local; BASE=mqcompare/rabbitmq:base ;;
  4.0)  SUITE=trixie;   IMAGE=mqcompare/rabbitmq:4.0;   BASE=mqcompare/rabbitmq:base-4.0 ;;
  *) echo "RABBITMQ=$RABBITMQ: one of 3.10 (Debian 12's package), 4.0 (Debian 13's)" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE: already built"
  exit 0
fi
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
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
  debootstrap --variant=minbase --include=rabbitmq-server "$SUITE" "$ROOTFS" "$MIRROR" >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import - "$BASE" >/dev/null
fi
docker build -q --build-arg BASE="$BASE" -t "$IMAGE" "$HERE" >/dev/null
echo "$IMAGE: built ($(docker run --rm "$IMAGE" sh -c 'dpkg-query -W -f "\${Version}" rabbitmq-server'))"
