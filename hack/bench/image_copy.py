"""Benchmark: copying a ≈50 MB multi-arch image between two registries, irc's copier against skopeo.

One run starts the test bed's registries (`source` and `backup`, anonymous plain HTTP on
127.0.0.1), builds two fixture images and pushes them to `source`, then measures:

1. irc `copy_image` into a fresh `backup` repository, in a fresh child process per run;
2. `skopeo copy --all --preserve-digests` of the same image into a fresh repository, each run with
   a fresh, empty blob-info cache (runs alternate with irc's);
3. irc re-copying into a repository that already holds the image (requests by method, bytes sent);
4. irc copying a second image that shares its two lower layers with the first into another
   repository of `backup`, with and without the `BlobLocationCache` the operator keeps.

Every copy is checked in the backup registry's access log (blobs uploaded and mounted) and by the
digest the destination serves. Run alone:

    .venv/bin/python -m hack.bench.image_copy [--size-mb 50] [--repeat 3] [--profile]

From the benchmark runner: `section(measure(size_mb, repeat))` (as the other modules), or
`run(args)` with an argparse namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from hack.bench import common
from hack.testbed import images, registries
from irc.images.auth import Authenticator, RegistryOptions
from irc.images.copy import BlobLocationCache, CopyResult, Progress, copy_image
from irc.images.registry import INDEX_TYPES, RegistryClient

MODULE = "hack.bench.image_copy"
IMAGE = "bench/large"
DERIVED = "bench/large-derived"
TAG = "1.0.0"
PLATFORMS = ("linux/amd64", "linux/arm64")
TOP_LAYER, DERIVED_TOP_LAYER = 1024, 2048
CHILD_TIMEOUT = 900.0
# containers/image picks its blob-info cache by the *effective* uid: as root it is always
# /var/lib/containers/cache, whatever HOME says. A non-zero _CONTAINERS_ROOTLESS_UID (what podman
# sets inside its user namespace) makes it use $XDG_DATA_HOME/containers/cache instead.
ROOTLESS_UID = "1000"
TIMES = "\N{MULTIPLICATION SIGN}"


# ---- the fixture images


def fixture_specs(size_mb: int) -> tuple[images.Spec, images.Spec]:
    """The image (`size_mb` MB of layers over both platforms: 80 % / 20 % / 1 KiB per platform)
    and the derived one. Both are built from the same Spec name, which seeds every layer's bytes,
    so the lower two layers are byte-identical; the derived top layer is 2 KiB instead of 1 KiB,
    so it (and each config and manifest above it) differs."""
    half = size_mb * 1_000_000 // len(PLATFORMS)
    base = images.Spec(IMAGE, TAG, platforms=PLATFORMS, layer_sizes=(half * 4 // 5, half // 5, TOP_LAYER))
    derived = dataclasses.replace(base, layer_sizes=(half * 4 // 5, half // 5, DERIVED_TOP_LAYER))
    return base, derived


def skopeo_env(home: Path) -> dict[str, str]:
    """The environment for one skopeo run whose blob-info cache lives under `home` (created empty)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "_CONTAINERS_ROOTLESS_UID": ROOTLESS_UID,
    }


def cache_file(home: Path) -> Path:
    return home / "data" / "containers" / "cache" / "blob-info-cache-v1.boltdb"


def push_fixture(spec: images.Spec, registry: registries.Registry, workdir: Path, repository: str) -> None:
    """Build `spec` into an OCI layout and push it, digests preserved, as `repository:tag` (skopeo
    with a throwaway blob-info cache, so the machine's own cache is left alone)."""
    source, _ = images.build(spec, images.Layout(workdir / "layout"))
    argv = ["skopeo", "copy", "--quiet", "--all", "--preserve-digests", *registry.skopeo_flags("dest")]
    argv += [source, f"docker://{registry.host}/{repository}:{spec.tag}"]
    done = subprocess.run(argv, env=skopeo_env(workdir / "home"), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"pushing {repository} failed: {done.stderr.strip()}")


def client_for(session: aiohttp.ClientSession, host: str) -> RegistryClient:
    return RegistryClient(session, host, auth=Authenticator(host), options=RegistryOptions(plain_http=True))


async def image_blobs(host: str, repository: str, ref: str) -> tuple[str, dict[str, int]]:
    """The image's top-level digest and its distinct blobs (configs and layers) with their sizes."""
    async with aiohttp.ClientSession() as session:
        client = client_for(session, host)
        top = await client.get_manifest(repository, ref)
        documents = [json.loads(top.data)]
        if top.media_type in INDEX_TYPES:
            for entry in documents[0]["manifests"]:
                child = await client.get_manifest(repository, entry["digest"])
                documents.append(json.loads(child.data))
        blobs: dict[str, int] = {}
        for doc in documents:
            for desc in [doc["config"], *doc["layers"]] if "config" in doc else []:
                blobs[str(desc["digest"])] = int(desc["size"])
        return top.digest, blobs


async def served_digests(host: str, repositories: Sequence[str]) -> dict[str, str | None]:
    """repository → digest the registry serves for `TAG` there."""
    async with aiohttp.ClientSession() as session:
        client = client_for(session, host)
        heads = [await client.head_manifest(repo, TAG) for repo in repositories]
        return {repo: head.digest if head else None for repo, head in zip(repositories, heads, strict=True)}


# ---- the backup registry's access log


_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3}) ')


@dataclass(frozen=True)
class LogCount:
    """What one repository of the registry saw, from its access log."""

    requests: Mapping[str, int]
    uploaded: frozenset[str]  # blob digests committed by an upload's final PUT
    mounted: frozenset[str]  # blob digests mounted from another repository
    manifests_put: int


class AccessLog:
    """The registry's log file, read from a mark on; the registry writes a line after answering, so
    `since` waits until the file stops growing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, mark: int, repository: str) -> LogCount:
        size, stable_since = -1, time.monotonic()
        deadline = stable_since + 5.0
        while time.monotonic() < deadline:
            now = self.path.stat().st_size
            if now != size:
                size, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= 0.2:
                break
            time.sleep(0.05)
        with self.path.open("rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        requests: Counter[str] = Counter()
        uploaded: set[str] = set()
        mounted: set[str] = set()
        manifests = 0
        for match in _ACCESS.finditer(text):
            method, uri, status = match.group(1), match.group(2), int(match.group(3))
            parts = urlsplit(uri)
            if not parts.path.startswith(f"/v2/{repository}/"):
                continue
            requests[method] += 1
            query = parse_qs(parts.query)
            if method == "PUT" and "/blobs/uploads/" in parts.path and status == 201:
                uploaded.update(query.get("digest", []))
            elif method == "POST" and "mount" in query and status == 201:
                mounted.update(query["mount"])
            elif method == "PUT" and "/manifests/" in parts.path and status == 201:
                manifests += 1
        return LogCount(dict(requests), frozenset(uploaded), frozenset(mounted), manifests)


# ---- child processes, measured by GNU time


TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Measured:
    stdout: str
    stderr: str
    wall: float  # from start to exit, seen by this process
    cpu: float  # user + system seconds of the command
    max_rss_kib: int  # the command's peak resident set


def run_measured(argv: Sequence[str], env: Mapping[str, str], timeout: float = CHILD_TIMEOUT) -> Measured:
    """Run `argv` to completion under GNU time, in a process group of its own that is killed on
    timeout or if this process is interrupted, so nothing outlives the call.

    Not `wait4` on a direct child: Python spawns with vfork, and at exec Linux carries the old
    memory map's high-water mark into the new process's `ru_maxrss`, so every direct child would
    report at least this process's own peak. GNU time forks the command from its small self."""
    with tempfile.TemporaryDirectory(prefix="irc-bench-time-") as tmp:
        report = Path(tmp) / "time"
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [TIME, "-f", "%U %S %M", "-o", str(report), *argv],
                cwd=common.REPO,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            wall = time.perf_counter() - started
        text, errors = out.read_text(errors="replace"), err.read_text(errors="replace")
        if code != 0:
            raise RuntimeError(f"{argv[0]} {' '.join(argv[1:4])} exited {code}:\n{errors[-4000:]}")
        user, system, rss = report.read_text().split()[-3:]
    return Measured(text, errors, wall, float(user) + float(system), int(rss))


# ---- irc's side


async def irc_copy(
    session: aiohttp.ClientSession,
    source: str,
    src_repo: str,
    backup: str,
    dst_repo: str,
    cache: BlobLocationCache | None = None,
) -> tuple[float, CopyResult, RegistryClient, RegistryClient]:
    """One `copy_image` with fresh clients (so their stats are this copy's), keeping the latest
    progress as the operator does; returns seconds, the result and both clients."""
    src, dst = client_for(session, source), client_for(session, backup)
    latest: list[Progress] = []

    def record(progress: Progress) -> None:
        latest[:] = [progress]

    started = time.perf_counter()
    result = await copy_image(src, src_repo, TAG, dst, dst_repo, TAG, progress=record, blob_cache=cache)
    return time.perf_counter() - started, result, src, dst


async def _child(source: str, backup: str, dst_repo: str) -> dict[str, Any]:
    """The measured irc copy, in a fresh process."""
    async with aiohttp.ClientSession() as session:
        before = common.rss_kib()
        cpu = time.process_time()
        seconds, result, src, dst = await irc_copy(session, source, IMAGE, backup, dst_repo)
        cpu = time.process_time() - cpu
        return {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rss_before_kib": before,
            "peak_kib": common.status_kib("VmHWM"),
            "target_digest": result.target_digest,
            "blobs_copied": result.blobs_copied,
            "blobs_mounted": result.blobs_mounted,
            "bytes_copied": result.bytes_copied,
            "src_requests": dict(src.stats.requests),
            "dst_requests": dict(dst.stats.requests),
        }


def child_main(args: argparse.Namespace) -> None:
    if not args.profile_out:
        common.emit(asyncio.run(_child(args.source, args.backup, args.dst_repo)))
        return
    profiler = cProfile.Profile()
    result = profiler.runcall(asyncio.run, _child(args.source, args.backup, args.dst_repo))
    profiler.dump_stats(args.profile_out)
    common.emit(result)


def irc_child_argv(source: str, backup: str, dst_repo: str, profile_out: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", MODULE, "--child", "--source", source, "--backup", backup]
    argv += ["--dst-repo", dst_repo]
    return argv + (["--profile-out", str(profile_out)] if profile_out else [])


# ---- results


@dataclass(frozen=True)
class Fixture:
    digest: str
    blobs: Mapping[str, int]
    derived_digest: str
    derived_blobs: Mapping[str, int]

    @property
    def bytes(self) -> int:
        return sum(self.blobs.values())

    @property
    def shared(self) -> set[str]:
        return set(self.blobs) & set(self.derived_blobs)


@dataclass(frozen=True)
class FullCopies:
    """`repeat` copies of the image into fresh repositories by one tool."""

    tool: str
    copy_seconds: common.Spread  # the copy itself (irc: around copy_image; skopeo: the process)
    copy_cpu_seconds: common.Spread  # CPU of the copy itself (irc: process_time around copy_image)
    process_seconds: common.Spread  # the whole process, start to exit
    cpu_seconds: common.Spread  # the whole process, user + system
    peak_rss_mib: common.Spread  # the whole process (ru_maxrss)
    rss_before_mib: common.Spread | None  # irc: resident after imports and session, before the copy
    uploaded: list[int]  # blobs committed per run (registry log)
    mounted: list[int]  # blobs mounted per run (registry log)


@dataclass(frozen=True)
class Step:
    """One irc copy in the benchmark's own process (warm interpreter)."""

    label: str
    seconds: common.Spread
    src_requests: Mapping[str, int]
    dst_requests: Mapping[str, int]
    bytes_sent: int
    copied: int
    mounted: int
    skipped: int
    manifests_written: int
    log: LogCount


@dataclass(frozen=True)
class Control:
    """skopeo run again with the previous run's cache directory: it should mount, not upload."""

    cache_in_use: str
    uploaded: int
    uploaded_bytes: int
    mounted: int


@dataclass(frozen=True)
class Results:
    size_mb: int
    repeat: int
    machine: Mapping[str, str]
    fixture: Fixture
    irc: FullCopies
    skopeo: FullCopies
    control: Control
    steps: list[Step]
    profile: str | None = None


def _mib(kib: float) -> float:
    return kib / 1024


def _check_copy(log: LogCount, fixture: Fixture, who: str) -> None:
    """Every blob really sent: all uploaded, none mounted (not a timing check)."""
    if log.uploaded != set(fixture.blobs) or log.mounted:
        raise RuntimeError(
            f"{who}: the registry saw {len(log.uploaded)} of {len(fixture.blobs)} blobs uploaded and "
            f"{len(log.mounted)} mounted; a full copy must upload every blob"
        )


def full_copies(
    bed: registries.Registries, fixture: Fixture, repeat: int, work: Path
) -> tuple[FullCopies, FullCopies, Control]:
    source, backup = bed["source"], bed["backup"]
    log = AccessLog(bed.dir / "logs" / "registry-backup.log")
    irc_runs: list[tuple[Measured, dict[str, Any], LogCount]] = []
    skopeo_runs: list[tuple[Measured, LogCount]] = []
    for i in range(1, repeat + 1):
        repo = f"bench/irc-{i}"
        common.progress(f"irc copy_image {IMAGE}:{TAG} → {repo} ({i}/{repeat})")
        mark = log.mark()
        measured = run_measured(irc_child_argv(source.host, backup.host, repo), os.environ)
        child = json.loads([line for line in measured.stdout.splitlines() if line.startswith("{")][-1])
        seen = log.since(mark, repo)
        _check_copy(seen, fixture, f"irc run {i}")
        irc_runs.append((measured, child, seen))

        repo, home = f"bench/skopeo-{i}", work / f"skopeo-home-{i}"
        common.progress(f"skopeo copy {IMAGE}:{TAG} → {repo} ({i}/{repeat}), blob-info cache under {home}")
        mark = log.mark()
        measured = run_measured(skopeo_argv(bed, repo), skopeo_env(home))
        seen = log.since(mark, repo)
        _check_copy(seen, fixture, f"skopeo run {i}")
        if not cache_file(home).exists():
            raise RuntimeError(f"skopeo run {i} did not write its blob-info cache under {home}")
        skopeo_runs.append((measured, seen))

    # The control: the last run's cache again, into another fresh repository. It must mount.
    repo, home = "bench/skopeo-control", work / f"skopeo-home-{repeat}"
    common.progress(f"skopeo control run → {repo}, reusing {home}")
    mark = log.mark()
    measured = run_measured(skopeo_argv(bed, repo, debug=True), skopeo_env(home))
    seen = log.since(mark, repo)
    used = re.search(r"Using blob info cache at (\S+?)\"?$", measured.stderr, re.MULTILINE)
    control = Control(
        used.group(1) if used else "(not reported)",
        len(seen.uploaded),
        sum(fixture.blobs[d] for d in seen.uploaded),
        len(seen.mounted),
    )
    if not control.mounted or not control.cache_in_use.startswith(str(home)):
        raise RuntimeError(f"skopeo control run: {control}; the cache under {home} was not the one in use")

    irc = FullCopies(
        "irc",
        common.Spread.of([c["seconds"] for _, c, _ in irc_runs]),
        common.Spread.of([c["cpu_seconds"] for _, c, _ in irc_runs]),
        common.Spread.of([m.wall for m, _, _ in irc_runs]),
        common.Spread.of([m.cpu for m, _, _ in irc_runs]),
        common.Spread.of([_mib(m.max_rss_kib) for m, _, _ in irc_runs]),
        common.Spread.of([_mib(c["rss_before_kib"]) for _, c, _ in irc_runs]),
        [len(s.uploaded) for _, _, s in irc_runs],
        [len(s.mounted) for _, _, s in irc_runs],
    )
    skopeo = FullCopies(
        "skopeo",
        common.Spread.of([m.wall for m, _ in skopeo_runs]),
        common.Spread.of([m.cpu for m, _ in skopeo_runs]),
        common.Spread.of([m.wall for m, _ in skopeo_runs]),
        common.Spread.of([m.cpu for m, _ in skopeo_runs]),
        common.Spread.of([_mib(m.max_rss_kib) for m, _ in skopeo_runs]),
        None,
        [len(s.uploaded) for _, s in skopeo_runs],
        [len(s.mounted) for _, s in skopeo_runs],
    )
    return irc, skopeo, control


def skopeo_argv(bed: registries.Registries, dst_repo: str, debug: bool = False) -> list[str]:
    source, backup = bed["source"], bed["backup"]
    argv = ["skopeo", *(["--debug"] if debug else []), "copy", "--quiet", "--all", "--preserve-digests"]
    argv += [*source.skopeo_flags("src"), *backup.skopeo_flags("dest")]
    return [*argv, f"docker://{source.host}/{IMAGE}:{TAG}", f"docker://{backup.host}/{dst_repo}:{TAG}"]


async def warm_steps(bed: registries.Registries, repeat: int) -> list[Step]:
    """The full copy, re-copies, and the derived image with and without the blob-location cache, in
    this process with one session (fresh clients per copy, as the operator makes per reconcile)."""
    source, backup = bed["source"].host, bed["backup"].host
    log = AccessLog(bed.dir / "logs" / "registry-backup.log")
    cache = BlobLocationCache()
    steps: list[Step] = []

    async with aiohttp.ClientSession() as session:

        async def step(
            label: str, src_repo: str, dst_repo: str, cache: BlobLocationCache | None, n: int
        ) -> None:
            common.progress(f"irc (in process): {label}")
            seconds = []
            for _ in range(n):
                mark = log.mark()
                took, result, src, dst = await irc_copy(session, source, src_repo, backup, dst_repo, cache)
                seconds.append(took)
                seen = log.since(mark, dst_repo)
            steps.append(
                Step(
                    label,
                    common.Spread.of(seconds),
                    dict(src.stats.requests),
                    dict(dst.stats.requests),
                    dst.stats.blob_bytes_written,
                    result.blobs_copied,
                    result.blobs_mounted,
                    result.blobs_skipped,
                    result.manifests_written,
                    seen,
                )
            )

        await step("full copy into a fresh repository (fills the cache)", IMAGE, "bench/warm/base", cache, 1)
        await step("re-copy into the same repository", IMAGE, "bench/warm/base", cache, repeat)
        await step("derived image, with that BlobLocationCache", DERIVED, "bench/warm/derived", cache, 1)
        await step("derived image, no BlobLocationCache", DERIVED, "bench/warm/derived-nocache", None, 1)
    return steps


def profile_once(bed: registries.Registries, work: Path, lines: int = 25) -> str:
    """One more irc child copy under cProfile; the top functions by own time."""
    out = work / "irc.prof"
    common.progress("irc copy_image under cProfile")
    run_measured(
        irc_child_argv(bed["source"].host, bed["backup"].host, "bench/irc-profiled", out), os.environ
    )
    text = io.StringIO()
    pstats.Stats(str(out), stream=text).strip_dirs().sort_stats("tottime").print_stats(lines)
    return text.getvalue()


def tool_versions() -> dict[str, str]:
    skopeo = subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=True).stdout
    registry = subprocess.run(
        [registries.REGISTRY_BINARY, "--version"], capture_output=True, text=True, check=True
    ).stdout
    return {"skopeo": skopeo.strip().removeprefix("skopeo version "), "registry": registry.split()[-1]}


@contextlib.contextmanager
def registries_and_scratch() -> Iterator[tuple[registries.Registries, Path]]:
    """The registries and a scratch directory, both gone on exit."""
    with tempfile.TemporaryDirectory(prefix="irc-bench-image-copy-") as tmp:
        bed = registries.start(Path(tmp) / "registries")
        try:
            yield bed, Path(tmp)
        finally:
            bed.stop()


def measure(size_mb: int = 50, repeat: int = 3, profile: bool = False) -> Results:
    if shutil.which("skopeo") is None:
        raise FileNotFoundError("skopeo not found; run hack/install-packages.sh")
    machine = {k: v for k, v in common.machine("").items() if k != "kube-apiserver"}
    machine.update(tool_versions())
    base, derived = fixture_specs(size_mb)
    with registries_and_scratch() as (bed, work):
        common.progress(f"building and pushing {IMAGE}:{TAG} and {DERIVED}:{TAG} ({size_mb} MB each)")
        push_fixture(base, bed["source"], work / "fixture-base", IMAGE)
        push_fixture(derived, bed["source"], work / "fixture-derived", DERIVED)
        digest, blobs = asyncio.run(image_blobs(bed["source"].host, IMAGE, TAG))
        derived_digest, derived_blobs = asyncio.run(image_blobs(bed["source"].host, DERIVED, TAG))
        fixture = Fixture(digest, blobs, derived_digest, derived_blobs)
        if len(fixture.shared) != 2 * len(PLATFORMS):
            raise RuntimeError(
                f"the derived image shares {len(fixture.shared)} blobs, not {2 * len(PLATFORMS)}"
            )

        irc, skopeo, control = full_copies(bed, fixture, repeat, work)
        steps = asyncio.run(warm_steps(bed, repeat))
        profiled = profile_once(bed, work) if profile else None

        copies = [f"bench/irc-{i}" for i in range(1, repeat + 1)]
        copies += [f"bench/skopeo-{i}" for i in range(1, repeat + 1)] + ["bench/warm/base"]
        served = asyncio.run(served_digests(bed["backup"].host, copies))
        served_derived = asyncio.run(
            served_digests(bed["backup"].host, ["bench/warm/derived", "bench/warm/derived-nocache"])
        )
        wrong = {r: d for r, d in served.items() if d != fixture.digest}
        wrong |= {r: d for r, d in served_derived.items() if d != fixture.derived_digest}
        if wrong:
            raise RuntimeError(f"copies not byte-exact (repository → digest served): {wrong}")
    return Results(size_mb, repeat, machine, fixture, irc, skopeo, control, steps, profiled)


# ---- the Markdown section


def _requests(counts: Mapping[str, int]) -> str:
    order = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
    return ", ".join(f"{m} {counts[m]}" for m in order if counts.get(m)) or "none"


def _per_run(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))


def section(r: Results, with_machine: bool = True) -> str:
    """The Markdown section; `with_machine=False` leaves out the machine line (for a document that
    describes the machine once)."""
    f = r.fixture
    mb = f.bytes / 1e6
    shared_mb = sum(f.blobs[d] for d in f.shared) / 1e6
    machine = "; ".join(f"{k}: {v}" for k, v in r.machine.items())
    irc, sk = r.irc, r.skopeo
    rows = []
    for runs, label in (
        (irc, "irc `copy_image` (fresh child process)"),
        (sk, "`skopeo copy --all --preserve-digests`"),
    ):
        rows.append(
            [
                label,
                runs.copy_seconds.format(2, " s"),
                f"{mb / runs.copy_seconds.median:,.1f}",
                runs.copy_cpu_seconds.format(2, " s"),
                runs.process_seconds.format(2, " s"),
                runs.cpu_seconds.format(2, " s"),
                runs.peak_rss_mib.format(0, " MiB"),
                runs.rss_before_mib.format(0, " MiB") if runs.rss_before_mib else "—",
                f"{_per_run(runs.uploaded)} / {_per_run(runs.mounted)}",
            ]
        )
    headers = [
        "tool",
        "copy wall time",
        "MB/s",
        "copy CPU",
        "process wall time",
        "process CPU",
        "peak RSS",
        "RSS before the copy",
        "blobs uploaded / mounted per run",
    ]
    ratio = irc.copy_seconds.median / sk.copy_seconds.median
    ratio_process = irc.process_seconds.median / sk.process_seconds.median
    before = irc.rss_before_mib.median if irc.rss_before_mib else 0.0
    added = irc.peak_rss_mib.median - before
    step_rows = [
        [
            s.label,
            s.seconds.format(3, " s"),
            _requests(s.src_requests),
            _requests(s.dst_requests),
            f"{s.bytes_sent:,}",
            str(s.copied),
            str(s.mounted),
            str(s.skipped),
            str(s.manifests_written),
            f"{len(s.log.uploaded)} / {len(s.log.mounted)}",
        ]
        for s in r.steps
    ]
    step_headers = [
        "irc copy (warm process)",
        "wall time",
        "requests to source",
        "requests to backup",
        "blob bytes sent",
        "uploaded",
        "mounted",
        "skipped",
        "manifests written",
        "registry log: uploaded / mounted",
    ]
    parts = [
        "## Image copy",
        "",
        *([f"Machine: {machine}.", ""] if with_machine else []),
        f"Image `{IMAGE}:{TAG}`: an OCI index of {len(PLATFORMS)} platforms ({', '.join(PLATFORMS)}), "
        f"each 3 gzip layers (incompressible data) and a config; {len(f.blobs)} blobs, {mb:.1f} MB in all. "
        f"It goes from the test bed's `source` registry to `backup` (both docker-registry "
        f"{r.machine['registry']}, anonymous plain HTTP on 127.0.0.1, on this machine), each run into a "
        f"fresh repository, so every blob is sent (the backup registry's access log confirmed it for every "
        f"run: {len(f.blobs)} blobs uploaded, none mounted; every copy served the source digest). "
        f"Median of {r.repeat} runs, range in brackets; irc and skopeo runs alternate.",
        "",
        common.table(headers, rows),
        "",
        f"**irc / skopeo wall time: {ratio:.2f}{TIMES}** (below 1: irc faster; irc's copy alone vs "
        "the whole skopeo process); "
        f"counting the Python interpreter's start-up and imports: {ratio_process:.2f}{TIMES}. "
        f"Peak RSS irc / skopeo: {irc.peak_rss_mib.median / sk.peak_rss_mib.median:.2f}{TIMES}; "
        f"irc's copy itself added {added:.0f} MiB to the {before:.0f} MiB its process held before it.",
        "",
        f"**Against the goals** (issue 14): the copier's process at most 50 MiB after its imports: "
        f"{before:.0f} MiB ({common.verdict(before, 50)}); its copy no slower than skopeo's: "
        f"{ratio:.2f}{TIMES} ({common.verdict(ratio, 1.0)}).",
        "",
        "- *copy wall time* / *copy CPU*: irc, around `copy_image` inside the child (`perf_counter`, "
        "`process_time`; with a progress callback keeping the latest report, as the operator does; "
        "default `layer_concurrency=4`); skopeo, the whole process. *MB/s* is the image's blob bytes over "
        "that time. *Process* columns are the whole child process: wall time from the benchmark's side, "
        "CPU (user + system) and peak RSS (max resident set, interpreter and libraries included) from GNU "
        "`time` wrapped around it. Not `wait4` on the benchmark's own child: Python spawns with vfork and "
        "Linux carries the old memory map's high-water mark into `ru_maxrss` at exec, so every child "
        "reported the benchmark's own peak. *RSS before the copy* is irc's resident set after imports and "
        "session creation (after `gc.collect()`); peak minus it is what the copy added.",
        "- skopeo's blob-info cache: run as root, containers/image ignores `HOME`/`XDG_*` and always uses "
        "`/var/lib/containers/cache`; each timed run got `_CONTAINERS_ROOTLESS_UID="
        f"{ROOTLESS_UID}` with `HOME` and `XDG_DATA_HOME` in a fresh empty directory, which moves the cache "
        "there (the file appeared there after every run). A control run reusing the last run's directory "
        f"into another fresh repository mounted {r.control.mounted} blobs and uploaded {r.control.uploaded} "
        f"({r.control.uploaded_bytes:,} bytes; `--debug`: cache at `{r.control.cache_in_use}`), so the "
        "cache was live and each timed run started empty.",
        f"- Concurrency differs: irc transfers up to 4 blobs at a time across both platforms; skopeo "
        f"{r.machine['skopeo']} copies the index's images one after the other (layers of one image in "
        "parallel). skopeo first tries HTTPS and falls back to HTTP (`--*-tls-verify=false`); irc is told "
        "plain HTTP.",
        "",
        f"Re-copies and shared layers: irc in the benchmark's own process (one aiohttp session, fresh "
        f"`RegistryClient`s per copy so *requests* are that copy's, counted by `RegistryClient.stats`; "
        f"re-copy: median of {r.repeat}, requests of the last). The derived image `{DERIVED}:{TAG}` shares "
        f"{len(f.shared)} of its {len(f.derived_blobs)} blobs ({shared_mb:.1f} MB: the two lower layers of "
        f"each platform) with the first and goes to another repository of the same `backup`. With the "
        "`BlobLocationCache` the operator keeps (filled by the first full copy) the shared blobs are "
        "mounted; without one, `copy_image` has no mount source (the source is another registry) and "
        "uploads them.",
        "",
        common.table(step_headers, step_rows),
    ]
    if r.profile:
        parts += ["", "cProfile of one more irc copy (child process, top functions by own time):", "", "```"]
        parts += [r.profile.strip(), "```"]
    return "\n".join(parts)


def run(args: argparse.Namespace) -> str:
    """For the benchmark runner: `args.size_mb`, `args.repeat`, `args.profile` where present."""
    return section(
        measure(
            int(getattr(args, "size_mb", 50)),
            int(getattr(args, "repeat", 3)),
            bool(getattr(args, "profile", False)),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb", type=int, default=50, help="layer bytes over both platforms (default 50)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="copies per tool (default 3)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one more irc copy")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--backup", help=argparse.SUPPRESS)
    parser.add_argument("--dst-repo", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    print(run(args))


if __name__ == "__main__":
    main()
