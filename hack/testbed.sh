#!/usr/bin/env bash
# The local test bed: hack/testbed.sh up|down|env|status [cluster|registries|ecr|git ...]
# `up` first installs what is missing (Debian packages, Go-built binaries, the venv); all cached.
# Use it from a shell with: eval "$(hack/testbed.sh env)"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = up ]; then
  make -s -C "$root" setup >&2
fi
cd "$root"
exec "$root/.venv/bin/python" -m hack.testbed "$@"
