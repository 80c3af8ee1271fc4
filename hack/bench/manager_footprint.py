"""Benchmark: `irc manager --controllers=*` holding 10,000 Deployments, 1,000 ImageBackups and 1,000
ImageDetected in its caches: start-up time, peak RSS, RSS once settled, and CPU over idle seconds.

The objects are in a steady state, as they would be in a running cluster: every ImageBackup Completed,
its copy present in a registry of the test bed (one image, which every ImageBackup names as its
target), so the manager's start-up check of each finds it and looks again an hour later; every
ImageDetected Completed. The manager runs as a child process; its VmHWM, VmRSS and CPU time are read
from /proc. Run alone:

    .venv/bin/python -m hack.bench.manager_footprint [--objects 10000] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from hack.bench import common
from hack.testbed import procs
from irc.api import API_VERSION
from irc.api.conditions import rfc3339

BACKUPS, DETECTED = 1_000, 1_000


async def seed_irc(kubeconfig: Path, target: str, digest: str, backups: int, detected: int) -> None:
    """`backups` ImageBackups Completed to `target` (which holds `digest`) and `detected` Completed
    ImageDetected, statuses written."""
    client = await common.connect(kubeconfig)
    now = rfc3339(time.time())
    limit = asyncio.Semaphore(common.CREATE_CONCURRENCY)

    async def backup(i: int) -> None:
        async with limit:
            obj = await client.create(
                {
                    "apiVersion": API_VERSION,
                    "kind": "ImageBackup",
                    "metadata": {"name": f"bench-{i:04d}"},
                    "spec": {"source": f"127.0.0.1:9/team/app-{i}:1.0.0", "target": target},
                }
            )
            status = {
                "phase": "Completed",
                "observedGeneration": obj["metadata"]["generation"],
                "target": target,
                "sourceDigest": digest,
                "targetDigest": digest,
                "lastReferencedAt": now,
                "conditions": [_ready("Copied", obj["metadata"]["generation"], now)],
            }
            await client.patch(
                API_VERSION, "ImageBackup", obj["metadata"]["name"], {"status": status}, subresource="status"
            )

    async def image(i: int) -> None:
        async with limit:
            obj = await client.create(
                {
                    "apiVersion": API_VERSION,
                    "kind": "ImageDetected",
                    "metadata": {"name": f"app-{i:04d}", "namespace": common.NAMESPACE},
                    "spec": {
                        "imageName": f"app-{i}",
                        "imageTag": "1.0.0",
                        "fullImageName": f"registry.example.com/team/app-{i}:1.0.0",
                        "sourcePolicy": {"name": "policy", "namespace": common.NAMESPACE},
                    },
                }
            )
            status = {
                "phase": "Completed",
                "observedGeneration": obj["metadata"]["generation"],
                "conditions": [_ready("Committed", obj["metadata"]["generation"], now)],
            }
            await client.patch(
                API_VERSION,
                "ImageDetected",
                obj["metadata"]["name"],
                {"status": status},
                namespace=common.NAMESPACE,
                subresource="status",
            )

    try:
        await asyncio.gather(*(backup(i) for i in range(backups)), *(image(i) for i in range(detected)))
    finally:
        await client.close()


def _ready(reason: str, generation: int, now: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": "True",
        "reason": reason,
        "message": "seeded by the benchmark",
        "observedGeneration": generation,
        "lastTransitionTime": now,
    }


def reconciles(metrics: str, controller: str) -> float:
    """controller_runtime_reconcile_total of `controller`, over every result."""
    pattern = rf'^controller_runtime_reconcile_total{{controller="{controller}",result="[a-z_]+"}} (\S+)$'
    return sum(float(m[1]) for m in re.finditer(pattern, metrics, re.MULTILINE))


def measure(kubeconfig: Path, registry: str, idle: float, log: Path) -> dict[str, float]:
    """Run the manager until it has reconciled every object once and its CPU has settled, then `idle`
    seconds more."""
    port = procs.free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "irc",
                "manager",
                f"--kubeconfig={kubeconfig}",
                "--controllers=*",
                f"--metrics-bind-address=127.0.0.1:{port}",
                "--health-probe-bind-address=0",
                f"--backup-registry={registry}/backup",
                f"--registry-plain-http={registry}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=common.REPO,
        )
    try:
        started = time.monotonic()
        while "caches synced" not in log.read_text():
            if proc.poll() is not None:
                raise RuntimeError(f"the manager exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        synced = time.monotonic() - started
        while True:  # every ImageBackup checked and every ImageDetected looked at, once
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                metrics = response.read().decode()
            if reconciles(metrics, "image-backup") >= BACKUPS and reconciles(metrics, "creation") >= DETECTED:
                break
            if time.monotonic() - started > 600:
                raise RuntimeError(f"the manager did not reconcile everything:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        reconciled = time.monotonic() - started
        cpu_before = common.cpu_seconds(proc.pid)
        time.sleep(idle)
        idle_cpu = common.cpu_seconds(proc.pid) - cpu_before
        vm = {
            line.split(":")[0]: int(line.split()[1])
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            if line.startswith("Vm")
        }
        lines = log.read_text().splitlines()
        return {
            "synced_seconds": synced,
            "reconciled_seconds": reconciled,
            "peak_mib": vm["VmHWM"] / 1024,
            "rss_mib": vm["VmRSS"] / 1024,
            "idle_cpu_seconds": idle_cpu,
            "idle_seconds": idle,
            "warnings": sum(1 for line in lines if "[warning" in line),
            "errors": sum(1 for line in lines if "[error" in line),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def run(objects: int, idle: float) -> dict[str, float]:
    """A control plane and the test bed's registries of its own, seeded, and the manager measured."""
    from hack.testbed import images, registries

    with common.control_plane() as bed, tempfile.TemporaryDirectory(prefix="irc-bench-") as tmp:
        bed_registries = registries.start(Path(tmp) / "registries")
        try:
            registry = bed_registries["backup"]
            (built,) = images.push(images.FIXTURES[:1], registry, Path(tmp) / "images").values()
            bed.install_crds()
            common.progress(
                f"creating {objects} Deployments, {BACKUPS} ImageBackups, {DETECTED} ImageDetected"
            )
            asyncio.run(common.seed(bed.kubeconfig, objects))
            asyncio.run(seed_irc(bed.kubeconfig, built.reference(registry), built.digest, BACKUPS, DETECTED))
            common.progress("running irc manager --controllers=*")
            result = measure(bed.kubeconfig, registry.host, idle, Path(tmp) / "manager.log")
            return {**result, "objects": objects}
        finally:
            bed_registries.stop()


def section(r: dict[str, float]) -> str:
    objects = int(r["objects"])
    return "\n".join(
        [
            f"## The whole manager at rest ({objects:,} Deployments, {BACKUPS:,} ImageBackups, "
            f"{DETECTED:,} ImageDetected)",
            "",
            "`irc manager --controllers=*` (creation, detection, image-backup, policy) as a child process "
            "against a control plane holding the objects in a steady state: every ImageBackup Completed, "
            "its copy present in a test-bed registry (one image every ImageBackup names as its target), "
            "every ImageDetected Completed. *Caches synced* and *all reconciled once* are from the "
            "process's start (the second when `controller_runtime_reconcile_total` of image-backup and "
            "creation reached the object counts); peak RSS is VmHWM after it; *idle CPU* is the "
            f"process's CPU time over the {r['idle_seconds']:.0f} s that follow. One run.",
            "",
            common.table(
                [
                    "caches synced",
                    "all reconciled once",
                    "peak RSS",
                    "RSS at rest",
                    "idle CPU",
                    "warnings / errors logged",
                ],
                [
                    [
                        f"{r['synced_seconds']:.1f} s",
                        f"{r['reconciled_seconds']:.1f} s",
                        f"{r['peak_mib']:.0f} MiB",
                        f"{r['rss_mib']:.0f} MiB",
                        f"{r['idle_cpu_seconds']:.2f} s in {r['idle_seconds']:.0f} s",
                        f"{r['warnings']:.0f} / {r['errors']:.0f}",
                    ]
                ],
            ),
            "",
            "The Deployments are cached once, slimmed (`irc.api.workloads.slim`), for creation's "
            "duplicate check. Nothing runs between events: no polling loop (the work queues' and "
            "controllers' series are read at scrape), so an idle manager's CPU is its informers' "
            "bookmarks. Checking "
            "the 1,000 completed ImageBackups at start-up (a HEAD each, image-backup's 4 workers, one "
            "kept registry session) takes most of *all reconciled once* (6.3 s with the one worker "
            "image-backup had until 2026-12-04); until then each check also loaded the system trust "
            "store into a new TLS context (≈33 ms), and it took 42 s.",
            "",
            f"**Against the goal** (issue 14): peak RSS at most 150 MiB with {objects:,} Deployments, "
            f"{BACKUPS:,} ImageBackups and {DETECTED:,} ImageDetected cached: {r['peak_mib']:.0f} MiB "
            f"({common.verdict(r['peak_mib'], 150)}); idle CPU about 0: "
            f"{r['idle_cpu_seconds']:.2f} s in {r['idle_seconds']:.0f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    print(section(run(args.objects, args.idle)))


if __name__ == "__main__":
    main()
