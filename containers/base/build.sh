#!/usr/bin/env bash
# Build a Debian bookworm base image for workbench with no image registry at all:
#   debootstrap (from Debian's package mirror) -> tar -> docker import.
# Use it where `FROM python:3.11-slim` cannot be pulled (offline labs, CI machines that
# reach only package mirrors). It carries Debian's python3 (3.11), venv and pip; the
# workbench image (containers/Dockerfile, `workbench containers build --base NAME`) adds
# the pinned Python packages on top, from wheels downloaded on the host.
#
# usage: containers/base/build.sh [NAME]      (default NAME: workbench-base:bookworm)
# env:   DEBIAN_MIRROR (default http://deb.debian.org/debian), SUITE (default bookworm),
#        FORCE=1 rebuilds an image that exists.
# needs: root, debootstrap, a running Docker engine. About a minute on a 2-core machine.
set -euo pipefail
NAME=${1:-workbench-base:bookworm}
SUITE=${SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -z "${FORCE:-}" ] && docker image inspect "$NAME" >/dev/null 2>&1; then
  echo "base image $NAME exists (FORCE=1 rebuilds it)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root: sudo $0 $*" >&2; exit 1; }

ROOTFS=$(mktemp -d /tmp/wb-base-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
  tail -30 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
# smaller and reproducible-ish: no package lists, caches or docs in the image
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "workbench offline base: debootstrap $SUITE minbase + python3" - "$NAME" >/dev/null
echo "built $NAME in $(( $(date +%s) - start )) s: $(docker run --rm "$NAME" python3 --version)"
