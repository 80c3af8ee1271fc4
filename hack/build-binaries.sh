#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok from the Go
# module proxy with the machine's Go toolchain, into a version-stamped cache outside the repo; and
# hack/go-oracle (our own program over Masterminds/semver, path.Match, regexp, distribution/reference,
# fluxcd/pkg/version and text/template with Masterminds/sprig, for e2e/test_semver_oracle.py and
# e2e/test_go_oracle_*.py); and hack/bench/clientgo (client-go's informers, the peer of
# hack/bench/informer_sync.py).
# Idempotent: a component whose binaries are already in the cache is not rebuilt.
# Usage: hack/build-binaries.sh            (prints the bin directory of each component at the end)
#        hack/build-binaries.sh --bench    (also hack/bench/clientgo, which only `make bench` needs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${IRC_CACHE:-$HOME/.cache/irc}
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod

k8s_dir=$cache/k8s-$K8S_VERSION
etcd_dir=$cache/etcd-$ETCD_VERSION
kwok_dir=$cache/kwok-$KWOK_VERSION
oracle_dir=$cache/go-oracle-$MASTERMINDS_SEMVER_VERSION
clientgo_dir=$cache/bench-clientgo-$K8S_VERSION

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Runs a long go command while printing a heartbeat, so CI logs show progress.
with_heartbeat() {
  local what=$1; shift
  "$@" &
  local pid=$! start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "$what: still building ($((SECONDS - start)) s)"
  done
  wait "$pid"
}

build_k8s() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local b missing=0
  for b in "${bins[@]}"; do [ -x "$k8s_dir/$b" ] || missing=1; done
  if [ $missing = 0 ]; then log "kubernetes $K8S_VERSION: cached in $k8s_dir"; return; fi

  log "kubernetes $K8S_VERSION: preparing wrapper module"
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # k/k's go.mod requires its staging modules at v0.0.0 and replaces them with ./staging paths,
  # which consumers ignore; read it from the module cache and pin each to its published v0.X.Y.
  local gomod
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging_version="v0.${K8S_VERSION#v1.}"
  local godebug
  godebug=$(grep -E '^godebug ' "$gomod" || true)
  {
    echo "module irc.local/k8s-binaries"
    echo
    echo "go 1.26"
    [ -n "$godebug" ] && echo "$godebug"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '=> \./staging/src/k8s\.io/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  log "kubernetes $K8S_VERSION: $(grep -c '^replace' "$work/go.mod") staging replaces; resolving modules"
  (cd "$work" && go mod download k8s.io/kubernetes && go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null)

  local major minor
  major=$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')
  minor=$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitCommit=module-proxy -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  mkdir -p "$k8s_dir.tmp"
  log "kubernetes $K8S_VERSION: compiling ${bins[*]} (cold: ~15-25 min on 2 cores)"
  (cd "$work" && with_heartbeat "kubernetes" go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$k8s_dir.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$k8s_dir" && mv "$k8s_dir.tmp" "$k8s_dir"
  log "kubernetes $K8S_VERSION: done ($(du -sh "$k8s_dir" | cut -f1))"
}

build_etcd() {
  if [ -x "$etcd_dir/etcd" ]; then log "etcd $ETCD_VERSION: cached in $etcd_dir"; return; fi
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # server/v3 is a main package whose own replaces are ignored by consumers; no replaces needed here.
  printf 'module irc.local/etcd-binary\n\ngo 1.26\n' >"$work/go.mod"
  log "etcd $ETCD_VERSION: resolving modules"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null)
  mkdir -p "$etcd_dir.tmp"
  log "etcd $ETCD_VERSION: compiling"
  (cd "$work" && with_heartbeat "etcd" go build -trimpath -ldflags "-s -w" -o "$etcd_dir.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$etcd_dir" && mv "$etcd_dir.tmp" "$etcd_dir"
  log "etcd $ETCD_VERSION: done"
}

build_kwok() {
  if [ -x "$kwok_dir/kwok" ] && [ -d "$kwok_dir/stages" ]; then log "kwok $KWOK_VERSION: cached in $kwok_dir"; return; fi
  mkdir -p "$kwok_dir.tmp/stages"
  log "kwok $KWOK_VERSION: go install"
  with_heartbeat "kwok" env GOBIN="$kwok_dir.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok >= 0.8 has no built-in stages: ship the ones kwokctl uses by default next to the binary.
  local src; src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
     "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" \
     "$kwok_dir.tmp/stages/"
  chmod u+w "$kwok_dir.tmp/stages/"*
  rm -rf "$kwok_dir" && mv "$kwok_dir.tmp" "$kwok_dir"
  log "kwok $KWOK_VERSION: done"
}

build_go_oracle() {
  local src=$here/go-oracle
  # The source lives in the repo, so an edit to it rebuilds even at the same library version.
  local f stale=0
  for f in "$src/main.go" "$src/go.mod" "$src/go.sum"; do
    if [ "$f" -nt "$oracle_dir/go-oracle" ]; then stale=1; fi
  done
  if [ -x "$oracle_dir/go-oracle" ] && [ $stale = 0 ]; then
    log "go-oracle (Masterminds/semver $MASTERMINDS_SEMVER_VERSION): cached in $oracle_dir"; return
  fi
  # go.mod must require exactly the pinned versions, on a require line or inside a require block.
  local module pin
  for pin in "github.com/Masterminds/semver/v3 $MASTERMINDS_SEMVER_VERSION" \
             "github.com/distribution/reference $DISTRIBUTION_REFERENCE_VERSION" \
             "github.com/fluxcd/pkg/version $FLUXCD_PKG_VERSION_VERSION" \
             "github.com/Masterminds/sprig/v3 $MASTERMINDS_SPRIG_VERSION"; do
    module=${pin% *}
    if ! grep -qE "^(require )?[[:space:]]*${module//./\\.} ${pin#* }([[:space:]]|\$)" "$src/go.mod"; then
      log "go-oracle: $src/go.mod does not require $pin (versions.env)"
      return 1
    fi
  done
  mkdir -p "$oracle_dir.tmp"
  log "go-oracle (Masterminds/semver $MASTERMINDS_SEMVER_VERSION): compiling"
  # -buildvcs=false: the module sits inside this repo's work tree; don't let go run git on it.
  (cd "$src" && go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$oracle_dir.tmp/go-oracle" .)
  rm -rf "$oracle_dir" && mv "$oracle_dir.tmp" "$oracle_dir"
  log "go-oracle: done"
}

build_bench_clientgo() {
  local src=$here/bench/clientgo f stale=0
  for f in "$src/main.go" "$src/go.mod" "$src/go.sum"; do
    if [ "$f" -nt "$clientgo_dir/clientgo" ]; then stale=1; fi
  done
  if [ -x "$clientgo_dir/clientgo" ] && [ $stale = 0 ]; then
    log "bench clientgo (client-go ${K8S_VERSION/v1./v0.}): cached in $clientgo_dir"; return
  fi
  # The benchmark compares with the client-go of the apiserver it runs against.
  if ! grep -qE "k8s\.io/client-go ${K8S_VERSION/v1./v0.}([[:space:]]|\$)" "$src/go.mod"; then
    log "bench clientgo: $src/go.mod does not require k8s.io/client-go ${K8S_VERSION/v1./v0.}"
    return 1
  fi
  mkdir -p "$clientgo_dir.tmp"
  log "bench clientgo (client-go ${K8S_VERSION/v1./v0.}): compiling"
  (cd "$src" && with_heartbeat "bench clientgo" \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$clientgo_dir.tmp/clientgo" .)
  rm -rf "$clientgo_dir" && mv "$clientgo_dir.tmp" "$clientgo_dir"
  log "bench clientgo: done"
}

mkdir -p "$cache"
build_go_oracle
if [ "${1:-}" = --bench ]; then build_bench_clientgo; fi
build_etcd
build_kwok
build_k8s
echo "K8S_BIN=$k8s_dir"
echo "ETCD_BIN=$etcd_dir"
echo "KWOK_BIN=$kwok_dir"
echo "GO_ORACLE_BIN=$oracle_dir"
