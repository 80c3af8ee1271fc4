"""Benchmark: image-backup and workload-rewrite switching N Deployments over M images (issue 11).

One run starts the whole test bed on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK (`hack.testbed.cluster.start`), so each Deployment gets a ReplicaSet and a
Pod that KWOK makes Ready, and the health rule (switch only a healthy workload) is real; and the
test bed's `source` and `backup` registries (anonymous, plain HTTP). It pushes M small distinct
images to `source` (one layer of about 1 KB each, `hack.testbed.images`), adds fake Nodes with
room for every Pod of the rollout, creates N Deployments (one replica, round-robin over the M
images) and waits until all are Ready. Then a manager with image-backup and workload-rewrite, as
`irc manager --controllers=image-backup,workload-rewrite` builds it (`irc.reconcilers` setups with
`Settings`, default workers, no client-side throttling), starts in a fresh child process, which
measures from `Manager.start()`:

- when every Deployment runs its backup image (the pod template switched), and when every one has
  rolled out again (kube-controller-manager and KWOK, Ready on the new template);
- the copies made (`irc_image_backup_copies_total{result="success"}`, must equal M);
- the API requests made (`rest_client_requests_total` by method and status code);
- its peak RSS, its CPU time against the wall time;
- the controllers' reconcile time (`controller_runtime_reconcile_time_seconds_sum`) against the copy
  time (`irc_image_backup_copy_duration_seconds_sum`).

Afterwards the runner checks, through its own client, that every Deployment runs the backup image,
that exactly M ImageBackups exist, each Completed after one attempt with the source's digest.
Run alone:

    .venv/bin/python -m hack.bench.workload_rewrite [--deployments 1000] [--images 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from hack.bench import common
from irc.api import API_VERSION
from irc.api.workloads import DEPLOYMENT, healthy
from irc.images import TargetNaming, parse_reference
from irc.images.auth import RegistryOptions
from irc.reconcilers import imagebackup, workloadrewrite
from irc.reconcilers.settings import Settings
from irc.runtime import Client, Manager, ManagerOptions, Obj, RunnableFunc

if TYPE_CHECKING:
    from hack.testbed import images

MODULE = "hack.bench.workload_rewrite"
NAMESPACE = "bench-rewrite"
PREFIX = "bench-backups"
REPOSITORY = "bench/rewrite"  # the images are bench/rewrite-000 ... in the source registry
TAG = "1.0.0"
LAYER_BYTES = 1024
PODS_PER_NODE = 1000  # the fake Nodes added for the run (the test bed's own two hold 110 Pods each)
POLL = 0.2  # seconds between the child's looks at its own cache
QUIET = 3.0  # the run ends once no API request was made for this long after the last milestone
CHILD_TIMEOUT = 3 * 3600.0
READY_TIMEOUT = 3600.0
TIMES = "\N{MULTIPLICATION SIGN}"


# ---- what both sides agree on


def deployment_names(count: int) -> list[str]:
    return [f"rewrite-{i:05d}" for i in range(count)]


def source_images(source_host: str, count: int) -> list[str]:
    return [f"{source_host}/{REPOSITORY}-{i:03d}:{TAG}" for i in range(count)]


def assignment(source_host: str, deployments: int, image_count: int) -> dict[str, str]:
    """Deployment name → the source image it runs (round-robin)."""
    sources = source_images(source_host, image_count)
    return {name: sources[i % image_count] for i, name in enumerate(deployment_names(deployments))}


def settings_for(source_host: str, backup_host: str) -> Settings:
    """The manager's settings: backups go to `backup` under PREFIX, both registries plain HTTP."""
    return Settings(
        backup=TargetNaming(backup_host, PREFIX),
        registries={h: RegistryOptions(plain_http=True) for h in (source_host, backup_host)},
    )


def backup_image(settings: Settings, source: str) -> str:
    assert settings.backup is not None
    return str(settings.backup.target(parse_reference(source).with_default_tag()))


def image_of(deployment: Obj) -> str | None:
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    return str(containers[0]["image"]) if containers else None


# ---- the measuring child


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of the metric family whose sample name is `name`, with its labels."""
    return [
        (dict(s.labels), s.value) for metric in registry.collect() for s in metric.samples if s.name == name
    ]


def requests_by(registry: CollectorRegistry) -> dict[str, float]:
    """rest_client_requests_total by `METHOD code`."""
    out: dict[str, float] = {}
    for labels, value in samples(registry, "rest_client_requests_total"):
        key = f"{labels['method']} {labels['code']}"
        out[key] = out.get(key, 0.0) + value
    return out


@dataclass
class Mark:
    """A milestone as the child saw it: seconds since `Manager.start()`, its CPU seconds since
    then, the API requests made so far, its resident set, and the reconcile and copy time so far."""

    seconds: float
    cpu: float
    requests: float
    rss_kib: int
    rewrite_seconds: float = 0.0  # controller_runtime_reconcile_time_seconds_sum, workload-rewrite-*
    rewrite_reconciles: float = 0.0
    copy_seconds: float = 0.0  # irc_image_backup_copy_duration_seconds_sum


@dataclass
class Watcher:
    """Looks at the manager's own cache (no API request) every POLL seconds and notes milestones.
    Its scans run in the manager's process: their CPU time is measured and left out of the manager's."""

    mgr: Manager
    expected: Mapping[str, str]  # Deployment → the backup image it must end up running
    images: int
    wait_rollout: bool
    started: float = 0.0
    cpu_started: float = 0.0
    marks: dict[str, Mark] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    own_cpu: float = 0.0  # CPU seconds of this watcher's scans so far

    last_request: float = 0.0  # perf_counter() when the request count was last seen to change
    requests_seen: float = 0.0  # watches aside
    cpu_at_last_request: float = 0.0  # manager_cpu() then
    all_at_last_request: float = 0.0  # watches included

    def total_requests(self, watches: bool = True) -> float:
        return sum(
            s.value
            for metric in self.mgr.metrics.rest_client_requests.collect()
            for s in metric.samples
            if s.name == "rest_client_requests_total" and (watches or s.labels["method"] != "WATCH")
        )

    def note_requests(self) -> None:
        """Remember when the last request other than a watch was made: informers renew their watches
        every few minutes, which is no work of the controllers."""
        count = self.total_requests(watches=False)
        if count != self.requests_seen:
            self.requests_seen, self.last_request = count, time.perf_counter()
            self.cpu_at_last_request = self.manager_cpu()
            self.all_at_last_request = self.total_requests()

    def manager_cpu(self) -> float:
        """The process's CPU time since start, less this watcher's scans."""
        return time.process_time() - self.cpu_started - self.own_cpu

    def mark(self, name: str) -> None:
        if name not in self.marks:
            registry = self.mgr.metrics.registry
            self.marks[name] = Mark(
                time.perf_counter() - self.started,
                self.manager_cpu(),
                self.total_requests(),
                common.status_kib("VmRSS"),
                *_rewrite_time(registry),
                _sum_of(registry, "irc_image_backup_copy_duration_seconds_sum"),
            )
            common.progress(f"child: {name} after {self.marks[name].seconds:.1f} s")

    async def run(self) -> None:
        """A runnable that needs no leadership: the manager starts it once the caches synced."""
        self.mark("caches synced")
        last_report = 0.0
        while True:
            scan = time.process_time()
            self.note_requests()
            deployments = self.mgr.cache.list("apps/v1", "Deployment", NAMESPACE)
            switched = [d for d in deployments if image_of(d) == self.expected.get(d["metadata"]["name"])]
            rolled = [d for d in switched if healthy(DEPLOYMENT, d) is None]
            backups = self.mgr.cache.list(API_VERSION, imagebackup.KIND)
            completed = [b for b in backups if (b.get("status") or {}).get("phase") == "Completed"]
            self.own_cpu += time.process_time() - scan
            if backups:
                self.mark("first ImageBackup created")
            if completed:
                self.mark("first copy completed")
            if len(completed) >= self.images:
                self.mark(f"all {self.images} backups Completed")
            if switched:
                self.mark("first Deployment switched")
            if len(switched) == len(self.expected):
                self.mark(f"all {len(self.expected):,} Deployments switched")
            if len(rolled) == len(self.expected):
                self.mark(f"all {len(self.expected):,} rolled out and Ready")
            now = time.perf_counter()
            if now - last_report > 30:
                last_report = now
                common.progress(
                    f"child: {len(backups)} backups ({len(completed)} Completed), "
                    f"{len(switched)} switched, {len(rolled)} rolled out"
                )
            finished = len(switched) == len(self.expected) and (
                not self.wait_rollout or len(rolled) == len(self.expected)
            )
            if finished:
                break
            await asyncio.sleep(POLL)
        # Events are written by the broadcaster after the fact: wait until the requests stop.
        while time.perf_counter() - self.last_request < QUIET:
            await asyncio.sleep(POLL)
            scan = time.process_time()
            self.note_requests()
            self.own_cpu += time.process_time() - scan
        self.marks["last API request (watches aside)"] = Mark(
            self.last_request - self.started,
            self.cpu_at_last_request,
            self.all_at_last_request,
            common.status_kib("VmRSS"),
            *_rewrite_time(self.mgr.metrics.registry),
            _sum_of(self.mgr.metrics.registry, "irc_image_backup_copy_duration_seconds_sum"),
        )
        self.done.set()


def _sum_of(registry: CollectorRegistry, name: str, **match: str) -> float:
    return sum(
        v for labels, v in samples(registry, name) if all(labels.get(k) == x for k, x in match.items())
    )


def _rewrite_time(registry: CollectorRegistry) -> tuple[float, float]:
    """Seconds and reconciles of the workload-rewrite-* controllers so far."""
    seconds = _by_controller(registry, "controller_runtime_reconcile_time_seconds_sum")
    count = _by_controller(registry, "controller_runtime_reconcile_time_seconds_count")
    rewrite = [k for k in seconds if k.startswith(f"{workloadrewrite.NAME}-")]
    return sum(seconds[k] for k in rewrite), sum(count.get(k, 0.0) for k in rewrite)


def _by_controller(registry: CollectorRegistry, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples(registry, name):
        out[labels["controller"]] = out.get(labels["controller"], 0.0) + value
    return out


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(args.source, args.backup)
    expected = {
        name: backup_image(settings, source)
        for name, source in assignment(args.source, args.deployments, args.images).items()
    }
    workers = dict(parse_workers(args.workers))
    options = ManagerOptions(
        namespaces=(NAMESPACE,),
        metrics_bind_address="0",
        health_probe_bind_address="0",
        max_concurrent_reconciles=workers,
    )
    mgr = await Manager.from_kubeconfig(str(args.kubeconfig), options=options)
    imagebackup.setup(mgr, settings)
    workloadrewrite.setup(mgr, settings)
    watcher = Watcher(mgr, expected, args.images, args.wait_rollout)
    mgr.add(RunnableFunc(watcher.run, needs_leader_election=False))
    rss_before = common.rss_kib()
    try:
        watcher.cpu_started, watcher.started = time.process_time(), time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            manager = tg.create_task(mgr.start(), name="manager")
            async with asyncio.timeout(CHILD_TIMEOUT):
                await watcher.done.wait()
            manager.cancel()
    finally:
        await mgr.client.close()
    registry = mgr.metrics.registry
    return {
        "marks": {name: vars(mark) for name, mark in watcher.marks.items()},
        "rss_before_kib": rss_before,
        "peak_rss_kib": common.status_kib("VmHWM"),
        "requests": requests_by(registry),
        "copies": {labels["result"]: v for labels, v in samples(registry, "irc_image_backup_copies_total")},
        "copy_seconds": _sum_of(registry, "irc_image_backup_copy_duration_seconds_sum"),
        "copy_count": _sum_of(registry, "irc_image_backup_copy_duration_seconds_count"),
        "bytes_copied": _sum_of(registry, "irc_image_backup_bytes_total"),
        "reconcile_seconds": _by_controller(registry, "controller_runtime_reconcile_time_seconds_sum"),
        "reconciles": _by_controller(registry, "controller_runtime_reconcile_total"),
        "reconcile_errors": _by_controller(registry, "controller_runtime_reconcile_errors_total"),
        "rewrites": _sum_of(registry, "irc_workload_rewrites_total"),
        "deferred": {
            labels["reason"]: v for labels, v in samples(registry, "irc_workload_rewrite_deferred_total")
        },
        "workers": workers,
        "watcher_cpu": watcher.own_cpu,
    }


def parse_workers(values: Iterable[str]) -> list[tuple[str, int]]:
    """`--workers image-backup=4` (repeatable) → [(name, 4)], as `irc manager
    --max-concurrent-reconciles` takes them."""
    out = []
    for value in values:
        name, _, count = value.partition("=")
        if not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--workers expects NAME=N with N >= 1, got {value!r}")
        out.append((name, int(count)))
    return out


# ---- the runner: test bed, fixtures, Deployments


def node(name: str) -> Obj:
    """A fake Node KWOK manages (as hack.testbed.cluster makes them) with room for PODS_PER_NODE Pods."""
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def deployment(name: str, image: str, replicas: int) -> Obj:
    """One container on `image`. Host network: KWOK hands Pod IPs out of the test bed's /24 (254
    addresses, fewer than the Pods of a rollout); a host-network Pod takes its Node's address."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "irc-bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"hostNetwork": True, "containers": [{"name": "app", "image": image}]},
            },
        },
    }


async def create_deployments(client: Client, wanted: Mapping[str, str], replicas: int) -> None:
    names = iter(wanted.items())

    async def creator() -> None:
        for name, image in names:  # shared iterator: each Deployment goes to one creator
            await client.create(deployment(name, image, replicas))

    async with asyncio.TaskGroup() as tg:
        for _ in range(common.CREATE_CONCURRENCY):
            tg.create_task(creator())


async def wait_ready(client: Client, count: int, within: float) -> None:
    """Until `count` Deployments in NAMESPACE are healthy (KWOK made their Pods Ready)."""
    last = -1
    async with asyncio.timeout(within):
        while True:
            items = (await client.list("apps/v1", "Deployment", NAMESPACE)).items
            ready = sum(1 for d in items if healthy(DEPLOYMENT, d) is None)
            if ready == count:
                return
            if ready != last:
                common.progress(f"{ready:,} of {count:,} Deployments Ready")
                last = ready
            await asyncio.sleep(2)


@dataclass(frozen=True)
class Check:
    """What the runner found through its own client after the manager stopped."""

    switched: int
    backups: int
    completed: int
    single_attempt: int
    digests_match: int
    events: dict[str, int]  # reason → Events the two controllers recorded (repeats counted)


async def check(
    kubeconfig: Path, expected: Mapping[str, str], built: Mapping[str, images.Built], source_host: str
) -> Check:
    client = await common.connect(kubeconfig)
    try:
        items = (await client.list("apps/v1", "Deployment", NAMESPACE)).items
        switched = sum(1 for d in items if image_of(d) == expected.get(d["metadata"]["name"]))
        backups = (await client.list(API_VERSION, imagebackup.KIND)).items
        events: Counter[str] = Counter()
        for event in (await client.list("v1", "Event")).items:
            if (event.get("source") or {}).get("component") in (imagebackup.NAME, workloadrewrite.NAME):
                events[event["reason"]] += int(event.get("count") or 1)
    finally:
        await client.close()
    digests = {f"{source_host}/{b.spec.repository}:{b.spec.tag}": b.digest for b in built.values()}
    statuses = [b.get("status") or {} for b in backups]
    return Check(
        switched=switched,
        backups=len(backups),
        completed=sum(1 for s in statuses if s.get("phase") == "Completed"),
        single_attempt=sum(1 for s in statuses if s.get("attempts") == 1),
        digests_match=sum(
            1
            for b, s in zip(backups, statuses, strict=True)
            if s.get("targetDigest")
            and s.get("targetDigest") == s.get("sourceDigest") == digests.get(b["spec"]["source"])
        ),
        events=dict(events),
    )


@dataclass(frozen=True)
class Result:
    deployments: int
    images: int
    replicas: int
    image_bytes: int
    setup: dict[str, float]  # seconds: cluster, registries, push, nodes, create, ready
    nodes_added: int
    child: dict[str, Any]
    cluster_cpu: dict[str, float]  # component → CPU seconds while the child ran
    child_wall: float
    checked: Check
    machine: dict[str, str]
    load_end: str


def measure(
    deployments: int = 1000,
    image_count: int = 50,
    replicas: int = 1,
    workers: Iterable[str] = (),
    wait_rollout: bool = True,
) -> Result:
    # Here, not at the top: the measuring child imports this module and needs none of the test bed.
    from hack.testbed import cluster, images, registries

    common.exit_on_sigterm()
    setup: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="irc-bench-rewrite-") as tmp, contextlib.ExitStack() as stack:
        common.progress("starting the test bed (control plane with controllers and KWOK)")
        t = time.perf_counter()
        kube = cluster.start(Path(tmp) / "cluster")
        stack.callback(kube.stop)
        setup["cluster"] = time.perf_counter() - t
        t = time.perf_counter()
        bed = registries.start(Path(tmp) / "registries")
        stack.callback(bed.stop)
        setup["registries"] = time.perf_counter() - t
        source, backup = bed["source"], bed["backup"]

        common.progress(f"pushing {image_count} images to the source registry")
        specs = tuple(
            images.Spec(f"{REPOSITORY}-{i:03d}", TAG, layer_sizes=(LAYER_BYTES,)) for i in range(image_count)
        )
        t = time.perf_counter()
        built = images.push(specs, source, Path(tmp) / "images")
        setup["push"] = time.perf_counter() - t
        image_bytes = sum(b.blob_bytes for b in built.values())

        pods = deployments * replicas * 2  # a rolling update surges one Pod per replica at most
        extra = max(0, math.ceil((pods - cluster.NODE_COUNT * 110) / PODS_PER_NODE))
        t = time.perf_counter()
        if extra:
            kube.kubectl(
                "apply",
                "-f",
                "-",
                input=json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "List",
                        "items": [node(f"bench-node-{i}") for i in range(extra)],
                    }
                ),
            )
            kube.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
        kube.install_crds()
        kube.kubectl("create", "namespace", NAMESPACE)
        kube.kubectl("wait", "--for=create", "serviceaccount/default", "-n", NAMESPACE, "--timeout=120s")
        setup["nodes"] = time.perf_counter() - t

        wanted = assignment(source.host, deployments, image_count)
        settings = settings_for(source.host, backup.host)
        expected = {name: backup_image(settings, image) for name, image in wanted.items()}
        apiserver = asyncio.run(common.apiserver_version(kube.kubeconfig))
        machine = common.machine(apiserver)
        common.progress(f"creating {deployments:,} Deployments")
        t = time.perf_counter()
        asyncio.run(_seed(kube.kubeconfig, wanted, replicas))
        setup["create"] = time.perf_counter() - t
        asyncio.run(_ready(kube.kubeconfig, deployments))
        setup["ready"] = time.perf_counter() - t

        components = {p.name: p.pid for p in [*kube.processes, *bed.processes]}
        before = {name: common.cpu_seconds(pid) for name, pid in components.items()}
        args = [
            "--child",
            f"--kubeconfig={kube.kubeconfig}",
            f"--deployments={deployments}",
            f"--images={image_count}",
            f"--source={source.host}",
            f"--backup={backup.host}",
            *(f"--workers={w}" for w in workers),
            *([] if wait_rollout else ["--no-wait-rollout"]),
        ]
        t = time.perf_counter()
        child = common.run_child(MODULE, args, timeout=CHILD_TIMEOUT + 600)
        child_wall = time.perf_counter() - t
        cluster_cpu = {name: common.cpu_seconds(pid) - before[name] for name, pid in components.items()}
        checked = asyncio.run(check(kube.kubeconfig, expected, built, source.host))
        load_end = common.load_average()
    result = Result(
        deployments,
        image_count,
        replicas,
        image_bytes,
        setup,
        extra,
        child,
        cluster_cpu,
        child_wall,
        checked,
        machine,
        load_end,
    )
    problems = verify(result)
    if problems:
        common.progress("the run did not do what it must: " + "; ".join(problems))
    return result


async def _seed(kubeconfig: Path, wanted: Mapping[str, str], replicas: int) -> None:
    client = await common.connect(kubeconfig)
    try:
        await create_deployments(client, wanted, replicas)
    finally:
        await client.close()


async def _ready(kubeconfig: Path, count: int) -> None:
    client = await common.connect(kubeconfig)
    try:
        await wait_ready(client, count, READY_TIMEOUT)
    finally:
        await client.close()


def verify(r: Result) -> list[str]:
    """What went wrong, if anything: the figures are only published with these in the text."""
    problems = []
    copies = r.child["copies"].get("success", 0)
    if copies != r.images:
        problems.append(f"{copies:.0f} copies made, not {r.images}")
    if r.child["copies"].get("failure", 0):
        problems.append(f"{r.child['copies']['failure']:.0f} copies failed")
    c = r.checked
    if c.switched != r.deployments:
        problems.append(f"{c.switched} of {r.deployments} Deployments run their backup image")
    if c.backups != r.images:
        problems.append(f"{c.backups} ImageBackups, not {r.images}")
    if c.completed != c.backups or c.single_attempt != c.backups or c.digests_match != c.backups:
        problems.append(
            f"ImageBackups: {c.completed} Completed, {c.single_attempt} after one attempt, "
            f"{c.digests_match} with the source's digest, of {c.backups}"
        )
    return problems


# ---- the Markdown section


def _by_method(requests: Mapping[str, float]) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, value in requests.items():
        out[key.split()[0]] += int(value)
    return out


def _per(count: float, deployments: int) -> str:
    return f"{count:,.0f} ({count / deployments:.2f} per Deployment)"


def _cpu(label: str, m: Mark) -> str:
    return f"start → {label}: {m.cpu:.1f} s of {m.seconds:.1f} s ({m.cpu / m.seconds:.0%})"


def section(r: Result, with_machine: bool = False) -> str:
    child, n, images_ = r.child, r.deployments, r.images
    marks = {name: Mark(**m) for name, m in child["marks"].items()}
    switched = marks.get(f"all {n:,} Deployments switched")
    rolled = marks.get(f"all {n:,} rolled out and Ready")
    completed = marks.get(f"all {images_} backups Completed")
    requests: Mapping[str, float] = child["requests"]
    total = sum(requests.values())
    methods = _by_method(requests)
    events = sum(r.checked.events.values())
    writes = sum(v for k, v in methods.items() if k in ("POST", "PUT", "PATCH", "DELETE")) - events
    least = n + 4 * images_  # a patch per Deployment; per image a create and three status patches
    seconds: dict[str, float] = child["reconcile_seconds"]
    reconciles: dict[str, float] = child["reconciles"]
    rewrite = sorted(k for k in seconds if k.startswith(f"{workloadrewrite.NAME}-"))
    rewrite_seconds = sum(seconds[k] for k in rewrite)
    rewrite_count = sum(reconciles.get(k, 0.0) for k in rewrite)
    backup_seconds = seconds.get(imagebackup.NAME, 0.0)
    copy_seconds = child["copy_seconds"]
    peak, before = child["peak_rss_kib"] / 1024, child["rss_before_kib"] / 1024
    synced = marks.get("caches synced")
    workers = child["workers"]

    def share(part: float, whole: float) -> str:
        return f"{part / whole:.0%}" if whole else "—"

    summary = [
        [f"Deployments {TIMES} images", f"{n:,} {TIMES} {images_} ({_replicas(r.replicas)} each)"],
        [
            "**start → every Deployment runs its backup image** (pod template switched)",
            f"**{switched.seconds:.1f} s**" if switched else "not reached",
        ],
        [
            "start → every backup Completed",
            f"{completed.seconds:.1f} s" if completed else "not reached",
        ],
        [
            "start → every Deployment rolled out and Ready on its backup image",
            f"{rolled.seconds:.1f} s" if rolled else "not waited for",
        ],
        ["**copies made** (`irc_image_backup_copies_total`)", f"**{_copies(child['copies'])}**"],
        ["**API requests**, all (`rest_client_requests_total`)", f"**{_per(total, n)}**"],
        ["by method", ", ".join(f"{m} {c:,}" for m, c in methods.most_common())],
        [
            "of which Events (the controllers' own, read back afterwards)",
            f"{events:,}: {_counts(r.checked.events)}",
        ],
        [
            "writes other than Events",
            f"{_per(writes, n)}; the least possible is {least:,} (a patch per Deployment; per image a "
            "create and three status patches: lastReferencedAt, Copying, Completed)",
        ],
        ["API requests until every Deployment was switched", _per(switched.requests, n) if switched else "—"],
        [
            "**manager peak RSS** (VmHWM)",
            f"**{peak:.0f} MiB**; {before:.0f} MiB before start (imports, client), "
            + (f"{synced.rss_kib / 1024:.0f} MiB once the caches synced; " if synced else "")
            + f"(peak - before) / Deployments = {(peak - before) * 1024 / n:.1f} KiB",
        ],
        [
            "**manager CPU** against wall time",
            "; ".join(
                _cpu(label, m)
                for label, m in (("every switch", switched), ("every rollout", rolled))
                if m is not None
            ),
        ],
        [
            "copy time (`irc_image_backup_copy_duration_seconds` sum)",
            f"{copy_seconds:.2f} s over {child['copy_count']:.0f} copies "
            f"({copy_seconds / max(1.0, child['copy_count']):.3f} s each), "
            f"{child['bytes_copied']:,.0f} blob bytes sent",
        ],
        [
            "image-backup reconcile time (copies with their checks and status writes)",
            f"{backup_seconds:.2f} s over {reconciles.get(imagebackup.NAME, 0):,.0f} reconciles",
        ],
        [
            "workload-rewrite reconcile time (`controller_runtime_reconcile_time_seconds` sum)",
            (
                f"until every switch: {switched.rewrite_seconds:.2f} s over "
                f"{switched.rewrite_reconciles:,.0f} reconciles; "
                if switched
                else ""
            )
            + f"in all: {rewrite_seconds:.2f} s over {rewrite_count:,.0f} reconciles "
            f"({rewrite_count / n:.1f} per Deployment, "
            f"{rewrite_seconds / max(1.0, rewrite_count) * 1000:.1f} ms each)",
        ],
        [
            "**workload-rewrite time as a share of copy time**",
            (
                f"**{share(switched.rewrite_seconds, switched.copy_seconds)}** until every switch; "
                if switched
                else ""
            )
            + f"{share(rewrite_seconds, copy_seconds)} in all (rollouts included)",
        ],
    ]
    rows = [
        [
            name,
            f"{m.seconds:.1f} s",
            f"{m.cpu:.1f} s ({m.cpu / m.seconds:.0%})" if m.seconds > 0 else f"{m.cpu:.1f} s",
            f"{m.requests:,.0f}",
            f"{m.rss_kib / 1024:.0f} MiB",
        ]
        for name, m in sorted(marks.items(), key=lambda kv: kv[1].seconds)
    ]
    codes = ", ".join(f"{k}: {int(v):,}" for k, v in sorted(requests.items(), key=lambda kv: (-kv[1], kv[0])))
    controllers = ", ".join(
        f"{name} {reconciles.get(name, 0):,.0f} in {seconds.get(name, 0):.2f} s"
        for name in sorted(seconds)
        if reconciles.get(name, 0)
    )
    errors = {k: v for k, v in child["reconcile_errors"].items() if v}
    deferred = {k: v for k, v in child["deferred"].items() if v}
    cluster_rows = sorted(r.cluster_cpu.items(), key=lambda kv: -kv[1])
    problems = verify(r)
    one_worker = [
        name
        for name in (imagebackup.NAME, workloadrewrite.NAME)
        if workers.get(name, imagebackup.WORKERS if name == imagebackup.NAME else workloadrewrite.WORKERS)
        == 1
    ]
    notes = [
        f"- API requests by method and status code: {codes}.",
        f"- Reconciles: {controllers}."
        + (f" Reconcile errors: {_counts(errors)}." if errors else " No reconcile errors.")
        + (f" Deferred switches: {_counts(deferred)}." if deferred else " No switch was deferred."),
        f"- The milestone looks took {child['watcher_cpu']:.2f} s of the process's CPU in all, left out "
        "of the manager CPU above.",
    ]
    if completed and imagebackup.NAME in one_worker:
        notes.append(
            f"- image-backup ran one worker, so the copies ran one after another: its "
            f"reconciles took {backup_seconds:.1f} s in all, {share(backup_seconds, completed.seconds)} of "
            f"the {completed.seconds:.1f} s until every backup was Completed; each copy's "
            f"{copy_seconds / max(1.0, child['copy_count']) * 1000:.0f} ms is about ten registry requests "
            "on a loaded machine, and the rest of a reconcile its checks and two status writes."
        )
    if switched and workloadrewrite.NAME in one_worker:
        notes.append(
            "- workload-rewrite, one worker by default, switches one Deployment at a time: its "
            f"reconciles took {switched.rewrite_seconds:.1f} s of the {switched.seconds:.1f} s until every "
            f"Deployment was switched ({share(switched.rewrite_seconds, switched.seconds)}); a switch "
            "waits for its PATCH, so the reconcile time is mostly the API server's, not the manager's "
            f"CPU (the process used {switched.cpu:.1f} s of CPU by then, copies and all). "
            "`--max-concurrent-reconciles` raises both."
        )
    if switched and completed:
        apiserver = r.cluster_cpu.get("kube-apiserver", 0.0)
        notes.append(
            "- The goal is a controller share of at most 10% of the copy time. The reconcile times above "
            "add up overlapping reconciles (several workers) that mostly wait for the API server, which "
            f"the rollouts kept busy too (it used {apiserver:.1f} s of CPU in the {r.child_wall:.0f} s "
            "the child ran, on two CPUs), against copies of 1 KB images, so the more workers, the more "
            "waits add up, while the wall time falls. In wall time: every Deployment "
            f"ran its backup image {switched.seconds - completed.seconds:.1f} s after the last backup "
            "was Completed."
        )
        notes.append(
            "- Switching is bound by the PATCHes' latency: by hand on 2026-12-04 (`--no-wait-rollout`, "
            "one run each), workload-rewrite with 4 workers per kind switched every Deployment after "
            "15.9 s, with 8 after 9.3 s, 16 after 8.6 s and 32 after 6.6 s; its default was 4 until "
            "then and is 16 since. The backups wait on it too (all Completed after 14.6 s with 4 "
            "workers, 8.1 s with 16, for copies of about 0.2 s): workload-rewrite creates an ImageBackup "
            "when it first reconciles a Deployment of the image, and each change of an ImageBackup "
            "already made requeues its Deployments at normal priority, ahead of the initial list's."
        )
    notes += [
        "- *(peak - before) / Deployments* overstates what a Deployment costs: the initial list "
        "decodes each full Deployment before the slim transform keeps a few hundred bytes of it, and "
        "CPython keeps the memory it freed for reuse, so the peak holds the decoding's high-water mark "
        "and start-up costs that do not grow with N.",
        f"- Checked afterwards through another client: {r.checked.switched:,} of {n:,} Deployments run "
        f"their backup image; {r.checked.backups} ImageBackups, {r.checked.completed} Completed, "
        f"{r.checked.single_attempt} after a single attempt, {r.checked.digests_match} holding the "
        "source's digest.",
        f"- CPU of the test bed's processes while the child ran ({r.child_wall:.0f} s): "
        + ", ".join(f"{name} {cpu:.1f} s" for name, cpu in cluster_rows if cpu >= 0.05)
        + ". Everything shares the machine's CPUs; the rollouts are kube-controller-manager's and "
        "KWOK's work (and the apiserver's), not the manager's.",
        *([f"- **Not as it must be: {'; '.join(problems)}.**"] if problems else []),
    ]
    return "\n".join(
        [
            f"## Workload rewrite ({n:,} Deployments {TIMES} {images_} images)",
            "",
            "`hack.bench.workload_rewrite` (issue 11): a manager with image-backup and workload-rewrite, "
            "built as `irc manager --controllers=image-backup,workload-rewrite` builds it "
            f"({'workers: ' + _workers(workers) if workers else 'default workers'}, no client-side "
            "throttling), in a fresh child process, against the whole test bed: `cluster.start(dir)` "
            "(etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK, so each "
            "Deployment's Pod becomes Ready and the health rule is real"
            + (
                f"; {r.nodes_added} fake Nodes of {PODS_PER_NODE:,} Pods added for the rollout"
                if r.nodes_added
                else ""
            )
            + f") and the `source` and `backup` registries. {images_} distinct images (one layer of "
            f"{LAYER_BYTES:,} random bytes each, {r.image_bytes:,} blob bytes in all) were pushed to "
            f"`source` in {r.setup['push']:.1f} s; {n:,} Deployments ({_replicas(r.replicas)}, host "
            f"network, round-robin over the images) were created in {r.setup['create']:.1f} s and were "
            f"all Ready {r.setup['ready']:.0f} s after the first create (kube-controller-manager writes "
            "at its client's default 20 requests a second) before the manager started. One run: the "
            f"test bed started in {r.setup['cluster'] + r.setup['registries']:.0f} s, the child ran "
            f"{r.child_wall:.0f} s.",
            "",
            *([f"Machine: {_machine(r.machine)}.", ""] if with_machine else []),
            common.table(["", ""], summary, figures=False),
            "",
            f"Milestones, seen by the child in its own cache every {POLL:.1f} s (no API request), from "
            "`Manager.start()`: *CPU* is the manager process's CPU time since start (its share of the "
            "wall time), less the CPU time of these looks, measured around each; *API requests* "
            "counts `rest_client_requests_total` so far; *RSS* is the process's resident set then. "
            "*last API request (watches aside)* is when the count of requests other than watches last "
            "changed (Events are written after the fact; informers renew their watches every few "
            f"minutes); the run ended {QUIET:.0f} s without one after the last milestone.",
            "",
            common.table(["milestone", "wall", "manager CPU", "API requests", "RSS"], rows),
            "",
            *notes,
        ]
    )


def _replicas(n: int) -> str:
    return "one replica" if n == 1 else f"{n} replicas"


def _copies(copies: Mapping[str, float]) -> str:
    return ", ".join(f"{v:.0f} {k}" for k, v in sorted(copies.items())) or "none"


def _counts(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(values.items()))


def _workers(workers: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(workers.items()))


def _machine(m: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in m.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000, help="Deployments; 1000")
    parser.add_argument("--images", type=int, default=50, help="distinct images they run; 50")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of each Deployment; 1")
    parser.add_argument(
        "--workers",
        action="append",
        default=[],
        metavar="NAME=N",
        help="workers of a controller (repeatable)",
    )
    parser.add_argument(
        "--no-wait-rollout",
        dest="wait_rollout",
        action="store_false",
        help="stop once every Deployment is switched, without waiting for the rollouts",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--backup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        common.emit(asyncio.run(_child(args)))
        return
    parse_workers(args.workers)
    result = measure(args.deployments, args.images, args.replicas, args.workers, args.wait_rollout)
    print(section(result, with_machine=True))


if __name__ == "__main__":
    main()
