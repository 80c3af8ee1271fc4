"""Run every benchmark and rewrite docs/performance.md with the figures.

    .venv/bin/python -m hack.bench                  # 10,000 objects, as published
    .venv/bin/python -m hack.bench --objects 500    # a quick run (writes the doc too; --output - prints only)
    .venv/bin/python -m hack.bench --only import-weight,workload-rewrite   # just these sections

`--only NAME[,NAME]` runs only the named sections (see SECTIONS) and replaces just those `## `
sections of the document, keeping every other section and the intro's figures as they are; the
intro's machine table gets a dated row per section rerun, naming what of the machine differs from
the full run's (a partial run never drops figures, nor passes them off as newer than they are).

The ECR scan (hack/bench/ecr_scan.py, 1,000 repositories of 100 tags against moto) runs the
default configuration `--repeat` times (at most 3) and the rest of its sweep once: moto needs ≈15 s
of CPU per scan, so repeating all five would add minutes. `python -m hack.bench.ecr_scan` alone
repeats every configuration.

One control plane (etcd and kube-apiserver on 127.0.0.1, no controllers) holds the Deployments for
the informer and reconcile benchmarks; it is stopped before the work-queue benchmark runs, so that
one measures the queue alone. The workload-rewrite benchmark starts the whole test bed of its own
(controllers, KWOK, registries) afterwards. Every process started here is stopped, even when a
benchmark fails.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hack.bench import (
    common,
    creation,
    ecr_scan,
    image_copy,
    import_weight,
    informer_sync,
    manager_footprint,
    reconcile_throughput,
    workload_rewrite,
)

DOC = common.REPO / "docs" / "performance.md"
# Section name (for --only) → the start of its `## ` heading, in the document's order.
SECTIONS: dict[str, str] = {
    "informers": "## Informer initial sync",
    "informers-at-scale": "## Informers at scale",
    "reconcile": "## No-op reconcile throughput",
    "manager": "## The whole manager at rest",
    "workqueue": "## Work queue",
    "image-copy": "## Image copy",
    "ecr-scan": "## ECR scan",
    "workload-rewrite": "## Workload rewrite",
    "creation": "## Creation",
    "import-weight": "## Import weight",
}
# The machine table's rows that describe the machine (the others say when and under what load).
MACHINE_FACTS = ("CPUs (nproc)", "CPU model", "RAM", "kernel", "Python", "kube-apiserver")


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
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    body = lines[first_table:]  # the throughput table, then the backlog prose and table
    title = lines[0] if lines else ""
    return "\n".join(
        [
            "## Work queue",
            "",
            f"`{module}` (`irc.runtime.workqueue.WorkQueue`, no API server): {title.strip()}. Each item is "
            "a distinct key passing through `add`, `get` and `done`; the workers yield once per item, as a "
            "reconcile that awaits would. The metrics are the queue's plain counters, read by the "
            "collector at scrape (`irc.runtime.metrics.WorkQueueCollector`).",
            "",
            *body,
        ]
    )


PROSE = f"""# Performance

Figures from `hack/bench`, written by `.venv/bin/python -m hack.bench` (this file is generated: \
rerun it rather than editing the figures). `--objects N` sets the size (default 10,000; `--objects \
500` is a quick run), `--repeat R` the runs per figure; `--scale-objects N` sizes the informers at \
scale (default 50,000); `--deployments N --images M` size the \
workload-rewrite run (default 1,000 and 50). `--only NAME[,NAME]` runs only those sections \
({", ".join(f"`{n}`" for n in SECTIONS)}) and replaces just them here, keeping the others: the \
machine table then gets a dated row for each section rerun, naming anything of the machine that \
differs from the full run's. The extra `bench` (`pip install -e '.[dev,bench]'`) installs kopf for \
the comparison.

Everything runs on this machine against servers on 127.0.0.1 started by `hack.testbed`. The \
informer and reconcile benchmarks use `cluster.start(dir, workloads=False)`: etcd and \
kube-apiserver only. Without kube-controller-manager the Deployments (`replicas: 0`) stay exactly \
as created; with it, each one gets a ReplicaSet and status writes, which would add watch events (so \
more reconciles than objects) and compete for the two CPUs while the figures are taken. The \
workload-rewrite benchmark is the exception: its Deployments must become Ready, so it starts the \
whole test bed (controllers and KWOK) and its registries of its own. The apiserver shares the CPUs \
with the process being measured, so wall times include the server's work; the *CPU* columns give \
the measured process's own share. Each measurement runs in a fresh child process. Benchmarks \
measure; no test asserts a timing."""


def run_line(objects: int, seeding: float, elapsed: float) -> str:
    return (
        f"This run: {objects:,} Deployments created with {common.CREATE_CONCURRENCY} concurrent creates "
        f"through `irc.runtime.Client` in {seeding:.1f} s ({objects / seeding:,.0f}/s); the whole run "
        f"took {elapsed / 60:.1f} min."
    )


def intro(machine: Mapping[str, str], line: str, extra: Sequence[Sequence[str]] = ()) -> str:
    rows = [[label, value] for label, value in machine.items()]
    rows.append(["load average (1, 5, 15 min) at end", common.load_average()])
    return "\n".join([PROSE, "", line, "", common.table(["machine", ""], [*rows, *extra], figures=False)])


# ---- a partial run: the document's sections


def split(doc: str) -> tuple[str, list[str]]:
    """The intro (everything before the first `## ` heading) and each `## ` section, as written
    (headings inside fenced code blocks do not count)."""
    chunks: list[list[str]] = [[]]
    fenced = False
    for line in doc.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced:
            chunks.append([])
        chunks[-1].append(line)
    texts = ["\n".join(chunk).strip("\n") for chunk in chunks]
    return texts[0], texts[1:]


def section_name(text: str) -> str | None:
    heading = text.splitlines()[0]
    return next((name for name, prefix in SECTIONS.items() if heading.startswith(prefix)), None)


def splice(sections: Sequence[str], fresh: Mapping[str, str]) -> list[str]:
    """`sections` with each of `fresh` (name → text) in place of the section of that name, or, when
    the document has none, after the last section that comes before it in SECTIONS' order. Sections
    of other names (or of none: written by hand) are kept as they are."""
    order = list(SECTIONS)
    out = list(sections)
    for name, text in fresh.items():
        names = [section_name(t) for t in out]
        if name in names:
            out[names.index(name)] = text
            continue
        before = [i for i, n in enumerate(names) if n is not None and order.index(n) < order.index(name)]
        out.insert(before[-1] + 1 if before else 0, text)
    return out


def machine_rows(intro_text: str) -> list[list[str]]:
    """The intro's machine table, as [label, value] rows."""
    rows, inside = [], False
    for line in intro_text.splitlines():
        if line.startswith("| machine |"):
            inside = True
            continue
        if inside and line.startswith("| :---"):
            continue
        if inside and line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows.append([cells[0], cells[1] if len(cells) > 1 else ""])
        elif inside:
            break
    return rows


def partial_intro(old: str, machine: Mapping[str, str], names: Sequence[str], load_end: str) -> str:
    """The intro of a partial run: the prose as the code has it now, the full run's line and machine
    table as they were, and one row per section rerun (replacing that section's previous one) with
    the date, the load and what of the machine differs from the table's."""
    line = next((p for p in old.split("\n\n") if p.startswith("This run:")), "")
    rows = machine_rows(old)
    labels = {f"`--only {name}`" for name in names}
    kept = [row for row in rows if row[0] not in labels]
    table = dict(row for row in rows if len(row) == 2)
    differs = [
        f"{fact} {machine[fact]}" for fact in MACHINE_FACTS if fact in table and table[fact] != machine[fact]
    ]
    value = f"{machine['date']}; load {machine['load average (1, 5, 15 min) at start']} → {load_end}" + (
        f"; unlike the rows above: {', '.join(differs)}" if differs else ""
    )
    added = [[f"`--only {name}`", value] for name in names]
    return "\n".join(
        [
            PROSE,
            "",
            *([line, ""] if line else []),
            common.table(["machine", ""], [*kept, *added], figures=False),
        ]
    )


# ---- running


def run(
    names: Sequence[str], args: argparse.Namespace
) -> tuple[dict[str, str], dict[str, str], float | None]:
    """Run the sections `names` (in SECTIONS' order); returns name → Markdown, the machine, and the
    seconds it took to create the Deployments (None when the shared control plane did not run)."""
    out: dict[str, str] = {}
    machine: dict[str, str] | None = None
    seeding: float | None = None

    def done(name: str, text: str) -> None:
        out[name] = text
        print(text, end="\n\n", flush=True)

    if "informers" in names or "reconcile" in names:
        with common.control_plane() as bed:
            machine = common.machine(asyncio.run(common.apiserver_version(bed.kubeconfig)))
            common.progress(f"creating {args.objects} Deployments")
            seeding = asyncio.run(common.seed(bed.kubeconfig, args.objects))
            if "informers" in names:
                measured = informer_sync.measure(bed.kubeconfig, args.objects, args.repeat)
                done("informers", informer_sync.section(measured))
            if "reconcile" in names:
                timed = reconcile_throughput.measure(bed.kubeconfig, args.objects, args.repeat)
                done("reconcile", reconcile_throughput.section(timed))
    if machine is None:  # no apiserver ran yet: the test bed's pinned version is the one that runs
        from hack.testbed.binaries import versions

        machine = common.machine(versions()["K8S_VERSION"])
    later: dict[str, Callable[[], str]] = {
        "informers-at-scale": lambda: informer_sync.scale_section(
            informer_sync.measure_at_scale(args.scale_objects, min(args.repeat, 3))
        ),
        "manager": lambda: manager_footprint.section(manager_footprint.run(args.objects, idle=60.0)),
        "workqueue": lambda: workqueue_section(args.objects),
        "image-copy": lambda: image_copy.section(
            image_copy.measure(args.image_mb, min(args.repeat, 3)), with_machine=False
        ),
        "ecr-scan": lambda: ecr_scan.section(
            ecr_scan.measure(args.ecr_repositories, repeat=min(args.repeat, 3), sweep_repeat=1),
            with_machine=False,
        ),
        "workload-rewrite": lambda: workload_rewrite.section(
            workload_rewrite.measure(args.deployments, args.images), with_machine=False
        ),
        "creation": lambda: creation.section(creation.measure(), with_machine=False),
        "import-weight": lambda: import_weight.section(
            import_weight.measure(args.repeat), with_machine=False
        ),
    }
    for name, measure in later.items():
        if name in names:
            done(name, measure())
    return out, machine, seeding


def parse_only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none)'}; known: {', '.join(SECTIONS)}"
        )
    return [n for n in SECTIONS if n in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000, help="Deployments (and queue keys); 10000")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; 5")
    parser.add_argument(
        "--scale-objects", type=int, default=50_000, help="Deployments of the informers at scale; 50000"
    )
    parser.add_argument("--image-mb", type=int, default=50, help="size of the image-copy fixture; 50")
    parser.add_argument(
        "--ecr-repositories",
        type=int,
        default=1000,
        help="repositories of the ECR scan (100 tags each); 1000",
    )
    parser.add_argument(
        "--deployments", type=int, default=1000, help="Deployments of the workload rewrite; 1000"
    )
    parser.add_argument("--images", type=int, default=50, help="images of the workload rewrite; 50")
    parser.add_argument(
        "--only",
        type=parse_only,
        metavar="NAME[,NAME]",
        help=f"run only these sections and replace just them in the document ({', '.join(SECTIONS)})",
    )
    parser.add_argument("--output", default=str(DOC), help="where to write the Markdown; - for stdout only")
    args = parser.parse_args()
    output = None if args.output == "-" else Path(args.output)
    names: list[str] = args.only or list(SECTIONS)
    if args.only and output is not None and not output.exists():
        parser.error(f"--only replaces sections of {output}, which does not exist: run without --only first")
    started = time.perf_counter()
    fresh, machine, seeding = run(names, args)
    if output is None:
        return
    if args.only:
        intro_text, sections = split(output.read_text())
        doc = "\n\n".join(
            [partial_intro(intro_text, machine, names, common.load_average()), *splice(sections, fresh)]
        )
    else:
        assert seeding is not None
        line = run_line(args.objects, seeding, time.perf_counter() - started)
        doc = "\n\n".join([intro(machine, line), *(fresh[name] for name in SECTIONS)])
    output.write_text(doc + "\n")
    common.progress(f"wrote {output}")


if __name__ == "__main__":
    main()
