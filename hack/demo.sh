#!/usr/bin/env bash
# make demo: irc's jobs on the local test bed. Backup: ImageBackups for the fixture images of the
# "public" source registry, copied into the local backup registry. Workload rewrite: a Deployment
# and a DaemonSet on "public" images (manifests/samples/demo-workloads.yaml) backed up and
# switched to the copies. Detection: the policies of manifests/samples/demo-detection.yaml
# scanning the ECR emulator into ImageDetected objects. Creation: each ImageDetected rendered with
# the policies' ResourceTemplate and committed to the "fleet" repository of the test bed's Git
# server (over HTTP, username/password from a Secret), except prod-1.2.0 of team-a/envs, skipped
# because manifests/samples/demo-deployed.yaml already runs a prod tag of that repository.
# Runs `irc manager` in the foreground until Ctrl-C; with --once, exits when every backup is
# Completed, both policies are scanned, every ImageDetected is Completed or Skipped and both
# workloads run the copies and are healthy again, printing a before/after table of their images
# and the repository's history (non-zero if that takes more than 3 minutes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=0
[ "${1:-}" = --once ] && once=1

# `up ecr` pushes ecr.FIXTURE_IMAGES itself; a component already up is left as it is, so a second
# run neither restarts nor re-populates anything.
hack/testbed.sh up cluster registries ecr git
eval "$(hack/testbed.sh env cluster registries ecr git)"
py=.venv/bin/python
kubectl=$($py -c 'from hack.testbed.binaries import Binaries; print(Binaries.locate().kubectl)')
state=$($py -c 'from hack.testbed.__main__ import state_dir; print(state_dir())')
# The bare repository `up git` creates; the manager pushes to it over HTTP, the demo reads it here.
fleet=$state/git/repos/fleet.git
src=$IRC_TESTBED_REGISTRY_SOURCE
backup=$IRC_TESTBED_REGISTRY_BACKUP
ecr=$IRC_TESTBED_ECR_ENDPOINT
shop=irc-demo-shop

$kubectl apply --server-side -k manifests/crds >/dev/null
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
# The test bed's Git server and credentials go into the template's URL and its Secret.
sed -e "s|GIT_HTTP_URL|$IRC_TESTBED_GIT_HTTP|" -e "s|GIT_USERNAME|$IRC_TESTBED_GIT_USER|" \
  -e "s|GIT_PASSWORD|$IRC_TESTBED_GIT_PASSWORD|" manifests/samples/demo-detection.yaml |
  $kubectl apply -f - >/dev/null
# Before the manager starts, so the first look at prod-1.2.0 already sees it.
$kubectl apply -f manifests/samples/demo-deployed.yaml >/dev/null
# A restarted manager rescans a policy only once its interval is up; ask for a scan now so every
# run shows one, and so --once can tell this run's scan from an earlier run's.
requested=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
$kubectl annotate irp -n irc-demo "${demo[@]}" --overwrite \
  "automation.gitops.io/reconcile-requested-at=$requested" >/dev/null
echo "[demo] 2 ImageResourcePolicies in irc-demo scanning ECR at $ecr (team-a/*)" >&2
echo "[demo] ImageDetected rendered and committed to $IRC_TESTBED_GIT_HTTP/fleet.git" \
  "(Deployment envs-prod in irc-demo-prod already runs team-a/envs:prod-1.1.0)" >&2

# Created, never applied: applying the original images over switched workloads is what a GitOps
# tool reverting the switch does (irc would count it), so a second run keeps what exists.
created=$(sed "s|SOURCE_REGISTRY|$src|g" manifests/samples/demo-workloads.yaml |
  { $kubectl create -f - 2>&1 >/dev/null || true; } | grep -v AlreadyExists || true)
if [ -n "$created" ]; then
  echo "$created" >&2
  exit 1
fi
echo "[demo] Deployment web and DaemonSet node-agent in $shop on $src/{testbed/docker-single,public/oci-single}" >&2

# The demo's workloads as irc left them. `ready` exits 0 once every container runs a backup image
# and each workload has rolled out again (else prints what it waits for); `table` prints workload,
# container, image before → after (from the automation.gitops.io/original-images annotation, so
# a second run prints it too), the source digest recorded by the ImageBackup and the digest of the
# manifest the backup registry serves for the new image, and fails unless the two are equal.
read -r -d '' workloads_py <<'PY' || true
import hashlib, json, subprocess, sys, urllib.request
from irc.images import backup_object_name, parse_reference

mode, kubectl, namespace, backup = sys.argv[1:]
ORIGINAL = "automation.gitops.io/original-images"
ACCEPT = ", ".join(
    f"application/vnd.{t}+json"
    for t in ("oci.image.index.v1", "oci.image.manifest.v1",
              "docker.distribution.manifest.list.v2", "docker.distribution.manifest.v2")
)


def get(*args):
    out = subprocess.run([kubectl, "get", *args, "-o", "json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def images(workload):
    spec = workload["spec"]["template"]["spec"]
    return {f"{field}/{c['name']}": c["image"] for field in ("initContainers", "containers")
            for c in spec.get(field) or []}


def waiting(workload):
    meta, status = workload["metadata"], workload.get("status") or {}
    name = f"{workload['kind'].lower()}/{meta['name']}"
    outside = sorted({i for i in images(workload).values() if not i.startswith(backup + "/")})
    if outside or ORIGINAL not in (meta.get("annotations") or {}):
        return f"{name} runs {', '.join(outside)}"
    if status.get("observedGeneration", 0) < meta["generation"]:
        return f"{name}: rollout not observed yet"
    if workload["kind"] == "Deployment":
        want = workload["spec"].get("replicas", 1)
        counts = [status.get(f, 0) for f in ("replicas", "updatedReplicas", "availableReplicas")]
    else:
        want = status.get("desiredNumberScheduled", 0)
        counts = [status.get(f, 0) for f in ("updatedNumberScheduled", "numberAvailable")] + [want or -1]
    return None if all(c == want for c in counts) else f"{name}: rolling out {counts} of {want}"


def served_digest(image):
    ref = parse_reference(image)
    url = f"http://{ref.registry}/v2/{ref.repository}/manifests/{ref.digest or ref.tag}"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": ACCEPT}), timeout=30) as r:
        return "sha256:" + hashlib.sha256(r.read()).hexdigest()


workloads = sorted(get("deployments,daemonsets", "-n", namespace)["items"],
                   key=lambda w: (w["kind"] != "Deployment", w["metadata"]["name"]))
if mode == "ready":
    reasons = [r for r in map(waiting, workloads) if r] or ([] if workloads else ["no workloads"])
    print("; ".join(reasons))
    sys.exit(1 if reasons else 0)

rows, wrong = [("WORKLOAD", "CONTAINER", "BEFORE", "→", "AFTER", "SOURCE-DIGEST", "BACKUP-DIGEST")], []
for workload in workloads:
    now = images(workload)
    originals = json.loads((workload["metadata"].get("annotations") or {}).get(ORIGINAL) or "{}")
    for key in [k for k in now if k in originals]:
        field, _, container = key.partition("/")
        source = parse_reference(originals[key])
        source = source if source.digest else source.with_default_tag()
        status = get("imagebackup", backup_object_name(source)).get("status") or {}
        served = served_digest(now[key])
        if served != status.get("sourceDigest") or served != status.get("targetDigest"):
            wrong.append(f"{key}: served {served}, ImageBackup {status}")
        rows.append((f"{workload['kind'].lower()}/{workload['metadata']['name']}",
                     container + (" (init)" if field == "initContainers" else ""),
                     originals[key], "→", now[key], (status.get("sourceDigest") or "-")[:19], served[:19]))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for row in rows:
    print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
for problem in wrong:
    print(f"[demo] the backup differs from the source: {problem}", file=sys.stderr)
sys.exit(1 if wrong or len(rows) == 1 else 0)
PY
workloads() { $py -c "$workloads_py" "$1" "$kubectl" "$shop" "$backup"; }

read -r metrics health < <($py -c 'from hack.testbed.procs import free_port; print(free_port(), free_port())')
manager=(.venv/bin/irc manager --controllers='*,workload-rewrite'
  --backup-registry "$backup/demo" --registry-plain-http "$src" --registry-plain-http "$backup"
  --aws-endpoint-url "$ecr" --exclude-namespaces irc-demo-prod --git-work-dir "$state/demo-git"
  --metrics-bind-address "127.0.0.1:$metrics" --health-probe-bind-address "127.0.0.1:$health")
# The ImageDetected objects with what creation made of them.
ready_reason='.status.conditions[?(@.type=="Ready")].reason'
detected_columns="NAME:.metadata.name,IMAGE:.spec.fullImageName,PHASE:.status.phase,REASON:$ready_reason"
detected_columns+=",COMMIT:.status.gitCommitSHA"

if [ $once = 0 ]; then
  cat >&2 <<EOF2
[demo] starting the manager; in another shell:
  eval "\$(hack/testbed.sh env cluster registries ecr git)"
  $kubectl get imagebackups -o wide -w
  $kubectl get deploy,ds -n $shop -o wide     # IMAGES: $src/… until switched to $backup/demo/…
  $kubectl rollout history deploy/web -n $shop  # CHANGE-CAUSE: irc: switched to backup images (…)
  $kubectl get events -n $shop                 # BackupRequested, RewriteDeferred, ImagesRewritten
  $kubectl get deploy web -n $shop -o jsonpath='{.metadata.annotations.automation\.gitops\.io/original-images}'
  $kubectl get irp,imagedetected -n irc-demo -o wide  # PHASE Completed (COMMIT) or Skipped
  $kubectl get events -n irc-demo --field-selector involvedObject.kind=ImageDetected  # Committed, PrefixDeployed
  git --git-dir=$fleet log --stat  # what was committed
  curl -s 127.0.0.1:$metrics/metrics | grep -E 'irc_image_backup|irc_ecr_scans|irc_workload|irc_git|irc_creation'
  skopeo inspect --tls-verify=false docker://$backup/demo/${src/:/_}/testbed/oci-multiarch:1.0.0
  # what the policies select, without the cluster; the emulator takes any credentials, but
  # irc scan reads them from the environment (not the Secret), so some must be set:
  AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo .venv/bin/irc scan -f manifests/samples/demo-detection.yaml --aws-endpoint-url $ecr
EOF2
  exec "${manager[@]}"
fi

log=$state/demo-manager.log
"${manager[@]}" --log-format=json >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
scanned_jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Scanned")].status}/{.status.lastHandledReconcileAt}{"\n"}{end}'
switched=
for _ in $(seq 180); do
  phases=$($kubectl get imagebackups "${demo[@]}" -o 'jsonpath={.items[*].status.phase}')
  # Policies whose scan for this run's request succeeded (grep -c exits 1 when it counts 0).
  scanned=$($kubectl get irp -n irc-demo "${demo[@]}" -o "jsonpath=$scanned_jsonpath" |
    grep -cxF "True/$requested" || true)
  switched=$(workloads ready) && switched=done
  # Every ImageDetected (they exist once both policies are scanned) Completed or Skipped.
  pending=$($kubectl get imagedetected -n irc-demo -o 'jsonpath={range .items[*]}{.status.phase}{"\n"}{end}' |
    grep -cvxE 'Completed|Skipped' || true)
  if [ "$phases" = "Completed Completed Completed Completed" ] && [ "$scanned" = 2 ] && [ "$switched" = done ] &&
    [ "$pending" = 0 ]; then
    $kubectl get imagebackups "${demo[@]}" -o wide
    echo
    $kubectl get imagedetected -n irc-demo -o "custom-columns=$detected_columns"
    echo
    $kubectl get imagebackups -l app.kubernetes.io/managed-by=irc -o wide
    echo
    workloads table
    echo
    git --git-dir="$fleet" log --stat main
    cat >&2 <<EOF2

[demo] done; the manager stopped, the test bed stays up to explore:
  eval "\$(hack/testbed.sh env cluster registries ecr git)"
  $kubectl get imagebackups,irp,imagedetected -A -o wide
  $kubectl get deploy,ds -n $shop -o wide
  hack/demo.sh               # the manager again, in the foreground, with what to look at
  make demo-down             # stop the test bed and remove its state
EOF2
    exit 0
  fi
  sleep 1
done
echo "[demo] not done: backup phases '${phases:-none}' (want 4 Completed); $scanned of 2 policies" \
  "scanned for this run's request $requested; ${pending:-?} ImageDetected not Completed or Skipped;" \
  "workloads: ${switched:-?}; manager log: $log" >&2
$kubectl get imagebackups -o wide >&2
# Why a policy is not scanned: not Ready (reason), its scan failed (reason and message) or it has
# not handled this run's request yet (HANDLED).
ready='.status.conditions[?(@.type=="Ready")]' scan='.status.conditions[?(@.type=="Scanned")]'
$kubectl get irp -n irc-demo "${demo[@]}" >&2 -o "custom-columns=NAME:.metadata.name,READY:$ready.reason,\
SCANNED:$scan.status,HANDLED:.status.lastHandledReconcileAt,REASON:$scan.reason,MESSAGE:$scan.message"
# Why an ImageDetected is not done: its phase, reason and message.
$kubectl get imagedetected -n irc-demo >&2 -o "custom-columns=$detected_columns,MESSAGE:.status.message"
# Why a workload is not switched: its Events (BackupRequested, RewriteDeferred with the reason).
$kubectl get deploy,ds -n $shop -o wide >&2
$kubectl get events -n $shop --sort-by=.lastTimestamp >&2
exit 1
