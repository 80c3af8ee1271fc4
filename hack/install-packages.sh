#!/usr/bin/env bash
# Installs the Debian packages the test bed runs: the CNCF registry, skopeo, OpenSSH, htpasswd, git;
# and buildah with debootstrap, which build the container image (hack/image.sh).
# Idempotent: does nothing when every command is already there.
set -euo pipefail
declare -A need=(
  [docker-registry]=docker-registry [skopeo]=skopeo [sshd]=openssh-server [ssh]=openssh-client
  [ssh-keygen]=openssh-client [htpasswd]=apache2-utils [git]=git [curl]=curl
  [buildah]=buildah [debootstrap]=debootstrap
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "[packages] installing ${pkgs[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${pkgs[*]}" >&2; exit 1; }
  sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
