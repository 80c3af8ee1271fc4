"""Run every benchmark and rewrite docs/performance.md with the figures.

    .venv/bin/python -m hack.bench                  # 10,000 objects, as published
    .venv/bin/python -m hack.bench --objects 500    # a quick run (writes the doc too; --output - prints only)

The ECR scan (hack/bench/ecr_scan.py, 1,000 repositories of 100 tags against moto) runs the
default configuration `--repeat` times (at most 3) and the rest of its sweep once: moto needs ≈15 s
of CPU per scan, so repeating all five would add minutes. `python -m hack.bench.ecr_scan` alone
repeats every configuration.

One control plane (etcd and kube-apiserver on 127.0.0.1, no controllers) holds the Deployments for
the informer and reconcile benchmarks; it is stopped before the work-queue benchmark runs, so that
one measures the queue alone. Every process started here is stopped, even when a benchmark fails.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from hack.bench import common, ecr_scan, image_copy, informer_sync, reconcile_throughput

DOC = common.REPO / "docs" / "performance.md"


def workqueue_section(keys: int) -> str:
    """hack/bench/workqueue.py's table (its own header names the machine, which the intro already does)."""
    module = "hack.bench.workqueue"
    common.progress(f"running {module} --keys {keys}")
    result = subprocess.run(
        [sys.executable, "-m", module, "--keys", str(keys)],
        cwd=common.REPO,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} exited {result.returncode}:\n{result.stderr[-4000:]}")
    lines = result.stdout.splitlines()
    table = [line for line in lines if line.startswith("|")]
    title = lines[0] if lines else ""
    return "\n".join(
        [
            "## Work queue",
            "",
            f"`{module}` (`irc.runtime.workqueue.WorkQueue`, no API server): {title.strip()}. Each item is "
            "a distinct key passing through `add`, `get` and `done`; the workers yield once per item, as a "
            "reconcile that awaits would.",
            "",
            *table,
        ]
    )


def intro(machine: dict[str, str], objects: int, seeding: float, elapsed: float) -> str:
    rows = [[label, value] for label, value in machine.items()]
    rows.append(["load average (1, 5, 15 min) at end", common.load_average()])
    return "\n".join(
        [
            "# Performance",
            "",
            "Figures from `hack/bench`, written by `.venv/bin/python -m hack.bench` (this file is generated: "
            "rerun it rather than editing the figures). `--objects N` sets the size (default 10,000; "
            "`--objects 500` is a quick run), `--repeat R` the runs per figure. The extra `bench` "
            "(`pip install -e '.[dev,bench]'`) installs kopf for the comparison.",
            "",
            "Everything runs on this machine against servers on 127.0.0.1 started by `hack.testbed` with "
            "`cluster.start(dir, workloads=False)`: etcd and kube-apiserver only. Without "
            "kube-controller-manager the Deployments (`replicas: 0`) stay exactly as created; with it, each "
            "one gets a ReplicaSet and status writes, which would add watch events (so more reconciles "
            "than objects) and compete for the two CPUs while the figures are taken. The apiserver shares "
            "the CPUs with the process being measured, so wall times include the server's work; the *CPU* "
            "columns give the measured process's own share. Each measurement runs in a fresh child "
            "process. Benchmarks measure; no test asserts a timing.",
            "",
            f"This run: {objects:,} Deployments created with {common.CREATE_CONCURRENCY} concurrent creates "
            f"through `irc.runtime.Client` in {seeding:.1f} s ({objects / seeding:,.0f}/s); the whole run "
            f"took {elapsed / 60:.1f} min.",
            "",
            common.table(["machine", ""], rows, figures=False),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="Deployments (and queue keys); 10000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; 5")
    parser.add_argument("--image-mb", type=int, default=50, help="size of the image-copy fixture; 50")
    parser.add_argument(
        "--ecr-repositories",
        type=int,
        default=1000,
        help="repositories of the ECR scan (100 tags each); 1000",
    )
    parser.add_argument("--output", default=str(DOC), help="where to write the Markdown; - for stdout only")
    args = parser.parse_args()
    started = time.perf_counter()
    with common.control_plane() as bed:
        apiserver = asyncio.run(common.apiserver_version(bed.kubeconfig))
        machine = common.machine(apiserver)
        common.progress(f"creating {args.objects} Deployments")
        seeding = asyncio.run(common.seed(bed.kubeconfig, args.objects))
        informers = informer_sync.section(informer_sync.measure(bed.kubeconfig, args.objects, args.repeat))
        print(informers, end="\n\n", flush=True)
        reconciles = reconcile_throughput.section(
            reconcile_throughput.measure(bed.kubeconfig, args.objects, args.repeat)
        )
        print(reconciles, end="\n\n", flush=True)
    queue = workqueue_section(args.objects)
    print(queue, flush=True)
    copies = image_copy.section(image_copy.measure(args.image_mb, min(args.repeat, 3)), with_machine=False)
    print(copies, flush=True)
    scans = ecr_scan.section(
        ecr_scan.measure(args.ecr_repositories, repeat=min(args.repeat, 3), sweep_repeat=1),
        with_machine=False,
    )
    print(scans, flush=True)
    doc = "\n\n".join(
        [
            intro(machine, args.objects, seeding, time.perf_counter() - started),
            informers,
            reconciles,
            queue,
            copies,
            scans,
        ]
    )
    if args.output != "-":
        Path(args.output).write_text(doc + "\n")
        common.progress(f"wrote {args.output}")


if __name__ == "__main__":
    main()
