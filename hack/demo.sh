#!/usr/bin/env bash
# make demo: irc's two jobs on the local test bed. Backup: ImageBackups for the fixture images of
# the "public" source registry, copied into the local backup registry. Detection: the policies of
# manifests/samples/demo-detection.yaml scanning the ECR emulator into ImageDetected objects.
# Runs `irc manager` in the foreground until Ctrl-C; with --once, exits when every backup is
# Completed and both policies are scanned (non-zero if that takes more than 3 minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=0
[ "${1:-}" = --once ] && once=1

# `up ecr` pushes ecr.FIXTURE_IMAGES itself; a component already up is left as it is, so a second
# run neither restarts nor re-populates anything.
hack/testbed.sh up cluster registries ecr
eval "$(hack/testbed.sh env cluster registries ecr)"
py=.venv/bin/python
kubectl=$($py -c 'from hack.testbed.binaries import Binaries; print(Binaries.locate().kubectl)')
src=$IRC_TESTBED_REGISTRY_SOURCE
backup=$IRC_TESTBED_REGISTRY_BACKUP
ecr=$IRC_TESTBED_ECR_ENDPOINT

$kubectl apply --server-side -f manifests/crds >/dev/null
$kubectl wait --for=condition=Established crd -l app.kubernetes.io/part-of=irc --timeout=60s >/dev/null
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

demo=(-l app.kubernetes.io/part-of=irc-demo)
$kubectl apply -f manifests/samples/demo-detection.yaml >/dev/null
# A restarted manager rescans a policy only once its interval is up; ask for a scan now so every
# run shows one, and so --once can tell this run's scan from an earlier run's.
requested=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
$kubectl annotate irp -n irc-demo "${demo[@]}" --overwrite \
  "automation.gitops.io/reconcile-requested-at=$requested" >/dev/null
echo "[demo] 2 ImageResourcePolicies in irc-demo scanning ECR at $ecr (team-a/*)" >&2

read -r metrics health < <($py -c 'from hack.testbed.procs import free_port; print(free_port(), free_port())')
manager=(.venv/bin/irc manager --controllers=image-backup,policy,detection
  --backup-registry "$backup/demo" --registry-plain-http "$src" --registry-plain-http "$backup"
  --aws-endpoint-url "$ecr"
  --metrics-bind-address "127.0.0.1:$metrics" --health-probe-bind-address "127.0.0.1:$health")

if [ $once = 0 ]; then
  cat >&2 <<EOF2
[demo] starting the manager; in another shell:
  eval "\$(hack/testbed.sh env cluster registries ecr)"
  $kubectl get imagebackups -o wide -w
  $kubectl get irp,imagedetected -n irc-demo
  curl -s 127.0.0.1:$metrics/metrics | grep -E 'irc_image_backup|irc_ecr_scans'
  skopeo inspect --tls-verify=false docker://$backup/demo/$src/testbed/oci-multiarch:1.0.0
  # what the policies select, without the cluster; the emulator takes any credentials, but
  # irc scan reads them from the environment (not the Secret), so some must be set:
  AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo .venv/bin/irc scan -f manifests/samples/demo-detection.yaml --aws-endpoint-url $ecr
EOF2
  exec "${manager[@]}"
fi

log=$($py -c 'from hack.testbed.__main__ import state_dir; print(state_dir())')/demo-manager.log
"${manager[@]}" --log-format=json >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
scanned_jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Scanned")].status}/{.status.lastHandledReconcileAt}{"\n"}{end}'
for _ in $(seq 180); do
  phases=$($kubectl get imagebackups "${demo[@]}" -o 'jsonpath={.items[*].status.phase}')
  # Policies whose scan for this run's request succeeded (grep -c exits 1 when it counts 0).
  scanned=$($kubectl get irp -n irc-demo "${demo[@]}" -o "jsonpath=$scanned_jsonpath" |
    grep -cxF "True/$requested" || true)
  if [ "$phases" = "Completed Completed Completed Completed" ] && [ "$scanned" = 2 ]; then
    $kubectl get imagebackups "${demo[@]}" -o wide
    echo
    $kubectl get imagedetected -n irc-demo
    exit 0
  fi
  sleep 1
done
echo "[demo] not done: backup phases '${phases:-none}' (want 4 Completed); $scanned of 2 policies" \
  "scanned for this run's request $requested; manager log: $log" >&2
$kubectl get imagebackups "${demo[@]}" -o wide >&2
# Why a policy is not scanned: not Ready (reason), its scan failed (reason and message) or it has
# not handled this run's request yet (HANDLED).
ready='.status.conditions[?(@.type=="Ready")]' scan='.status.conditions[?(@.type=="Scanned")]'
$kubectl get irp -n irc-demo "${demo[@]}" >&2 -o "custom-columns=NAME:.metadata.name,READY:$ready.reason,\
SCANNED:$scan.status,HANDLED:.status.lastHandledReconcileAt,REASON:$scan.reason,MESSAGE:$scan.message"
exit 1
