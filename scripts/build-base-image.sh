#!/usr/bin/env bash
# Build a local Python base image without any image registry, idempotently:
# debootstrap a minimal Debian bookworm (from Debian's package mirror) with python3 and venv,
# then `tar | docker import` it as $BASE_IMAGE. The rootfs tarball is kept in $CACHE_DIR, so a
# fresh clone on the same machine imports it in seconds instead of bootstrapping again.
#   BASE_IMAGE   image to create             (default warmup-python-base:bookworm)
#   CACHE_DIR    where the tarball is kept   (default /var/cache/warmup-autoscaler)
#   DEBIAN_MIRROR                            (default http://deb.debian.org/debian)
# Needs root (debootstrap) and a running Docker daemon (scripts/docker-setup.sh).
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-warmup-python-base:bookworm}
CACHE_DIR=${CACHE_DIR:-/var/cache/warmup-autoscaler}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# Bump when the package list changes, so an old cached tarball is not reused.
ROOTFS_VERSION=1
PACKAGES=python3,python3-venv,ca-certificates,tzdata
TARBALL="$CACHE_DIR/python-base-$SUITE-v$ROOTFS_VERSION.tar"

fail() { echo "build-base-image: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || fail "no Docker daemon answers; run scripts/docker-setup.sh first"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "build-base-image: $BASE_IMAGE exists"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root"
  if ! command -v debootstrap >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed"
    apt-get install -y -qq debootstrap >/dev/null || fail "apt-get install debootstrap failed"
  fi
  mkdir -p "$CACHE_DIR"
  work=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "build-base-image: debootstrap $SUITE (+ $PACKAGES) into $work/rootfs"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$DEBIAN_MIRROR" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
  # Keep the image small: no package lists, caches or docs (apt-get update restores the lists).
  chroot "$work/rootfs" apt-get clean
  rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/usr/share/doc/* \
    "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/* "$work/rootfs"/var/log/*.log \
    "$work/rootfs"/var/cache/debconf/*-old
  tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$TARBALL"
fi

echo "build-base-image: importing $TARBALL as $BASE_IMAGE"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  "$TARBALL" "$BASE_IMAGE" >/dev/null
