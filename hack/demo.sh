#!/usr/bin/env bash
# make demo: the local test bed (Kubernetes + registries), irc's CRDs, ImageBackups for the fixture
# images of the "public" source registry, and `irc manager` backing them up into the local backup
# registry. Runs the manager in the foreground until Ctrl-C; with --once, exits when every backup
# is Completed (non-zero if one is not within 3 minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=0
[ "${1:-}" = --once ] && once=1

hack/testbed.sh up cluster registries
eval "$(hack/testbed.sh env cluster registries)"
py=.venv/bin/python
kubectl=$($py -c 'from hack.testbed.binaries import Binaries; print(Binaries.locate().kubectl)')
src=$IRC_TESTBED_REGISTRY_SOURCE
backup=$IRC_TESTBED_REGISTRY_BACKUP

$kubectl apply --server-side -f manifests/crds >/dev/null
$kubectl wait --for=condition=Established crd/imagebackups.automation.gitops.io --timeout=60s >/dev/null
for image in testbed/oci-multiarch testbed/docker-multiarch testbed/multilayer testbed/oci-single; do
  name=demo-${image#testbed/}
  $kubectl apply -f - >/dev/null <<YAML
apiVersion: automation.gitops.io/v1beta1
kind: ImageBackup
metadata:
  name: $name
  labels: {app.kubernetes.io/part-of: irc-demo}
spec:
  source: $src/$image:1.0.0
YAML
done
echo "[demo] 4 ImageBackups of $src/testbed/* → $backup/demo/…" >&2

read -r metrics health < <($py -c 'from hack.testbed.procs import free_port; print(free_port(), free_port())')
manager=(.venv/bin/irc manager --controllers=image-backup
  --backup-registry "$backup/demo" --registry-plain-http "$src" --registry-plain-http "$backup"
  --metrics-bind-address "127.0.0.1:$metrics" --health-probe-bind-address "127.0.0.1:$health")

if [ $once = 0 ]; then
  cat >&2 <<EOF2
[demo] starting the manager; in another shell:
  eval "\$(hack/testbed.sh env)"
  $kubectl get imagebackups -o wide -w
  curl -s 127.0.0.1:$metrics/metrics | grep irc_image_backup
  skopeo inspect --tls-verify=false docker://$backup/demo/$src/testbed/oci-multiarch:1.0.0
EOF2
  exec "${manager[@]}"
fi

log=$($py -c 'from hack.testbed.__main__ import state_dir; print(state_dir())')/demo-manager.log
"${manager[@]}" --log-format=json >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
demo=(-l app.kubernetes.io/part-of=irc-demo)
for _ in $(seq 180); do
  phases=$($kubectl get imagebackups "${demo[@]}" -o 'jsonpath={.items[*].status.phase}')
  if [ "$phases" = "Completed Completed Completed Completed" ]; then
    $kubectl get imagebackups "${demo[@]}" -o wide
    exit 0
  fi
  sleep 1
done
echo "[demo] not all backups completed (${phases:-none}); manager log: $log" >&2
$kubectl get imagebackups "${demo[@]}" -o wide >&2
exit 1
