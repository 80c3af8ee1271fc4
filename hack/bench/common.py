"""What every benchmark shares: a throwaway control plane on loopback and the Deployments it holds,
the machine's description, memory readings, child processes and Markdown tables.

Benchmarks that read memory or compare frameworks run each measurement in a fresh child process
(`run_child`), so one measurement's allocations never flatter or burden the next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from irc.runtime import AlreadyExists, Client
from irc.runtime.transport import KubeTransport, Request

if TYPE_CHECKING:
    from hack.testbed import cluster

R = TypeVar("R")

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "bench"
CREATE_CONCURRENCY = 32


# ---- the control plane and its objects


@contextlib.contextmanager
def control_plane() -> Iterator[cluster.Cluster]:
    """etcd and kube-apiserver only (no controllers, so Deployments stay as written), stopped on exit,
    including an exit by SIGTERM (which would otherwise end Python without running `finally`)."""
    from hack.testbed import cluster  # here: the measuring children need none of the test bed

    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="irc-bench-") as tmp:
        started = cluster.start(Path(tmp) / "cluster", workloads=False)
        try:
            yield started
        finally:
            started.stop()


def exit_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit, so `finally` blocks stop the servers a benchmark started."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def connect(kubeconfig: Path) -> Client:
    """A client without client-side throttling (as the manager's default)."""
    return Client(await KubeTransport.from_config(str(kubeconfig)))


def deployment(name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A Deployment of ordinary size with no replicas, so it never makes a Pod."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "irc-bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/team/app:1.0.0",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def seed(kubeconfig: Path, count: int, concurrency: int = CREATE_CONCURRENCY) -> float:
    """Create `count` Deployments in the bench namespace (those that exist are kept); returns seconds."""
    client = await connect(kubeconfig)
    try:
        with contextlib.suppress(AlreadyExists):
            await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        names = iter(f"bench-{i:05d}" for i in range(count))
        start = asyncio.get_running_loop().time()

        async def creator() -> None:
            for name in names:  # the iterator is shared: each name goes to one creator
                with contextlib.suppress(AlreadyExists):
                    await client.create(deployment(name))

        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(creator())
        return asyncio.get_running_loop().time() - start
    finally:
        await client.close()


async def apiserver_version(kubeconfig: Path) -> str:
    client = await connect(kubeconfig)
    try:
        response = await client.send(Request("GET", "/version", timeout=10))
        return str(response.json()["gitVersion"])
    finally:
        await client.close()


# ---- the machine


def machine(apiserver: str) -> dict[str, str]:
    """What the figures depend on, as label → value."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")))
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": model,
        "RAM": f"{total_kib / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "kube-apiserver": apiserver,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average (1, 5, 15 min) at start": load_average(),
    }


def load_average() -> str:
    """The machine is shared: what else ran shows here."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


# ---- memory


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB: VmRSS (resident now) or VmHWM (peak resident)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"/proc/self/status has no {field}")


def rss_kib() -> int:
    """Resident memory after a full collection, so garbage waiting for the collector is not counted."""
    gc.collect()
    return status_kib("VmRSS")


def deep_size(roots: Iterable[object]) -> int:
    """Bytes of the Python objects reachable from `roots` through dicts, lists, tuples and Structs, each
    object counted once (so strings shared between objects, such as dict keys, count once)."""
    seen: set[int] = set()
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
        elif isinstance(obj, msgspec.Struct):  # a typed informer's objects (irc.runtime.typed)
            stack.extend(getattr(obj, field) for field in obj.__struct_fields__)
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- child processes


def run_child(
    module: str, args: Sequence[str], timeout: float, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run `python -m module args...` from the repository and return the JSON object it prints last.

    The child is killed if it overruns `timeout` or this process is interrupted (subprocess.run
    kills it on any exception), so a failed benchmark leaves nothing running."""
    progress(f"running {module} {' '.join(args)}")
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} printed no result:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def progress(message: str) -> None:
    """A line on stderr, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """How a child hands its result to `run_child`: one JSON line on stdout."""
    print(json.dumps(result), flush=True)


# ---- counting handler calls


class Tally:
    """Counts the calls of a no-op handler and when they happened, until `target` calls were made."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.calls = 0
        self.keys: set[str] = set()
        self.first: float | None = None  # time.perf_counter() of the first call
        self.last: float | None = None  # of the target-th call
        self.done = asyncio.Event()

    def hit(self, key: str) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.calls += 1
        self.keys.add(key)
        if self.calls == self.target:
            self.last = now
            self.done.set()


# ---- figures and tables


@dataclass(frozen=True)
class Spread:
    """The median of repeated measurements, with their range."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values), len(values))

    def format(self, digits: int = 2, unit: str = "") -> str:
        if self.runs == 1:
            return f"{self.median:.{digits}f}{unit}"
        return f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f} to {self.high:.{digits}f})"


def verdict(value: float, goal: float, *, at_least: bool = False) -> str:
    """ "met", or by how much `value` misses `goal`: a ceiling, or a floor with `at_least`."""
    short = goal / value if at_least else value / goal
    return "met" if short <= 1 else f"missed by {short:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, figures: bool = True) -> str:
    """A Markdown table; the first column is left-aligned, the others right-aligned if they hold figures."""
    align = [":---", *(("---:" if figures else ":---") for _ in headers[1:])]
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def standalone(
    args: argparse.Namespace,
    child: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
    measure: Callable[[Path, int, int], R],
    section: Callable[[R], str],
) -> None:
    """A benchmark module run on its own: as a measuring child, against a given (seeded) cluster,
    or against a control plane of its own seeded with `--objects` Deployments."""
    if args.child:
        emit(asyncio.run(child()))
        return
    if args.kubeconfig:
        print(section(measure(args.kubeconfig, args.objects, args.repeat)))
        return
    with control_plane() as bed:
        asyncio.run(seed(bed.kubeconfig, args.objects))
        print(section(measure(bed.kubeconfig, args.objects, args.repeat)))
