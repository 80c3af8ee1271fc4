"""Benchmark: a full ECR scan of 1,000 repositories of 100 tags each (`irc.ecr.scan`) against the test
bed's moto-based ECR: wall time, AWS API calls made, client and server CPU, RSS.

One run starts `hack.testbed.ecr` on 127.0.0.1, seeds `bench/svc-0000` … with `--tags` images each
(semver tags pushed in shuffled order, plus `latest` and a cosign signature tag), then scans with a
policy `repositoryPattern: bench/*`, `semver: {range: ">=1.0.0"}` in these configurations, each run
in a fresh child process (so RSS is that of the scan alone), rounds alternating between them:

1. `perRepository: true` at concurrency 1, 8 (the operator's default) and 32;
2. `perRepository: false` (one selection over all repositories) at concurrency 8;
3. the same calls made sequentially with boto3 (sync), feeding the same `Selector`: a baseline for
   the async client's overhead.

Every run is checked: the scan's own call count equals the server's (`ECR.calls()`) and the
expected 1 DescribeRepositories page + 1 DescribeImages per repository (≤1,000 tags each); every
repository was scanned, every image counted and each selection is the highest semver tag. Run alone:

    .venv/bin/python -m hack.bench.ecr_scan [--repositories 1000] [--tags 100] [--repeat 3]
        [--sweep-repeat N] [--profile] [--doc docs/performance.md]

From the benchmark runner: `section(measure(...), with_machine=False)`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import pstats
import random
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hack.bench import common
from hack.testbed import ecr

MODULE = "hack.bench.ecr_scan"
PREFIX = "bench/svc-"
SIGNATURE_TAG = "sha256-" + "ab" * 32 + ".sig"
NON_SEMVER = ("latest", SIGNATURE_TAG)
RANGE = ">=1.0.0"
CHILD_TIMEOUT = 600.0
TIMES = "\N{MULTIPLICATION SIGN}"


# ---- the fixture


def semver_tags(count: int) -> list[tuple[int, int, int]]:
    """`count` distinct versions 1.0.0, 1.0.1, … (5 patches per minor, 5 minors per major)."""
    return [(1 + i // 25, (i // 5) % 5, i % 5) for i in range(count)]


def fixture_tags(tags: int) -> tuple[list[str], str]:
    """Every repository's tags in push order (shuffled, so the newest push is not the highest
    version) and the tag a semver policy must select."""
    versions = semver_tags(tags - len(NON_SEMVER))
    names = [".".join(map(str, v)) for v in versions] + list(NON_SEMVER)
    random.Random(0).shuffle(names)
    return names, ".".join(map(str, max(versions)))


def repository_names(count: int) -> list[str]:
    return [f"{PREFIX}{i:04d}" for i in range(count)]


def policy(repositories: int, per_repository: bool) -> dict[str, Any]:
    return {
        "ecrRepository": {
            "region": ecr.REGION,
            "repositoryPattern": "bench/*",
            "maxRepositories": repositories,
        },
        "policy": {"perRepository": per_repository, "semver": {"range": RANGE}},
    }


# ---- the measured children


def _memory(before: int, baseline: int) -> dict[str, int]:
    return {"import_kib": before, "baseline_kib": baseline, "peak_kib": common.status_kib("VmHWM")}


async def irc_child(
    endpoint: str, repositories: int, per_repository: bool, concurrency: int
) -> dict[str, Any]:
    """One `irc.ecr.scan` as the detection controller runs it: a fresh client per scan with
    `max_connections` equal to the concurrency, from an `AwsClients` whose session has already
    loaded the ECR model (a warm-up client, opened and closed before the baseline reading)."""
    from irc.ecr import AwsClients, AwsCredentials, ScanSpec, scan

    spec = ScanSpec.from_policy(policy(repositories, per_repository))
    credentials = AwsCredentials(
        ecr.CREDENTIALS["aws_access_key_id"], ecr.CREDENTIALS["aws_secret_access_key"]
    )
    before = common.rss_kib()
    clients = AwsClients(endpoint_url=endpoint)
    async with clients.client("ecr", ecr.REGION, credentials):
        pass
    baseline = common.rss_kib()
    async with clients.client("ecr", ecr.REGION, credentials, max_connections=concurrency) as client:
        cpu = time.process_time()
        result = await scan(client, spec, concurrency=concurrency)
        cpu = time.process_time() - cpu
    return {
        "seconds": result.duration,
        "cpu_seconds": cpu,
        "api_calls": result.api_calls,
        "repositories_scanned": result.repositories_scanned,
        "images_scanned": result.images_scanned,
        "selections": [[s.image.repository, s.image.tag] for s in result.selections],
        **_memory(before, baseline),
    }


def boto3_child(endpoint: str, repositories: int, per_repository: bool) -> dict[str, Any]:
    """The scan's calls made one after the other with boto3 (same pages, same filter, same
    Selector), the way a straightforward synchronous implementation would."""
    import boto3
    from botocore.config import Config

    from irc.ecr import Image, ScanSpec, Selector
    from irc.ecr.scan import PAGE_SIZE

    spec = ScanSpec.from_policy(policy(repositories, per_repository))
    before = common.rss_kib()
    client = boto3.session.Session().client(
        "ecr",
        endpoint_url=endpoint,
        region_name=ecr.REGION,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
        **ecr.CREDENTIALS,
    )
    baseline = common.rss_kib()
    calls = 0

    def count(**_: Any) -> None:
        nonlocal calls
        calls += 1

    client.meta.events.register("before-send.ecr", count)
    cpu, started = time.process_time(), time.monotonic()
    matched: dict[str, str] = {}
    pages = client.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        for repo in page["repositories"]:
            if spec.matcher.repository_matches(repo["repositoryName"]):
                matched[repo["repositoryName"]] = repo["repositoryUri"]
    names = sorted(matched)[: spec.max_repositories]
    selector, images_scanned = Selector(spec), 0
    for name in names:
        images: list[Image] = []
        pages = client.get_paginator("describe_images").paginate(
            repositoryName=name, filter={"tagStatus": "TAGGED"}, PaginationConfig={"PageSize": PAGE_SIZE}
        )
        for page in pages:
            for detail in page["imageDetails"]:
                pushed = detail["imagePushedAt"].timestamp()
                for tag in detail.get("imageTags") or ():
                    images.append(Image(name, tag, detail["imageDigest"], matched[name], pushed))
        images_scanned += len({i.digest for i in images})
        selector.offer(images)
    selections = selector.selections()
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "api_calls": calls,
        "repositories_scanned": len(names),
        "images_scanned": images_scanned,
        "selections": [[s.image.repository, s.image.tag] for s in selections],
        **_memory(before, baseline),
    }


def child_main(args: argparse.Namespace) -> None:
    def run() -> dict[str, Any]:
        if args.mode == "boto3":
            return boto3_child(args.endpoint, args.repositories, args.per_repository)
        return asyncio.run(irc_child(args.endpoint, args.repositories, args.per_repository, args.concurrency))

    if not args.profile_out:
        common.emit(run())
        return
    profiler = cProfile.Profile()
    result = profiler.runcall(run)
    profiler.dump_stats(args.profile_out)
    common.emit(result)


# ---- configurations and their runs


@dataclass(frozen=True)
class Config:
    label: str
    mode: str  # "irc" or "boto3"
    concurrency: int
    per_repository: bool
    primary: bool = False  # the operator's default: always `repeat` runs

    def argv(self, endpoint: str, repositories: int) -> list[str]:
        argv = ["--child", "--mode", self.mode, "--endpoint", endpoint, "--repositories", str(repositories)]
        argv += ["--concurrency", str(self.concurrency)]
        return argv + (["--per-repository"] if self.per_repository else [])


CONFIGS = (
    Config("irc `scan`, perRepository, concurrency 1", "irc", 1, True),
    Config("irc `scan`, perRepository, concurrency 8 (default)", "irc", 8, True, primary=True),
    Config("irc `scan`, perRepository, concurrency 32", "irc", 32, True),
    Config("irc `scan`, one selection (perRepository false), concurrency 8", "irc", 8, False),
    Config("boto3 (sync), same calls one after the other, perRepository", "boto3", 1, True),
)


@dataclass(frozen=True)
class Run:
    child: Mapping[str, Any]
    server_calls: Mapping[str, int]
    server_cpu: float  # moto's process, user + system, during the child's life


@dataclass(frozen=True)
class Row:
    config: Config
    runs: list[Run]

    def spread(self, key: str, scale: float = 1.0) -> common.Spread:
        return common.Spread.of([float(r.child[key]) * scale for r in self.runs])

    @property
    def server_cpu(self) -> common.Spread:
        return common.Spread.of([r.server_cpu for r in self.runs])

    @property
    def server_share(self) -> common.Spread:
        """moto's CPU seconds per second of scan."""
        return common.Spread.of([r.server_cpu / float(r.child["seconds"]) for r in self.runs])


@dataclass(frozen=True)
class Results:
    repositories: int
    tags: int
    repeat: int
    machine: Mapping[str, str]
    seed_seconds: float
    expected_calls: Mapping[str, int]
    server_rss_mib: float
    rows: list[Row]
    elapsed: float
    profile: str | None = None


def process_cpu(pid: int) -> float:
    """User + system seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"/proc/{pid}/status has no VmRSS")


def expected_calls(repositories: int, tags: int) -> dict[str, int]:
    """Pages of 1,000: the only repositories in the emulator are the benchmark's."""
    return {
        "DescribeRepositories": math.ceil(repositories / 1000),
        "DescribeImages": repositories * math.ceil(tags / 1000),
    }


def check(run: Run, config: Config, repositories: int, tags: int, expected: Mapping[str, int]) -> None:
    """The run did the whole scan with the calls it should have (correctness, not timing)."""
    child, what = run.child, config.label
    if child["api_calls"] != sum(run.server_calls.values()) or dict(run.server_calls) != dict(expected):
        raise RuntimeError(
            f"{what}: counted {child['api_calls']} calls, the server saw {dict(run.server_calls)}, "
            f"expected {dict(expected)}"
        )
    if child["repositories_scanned"] != repositories or child["images_scanned"] != repositories * tags:
        raise RuntimeError(
            f"{what}: scanned {child['repositories_scanned']} repositories and {child['images_scanned']} "
            f"images, not {repositories} and {repositories * tags}"
        )
    _, top = fixture_tags(tags)
    names = repository_names(repositories)
    # One selection: equal tags everywhere, so the tie goes to the latest push (the last repository).
    want = [[n, top] for n in names] if config.per_repository else [[names[-1], top]]
    if child["selections"] != want:
        raise RuntimeError(f"{what}: selected {child['selections'][:3]}…, expected {want[:3]}…")


def run_once(bed: ecr.ECR, config: Config, repositories: int, tags: int, extra: Sequence[str] = ()) -> Run:
    bed.reset_calls()
    cpu = process_cpu(bed.process.pid)
    child = common.run_child(MODULE, [*config.argv(bed.endpoint, repositories), *extra], CHILD_TIMEOUT)
    return Run(child, bed.calls(), process_cpu(bed.process.pid) - cpu)


def profile_once(bed: ecr.ECR, repositories: int, tags: int, work: Path, lines: int = 25) -> str:
    """The default configuration once more under cProfile; the top functions by own time."""
    out = work / "scan.prof"
    run_once(bed, CONFIGS[1], repositories, tags, ["--profile-out", str(out)])
    text = io.StringIO()
    pstats.Stats(str(out), stream=text).strip_dirs().sort_stats("tottime").print_stats(lines)
    return text.getvalue()


def versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("moto", "aiobotocore", "botocore", "boto3")}


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so `finally` stops the emulator


def measure(
    repositories: int = 1000,
    tags: int = 100,
    repeat: int = 3,
    sweep_repeat: int | None = None,
    profile: bool = False,
) -> Results:
    """`repeat` runs of the default configuration and `sweep_repeat` (default: as many) of the
    others, in rounds that alternate between configurations."""
    if tags <= len(NON_SEMVER):
        raise ValueError(f"--tags must exceed {len(NON_SEMVER)} (the non-semver tags)")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.perf_counter()
    machine = {k: v for k, v in common.machine("").items() if k != "kube-apiserver"}
    machine.update(versions())
    sweep = repeat if sweep_repeat is None else sweep_repeat
    expected = expected_calls(repositories, tags)
    runs: dict[Config, list[Run]] = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="irc-bench-ecr-") as tmp:
        bed = ecr.start(Path(tmp) / "ecr")
        try:
            names, _ = fixture_tags(tags)
            common.progress(f"seeding {repositories} repositories {TIMES} {tags} tags")
            seeding = time.perf_counter()
            bed.seed({name: names for name in repository_names(repositories)})
            seeding = time.perf_counter() - seeding
            for n in range(max(repeat, sweep)):
                for config in CONFIGS:
                    if n < (repeat if config.primary else sweep):
                        run = run_once(bed, config, repositories, tags)
                        check(run, config, repositories, tags, expected)
                        runs[config].append(run)
            profiled = profile_once(bed, repositories, tags, Path(tmp)) if profile else None
            server_rss = process_rss_mib(bed.process.pid)
        finally:
            bed.stop()
    rows = [Row(c, r) for c, r in runs.items() if r]
    elapsed = time.perf_counter() - started
    return Results(
        repositories, tags, repeat, machine, seeding, expected, server_rss, rows, elapsed, profiled
    )


# ---- the Markdown section


def _mib(kib: float) -> float:
    return kib / 1024


def _per_run(values: Sequence[int]) -> str:
    return f"{values[0]:,}" if len(set(values)) == 1 else "/".join(f"{v:,}" for v in values)


def _calls(counts: Mapping[str, int]) -> str:
    return " + ".join(f"{n:,} {action}" for action, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def section(r: Results, with_machine: bool = True) -> str:
    """The Markdown section; `with_machine=False` leaves out the machine line (for a document that
    describes the machine once)."""
    rows = []
    for row in r.rows:
        wall = row.spread("seconds")
        calls = [int(run.child["api_calls"]) for run in row.runs]
        server = [sum(run.server_calls.values()) for run in row.runs]
        rows.append(
            [
                row.config.label,
                str(len(row.runs)),
                wall.format(2, " s"),
                f"{r.repositories * r.tags / wall.median:,.0f}",
                row.spread("cpu_seconds").format(2, " s"),
                f"{row.server_cpu.format(2, ' s')}; {row.server_share.median:.0%}",
                f"{_per_run(calls)} / {_per_run(server)}",
                _per_run([int(run.child["images_scanned"]) for run in row.runs]),
                _per_run([len(run.child["selections"]) for run in row.runs]),
                row.spread("baseline_kib", 1 / 1024).format(0, " MiB"),
                row.spread("peak_kib", 1 / 1024).format(0, " MiB"),
                common.Spread.of(
                    [_mib(run.child["peak_kib"] - run.child["baseline_kib"]) for run in row.runs]
                ).format(1, " MiB"),
            ]
        )
    headers = [
        "configuration",
        "runs",
        "scan wall time",
        "images/s",
        "client CPU",
        "moto CPU; share of wall",
        "API calls: scan / server",
        "images scanned",
        "selections",
        "RSS before the scan",
        "peak RSS",
        "added by the scan",
    ]
    by_label = {row.config: row for row in r.rows}
    default = by_label[CONFIGS[1]]
    imports = common.Spread.of([_mib(run.child["import_kib"]) for run in default.runs]).median
    machine = "; ".join(f"{k}: {v}" for k, v in r.machine.items())
    size = f"{r.repositories:,} repositories {TIMES} {r.tags} tags"
    parts = [
        f"## ECR scan ({size})",
        "",
        *([f"Machine: {machine}.", ""] if with_machine else []),
        f"`{MODULE}`: `irc.ecr.scan` against the test bed's ECR (`hack.testbed.ecr`: moto "
        f"{r.machine['moto']} in server mode on 127.0.0.1, paging as ECR does), seeded in-process in "
        f"{r.seed_seconds:.1f} s with `{PREFIX}0000` … `{PREFIX}{r.repositories - 1:04d}`, each holding "
        f"{r.tags} images, one tag each: {r.tags - len(NON_SEMVER)} semver tags pushed in shuffled order, "
        "`latest` and a cosign signature tag. The policy is `repositoryPattern: bench/*`, "
        f'`maxRepositories: {r.repositories}`, `semver: {{range: "{RANGE}"}}`. Each run is a fresh child '
        "process; rounds alternate between the configurations; median over the runs, range in brackets. "
        "Every run was checked: the scan's own call count equalled the server's "
        f"({_calls(r.expected_calls)}: one page of repositories, one DescribeImages per repository), "
        "every image was counted and every selection was the highest semver tag.",
        "",
        common.table(headers, rows),
        "",
        "- *scan wall time* is `ScanResult.duration` (irc; boto3: the same span around its loop): from the "
        "first DescribeRepositories to the selections, client already made. *client CPU* is the child's "
        "`process_time` over the same span. *moto CPU* is the emulator "
        "process's user + system time (all threads, from /proc) while the child ran, and its share of the "
        "scan's wall time. *images/s* is images over the median wall time.",
        "- *RSS before the scan*: the child's resident set after imports, the policy parse and one ECR "
        f"client made and closed (botocore's ECR model loaded, as in a running operator; after imports "
        f"alone: {imports:.0f} MiB), after `gc.collect()`. *peak RSS* is the child's VmHWM; *added by the "
        "scan* is peak minus before. Each worker holds one repository's images at a time and the "
        "`Selector` only the current winners, so what the scan adds follows the concurrency, not the "
        "number of repositories.",
        *findings(r),
        f"- The emulator's own RSS holding the {r.repositories * r.tags:,} images: "
        f"{r.server_rss_mib:,.0f} MiB. This benchmark took {r.elapsed / 60:.1f} min.",
    ]
    if r.profile:
        parts += [
            "",
            "cProfile of one more default scan (child process, top functions by own time):",
            "",
            "```",
        ]
        parts += [r.profile.strip(), "```"]
    return "\n".join(parts)


def findings(r: Results) -> list[str]:
    """What the figures say about the emulator and the client, as bullets computed from them."""
    by_config = {row.config: row for row in r.rows}
    default = by_config[CONFIGS[1]]
    wall, client, server = default.spread("seconds"), default.spread("cpu_seconds"), default.server_cpu
    calls = sum(r.expected_calls.values())
    share = default.server_share.median
    sweep = [
        f"{row.config.concurrency}: {row.spread('seconds').median:.1f} s"
        for row in r.rows
        if row.config.mode == "irc" and row.config.per_repository
    ]
    out = [
        f"- {'**moto is the bottleneck.** ' if share >= 0.85 else ''}At the default concurrency the "
        f"emulator process was busy {server.median:.1f} s of CPU in the {wall.median:.1f} s scan "
        f"({share:.0%}; {server.median / calls * 1000:.0f} ms per call), the scan's own process "
        f"{client.median:.1f} s ({client.median / calls * 1000:.1f} ms per call, "
        f"{client.median / r.repositories / r.tags * 1e6:.0f} µs per image). moto serves each request in "
        "a thread of one Python process, so under the GIL it works on about one request at a time "
        "whatever the client's concurrency; concurrency only overlaps the client's parsing with the "
        f"server's work (two CPUs here). Wall time by concurrency (perRepository): {', '.join(sweep)}.",
    ]
    serial = by_config.get(CONFIGS[0])
    if serial is not None:
        added = serial.spread("cpu_seconds").median + serial.server_cpu.median
        measured = serial.spread("seconds").median
        close = abs(measured - added) < 0.1 * measured
        out.append(
            f"- At concurrency 1 the calls go one after the other, so wall time ≈ client CPU + moto CPU: "
            f"{added:.1f} s against {measured:.1f} s measured"
            + (
                ": the wall time is nearly all CPU on one side or the other, not network or waiting."
                if close
                else "."
            )
        )
    sync = by_config.get(CONFIGS[4])
    if sync is not None and serial is not None:
        out.append(
            f"- boto3 (sync) making the same calls in sequence: {sync.spread('seconds').median:.1f} s and "
            f"{sync.spread('cpu_seconds').median:.2f} s client CPU, against irc at concurrency 1 "
            f"{serial.spread('seconds').median:.1f} s / {serial.spread('cpu_seconds').median:.2f} s and at "
            f"concurrency 8 {wall.median:.1f} s / {client.median:.2f} s: irc's sequential scan uses "
            f"{serial.spread('cpu_seconds').median / sync.spread('cpu_seconds').median:.2f}{TIMES} "
            "boto3's CPU "
            "(irc parses timestamps without dateutil, boto3 with it); the concurrent scan's gain is "
            "bounded by the emulator."
        )
    out.append(
        "- Real ECR differs: HTTPS with keep-alive from wherever the operator runs, its network latency "
        "and per-account API rate limits, instead of a CPU-bound emulator on loopback that closes every "
        "connection (moto answers `Connection: close`, so each call here opens a new TCP connection). The "
        f"wall times do not carry over; there a scan takes about calls / concurrency {TIMES} latency, and "
        "never less than the client CPU measured here. The call count and the scan's memory carry over as "
        "they are."
    )
    return out


def patch_doc(path: Path, text: str) -> None:
    """Replace the document's ECR scan section with `text`, or append it; the rest stays as it is."""
    doc = path.read_text()
    start = doc.find("\n## ECR scan")
    if start < 0:
        path.write_text(doc.rstrip("\n") + "\n\n" + text + "\n")
        return
    end = doc.find("\n## ", start + 1)
    tail = doc[end:] if end >= 0 else "\n"
    path.write_text(doc[: start + 1] + text + "\n" + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1000, help="repositories to seed and scan (1000)")
    parser.add_argument("--tags", type=int, default=100, help="tags (images) per repository (100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the default configuration (3)")
    parser.add_argument("--sweep-repeat", type=int, help="runs of the others (default: as --repeat)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one more default scan")
    parser.add_argument("--doc", type=Path, help="also put the section into this Markdown file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("irc", "boto3"), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--per-repository", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    text = section(measure(args.repositories, args.tags, args.repeat, args.sweep_repeat, args.profile))
    print(text)
    if args.doc:
        patch_doc(args.doc, text)
        common.progress(f"wrote the ECR scan section into {args.doc}")


if __name__ == "__main__":
    main()
