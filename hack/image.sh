#!/usr/bin/env bash
# Builds the container image from the Dockerfile as $IMG (default irc:dev): with docker when a docker
# daemon answers, else with buildah (chroot isolation, vfs storage: no daemon, nothing but root).
# When the Dockerfile's default base cannot be pulled (no route to Docker Hub), it first builds a
# local base from Debian's packages (debootstrap: bookworm, python3 with venv, CA certificates,
# OpenSSH's client), kept in buildah's storage as localhost/irc-base:bookworm and reused after.
# buildah's layer cache makes a rebuild with only irc/ changed a matter of seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
img=${IMG:-irc:dev}
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/irc/__init__.py")
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  exec docker build --build-arg "VERSION=$version" -t "$img" "$root"
fi
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
"$root/hack/install-packages.sh"
base=docker.io/library/python:3.11-slim-bookworm
if ! buildah inspect --type image "$base" >/dev/null 2>&1 &&
  ! timeout 60 buildah pull -q "$base" >/dev/null 2>&1; then
  base=localhost/irc-base:bookworm
  if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
    echo "[image] $base: a Debian bookworm base from Debian's packages (debootstrap)" >&2
    ctr=$(buildah from scratch)
    trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
    rootfs=$(buildah mount "$ctr")
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,openssh-client \
      bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    buildah umount "$ctr" >/dev/null
    buildah config --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
    buildah commit -q "$ctr" "$base" >/dev/null
  fi
fi
# Where the package index is reached through a TLS-inspecting proxy, the host trusts its CA (pip's
# PIP_CERT, or SSL_CERT_FILE) and the build must too: mounted for the build's RUN steps only.
extra=()
ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  extra+=(--volume "$ca:/etc/irc-build-ca.pem:ro" --build-arg PIP_CERT=/etc/irc-build-ca.pem)
fi
echo "[image] building $img on $base with buildah" >&2
buildah build --layers -q "${extra[@]}" --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" \
  -t "$img" "$root" >/dev/null
echo "[image] $img: $(buildah inspect --type image --format '{{.FromImageID}}' "$img" | cut -c1-12)" >&2
