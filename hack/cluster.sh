#!/usr/bin/env bash
# The local Kubernetes control plane alone: hack/cluster.sh up|down|env|status
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK with two fake Nodes).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: hack/cluster.sh up|down|env|status" >&2; exit 2; }
exec "$(dirname "$0")/testbed.sh" "$1" cluster
