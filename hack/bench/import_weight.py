"""Benchmark: what importing irc's packages and starting the `irc` command cost (issue 10, item 5).

Every figure is a fresh process run from the repository: `python -c "<import>"`, or the console
script `irc` (next to this interpreter) with its arguments. After one warm-up run of every command
(bytecode compiled, page cache filled), each of `--repeat` rounds runs every command twice: once
timed by this process's `perf_counter` (wall time, interpreter start-up included) and once under
GNU time (`/usr/bin/time -f %M`: peak RSS). Peak RSS is not read with `wait4` here: the kernel
copies the parent's high-water mark into a child's `ru_maxrss` at exec, so every child would report
at least this process's peak; GNU time, a small C program, is the parent instead. One more run per
command records `sys.modules` at exit (an atexit hook from a `sitecustomize` on `PYTHONPATH`), and
three runs with `PYTHONPROFILEIMPORTTIME=1` (`-X importtime`) say where the time goes and which
module imported each heavy package. Run alone:

    .venv/bin/python -m hack.bench.import_weight [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hack.bench import common

GNU_TIME = "/usr/bin/time"
SCRIPT = Path(sys.executable).parent / "irc"  # the console script of this environment
IMPORTTIME_RUNS = 3
# The runtime dependencies (pyproject.toml) by import name, and aiohttp (kubernetes-asyncio's and
# aiobotocore's, which irc uses directly), in the order a reader would weigh them.
HEAVY = (
    "kubernetes_asyncio",
    "aiobotocore",
    "botocore",
    "aiohttp",
    "dulwich",
    "jinja2",
    "prometheus_client",
    "structlog",
    "tenacity",
    "yaml",
    "urllib3",
    "packaging",
)
DISTRIBUTIONS = {"yaml": "PyYAML", "jinja2": "Jinja2"}  # import name → distribution, where they differ

# Why an irc module (or any module under it) imports a heavy package, for the explanation under the
# table; the longest matching module wins. Pairs not listed are still shown, with the import chain
# the measurement found.
REASONS: dict[tuple[str, str], str] = {
    ("yaml", "irc.cli"): "cli.py imports PyYAML at the top: `crds`, `rbac` and `scan` read and write YAML",
    ("botocore", "irc.ecr.select"): (
        "irc.ecr.select validates region names with `botocore.utils.validate_region_name`, so even "
        "parsing a policy needs it"
    ),
    ("botocore", "irc.ecr.scan"): "irc.ecr.scan classifies `botocore.exceptions`",
    ("urllib3", "irc.ecr"): "botocore's own dependency",
    ("aiobotocore", "irc.ecr.credentials"): "AWS credentials and ECR tokens",
    ("aiohttp", "irc.runtime"): "the API client, and the manager's metrics and health servers",
    ("aiohttp", "irc.images"): "the registry client",
    ("tenacity", "irc.images.errors"): "the registry client's retry policy",
    ("prometheus_client", "irc.runtime"): "the runtime's metrics",
    ("prometheus_client", "irc.reconcilers"): "each reconciler's metrics",
    ("structlog", "irc.runtime"): "the runtime's logging",
    ("dulwich", "irc.gitops"): "the creation controller's Git client",
    ("jinja2", "irc.templating"): "the creation controller's templates",
}

# What a command loads as a whole, and why, where one sentence says it better than the chains.
NOTES: dict[str, str] = {
    "`irc crds`": (
        "every command but `--version` builds the parser, whose `--ecr-concurrency` default reads "
        "`irc.ecr.scan.DEFAULT_CONCURRENCY`, so botocore"
    ),
    "`irc rbac`": (
        "the rules are each reconciler module's `RULES`, and irc.reconcilers imports every "
        "reconciler with its dependencies; only kubernetes-asyncio stays out"
    ),
}


def reason(package: str, module: str | None) -> str | None:
    if module is None:
        return None
    matches = [
        (len(key), text)
        for (pkg, key), text in REASONS.items()
        if pkg == package and (module == key or module.startswith(key + "."))
    ]
    return max(matches)[1] if matches else None


@dataclass(frozen=True)
class Command:
    label: str  # as the table shows it
    code: str | None = None  # python -c CODE
    script_args: tuple[str, ...] = ()  # or: the irc console script with these arguments

    def argv(self) -> list[str]:
        if self.code is not None:
            return [sys.executable, "-c", self.code]
        return [str(SCRIPT), *self.script_args]


def _python(code: str) -> Command:
    return Command(f"`{code}`", code=code)


def _irc(*args: str) -> Command:
    return Command(f"`irc {' '.join(args)}`", script_args=args)


FLOOR = Command("`python -c pass` (the interpreter alone)", code="pass")
COMMANDS = (
    FLOOR,
    _python("import irc"),
    _python("import irc.images"),
    _python("from irc.images.copy import copy_image"),  # the copier: aiohttp on top
    _python("import irc.tags"),
    _python("import irc.runtime"),
    _python("import irc.ecr"),
    _python("from irc.runtime import Manager"),
    _irc("--version"),
    _irc("crds"),
    _irc("rbac"),
)

# Records the modules loaded when the process ends. atexit is imported for the hook and dropped from
# sys.modules again unless it was there already, so the count is the command's own (the callback
# stays registered: the interpreter keeps it, not the module).
SITECUSTOMIZE = """\
import os as _os
import sys as _sys

_out = _os.environ.get("IRC_BENCH_MODULES")
if _out:
    _had_atexit = "atexit" in _sys.modules
    import atexit as _atexit

    def _write_modules():
        names = sorted(set(_sys.modules) - {"sitecustomize"})
        with open(_out, "w") as f:
            f.write("\\n".join(names))

    _atexit.register(_write_modules)
    if not _had_atexit:
        del _sys.modules["atexit"]
"""


@dataclass
class CommandResult:
    command: Command
    wall: list[float] = field(default_factory=list)  # seconds
    rss_kib: list[int] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    importtime: list[dict[str, float]] = field(default_factory=list)  # per run: bucket → ms (self)
    importers: dict[str, list[str]] = field(default_factory=dict)  # heavy package → import chain

    @property
    def heavy(self) -> list[str]:
        top = {m.partition(".")[0] for m in self.modules}
        return [h for h in HEAVY if h in top]


@dataclass(frozen=True)
class Results:
    commands: list[CommandResult]
    repeat: int
    versions: dict[str, str]
    machine: dict[str, str]
    load_end: str
    seconds: float


def _run(argv: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, cwd=common.REPO, capture_output=True, text=True, timeout=300, env=env and {**os.environ, **env}
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done


def _wall(command: Command) -> float:
    start = time.perf_counter()
    _run(command.argv())
    return time.perf_counter() - start


def _peak_rss_kib(command: Command, scratch: Path) -> int:
    out = scratch / "time.out"
    _run([GNU_TIME, "-f", "%M", "-o", str(out), *command.argv()])
    return int(out.read_text().split()[-1])


def _modules(command: Command, scratch: Path) -> list[str]:
    hook = scratch / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = scratch / "modules.txt"
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    _run(command.argv(), env={"PYTHONPATH": path, "IRC_BENCH_MODULES": str(out)})
    return out.read_text().split()


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")


def _importtime(command: Command) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Self time in ms by bucket (irc, each heavy package, `other`), and for each heavy package the
    chain of modules that imported it, innermost first, up to the first irc module."""
    stderr = _run(command.argv(), env={"PYTHONPROFILEIMPORTTIME": "1"}).stderr
    lines = []
    for line in stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            lines.append((int(m.group(1)), len(m.group(3)), m.group(4)))
    buckets: dict[str, float] = {}
    for self_us, _, name in lines:
        top = name.partition(".")[0]
        bucket = top if top == "irc" or top in HEAVY else "other"
        buckets[bucket] = buckets.get(bucket, 0.0) + self_us / 1000
    # A module's line comes after those of the modules it imported, indented one step less: the
    # importer of line i is the first later line with less indentation.
    chains: dict[str, list[str]] = {}
    for i, (_, depth, name) in enumerate(lines):
        top = name.partition(".")[0]
        if top not in HEAVY or top in chains:
            continue
        chain, level = [], depth
        for _, d, importer in lines[i + 1 :]:
            if d < level:
                level = d
                if importer.partition(".")[0] != top:
                    chain.append(importer)
                if importer.startswith("irc.") or importer == "irc":
                    break
        chains[top] = chain
    return buckets, chains


def measure(repeat: int = 5) -> Results:
    if not SCRIPT.exists():
        raise FileNotFoundError(f"{SCRIPT} is missing: pip install -e . into this environment")
    if shutil.which(GNU_TIME) is None:
        raise FileNotFoundError(f"{GNU_TIME} (GNU time) is missing")
    started = time.perf_counter()
    machine = common.machine(_kube_version())
    results = [CommandResult(c) for c in COMMANDS]
    with tempfile.TemporaryDirectory(prefix="irc-bench-import-") as tmp:
        scratch = Path(tmp)
        common.progress(f"import weight: warm-up, modules and importtime of {len(COMMANDS)} commands")
        for r in results:
            _wall(r.command)  # warm-up
            r.modules = _modules(r.command, scratch)
            for _ in range(IMPORTTIME_RUNS):
                buckets, chains = _importtime(r.command)
                r.importtime.append(buckets)
                r.importers = r.importers or chains
        for round_ in range(repeat):
            common.progress(f"import weight: round {round_ + 1} of {repeat}")
            for r in results:
                r.wall.append(_wall(r.command))
                r.rss_kib.append(_peak_rss_kib(r.command, scratch))
    versions = {}
    for name in HEAVY:
        try:
            versions[name] = importlib.metadata.version(DISTRIBUTIONS.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return Results(results, repeat, versions, machine, common.load_average(), time.perf_counter() - started)


def _kube_version() -> str:
    """The machine table's kube-apiserver row: none runs here, so the test bed's pinned version."""
    from hack.testbed.binaries import versions

    return f"{versions()['K8S_VERSION']} (none started)"


# ---- the Markdown section


def _ms(values: Sequence[float]) -> str:
    return common.Spread.of([v * 1000 for v in values]).format(0, " ms")


def _mib(values: Sequence[int]) -> str:
    return f"{statistics.median(values) / 1024:.1f} MiB"


def _chain(r: CommandResult, package: str) -> str:
    chain = r.importers.get(package, [])
    tops: list[str] = []
    for name in chain:  # packages between the heavy one and irc, once each; then the irc module
        top = name.partition(".")[0]
        shown = name if top == "irc" else top
        if shown not in tops:
            tops.append(shown)
    return " ← ".join([package, *tops])


def _why(r: CommandResult) -> str:
    parts = []
    for package in r.heavy:
        chain = r.importers.get(package, [])
        irc_module = next((m for m in chain if m == "irc" or m.startswith("irc.")), None)
        known = reason(package, irc_module)
        parts.append(f"{_chain(r, package)}" + (f" ({known})" if known else ""))
    note = NOTES.get(r.command.label)
    return (f"{note}. " if note else "") + "; ".join(parts)


def _text_last(table: str) -> str:
    """The table with its last column (words, not figures) left-aligned."""
    lines = table.split("\n")
    lines[1] = lines[1].removesuffix("---: |") + ":--- |"
    return "\n".join(lines)


LIGHT = """What keeps the light entry points light (issue 10, item 5):

- **`irc/runtime/__init__.py` is lazy** (PEP 562 `__getattr__`): each name of `__all__` is imported
  from its submodule on first access and then kept in the package, so `from irc.runtime import
  Manager` and `irc.runtime.X` work as before, and `irc.runtime.errors` or `.clock` (used by
  irc.ecr, irc.images.auth and the CLI) no longer cost the whole runtime. mypy reads the same names
  as imports under `TYPE_CHECKING`, so a misspelt name is still a type error.
- **`irc/runtime/transport.py` imports kubernetes-asyncio in `KubeTransport.from_config`**, the only
  code that uses it (kubeconfig and in-cluster configuration): building a manager, the
  `MockTransport` tests and `irc rbac` never load it; `irc manager` loads it when it connects.
- **`irc/ecr/__init__.py` loads `AwsClients` and `AwsCredentials` on first access**: only
  `credentials` needs aiobotocore (and aiohttp under it). `match`, `scan` and `select` stay eager:
  they need botocore alone, and the function `scan` must shadow the submodule of the same name.
- **`irc/cli.py` imports what a command needs inside it** (the reconcilers, the manager, irc.ecr,
  irc.images.auth), and `main` answers `--version` as the first argument before building the
  parser, whose `--ecr-concurrency` default reads `irc.ecr.scan.DEFAULT_CONCURRENCY` (botocore).
- tests/test_import_weight.py asserts (in fresh interpreters, never a timing) that `import
  irc.images`, `import irc.tags`, `python -m irc --version`, `import irc.runtime` and `import
  irc.ecr` leave kubernetes_asyncio, aiobotocore and botocore (and, except `irc.ecr`'s botocore,
  aiohttp, prometheus_client and structlog) out of `sys.modules`.

Before the `__init__`s became lazy (a one-off measurement by hand on 2026-12-03, same method):
`irc --version` took 952 ms and 87.2 MiB (1,536 modules), `import irc.runtime` 688 ms and 77.2 MiB
(1,339 modules), `import irc.ecr` 915 ms and 84.8 MiB, `irc crds` 931 ms and 87.1 MiB: every one of
them loaded kubernetes_asyncio, aiohttp, prometheus_client, structlog and yaml."""


def section(r: Results, with_machine: bool = True) -> str:
    floor = r.commands[0]
    floor_ms = statistics.median(floor.wall) * 1000
    rows = [
        [
            c.command.label,
            _ms(c.wall),
            _mib(c.rss_kib),
            f"{len(c.modules):,}",
            ", ".join(c.heavy) or "none",
        ]
        for c in r.commands
    ]
    time_rows = []
    for c in r.commands[1:]:
        median = {
            key: statistics.median(run.get(key, 0.0) for run in c.importtime)
            for key in {k for run in c.importtime for k in run}
        }
        heavy = sorted(((k, v) for k, v in median.items() if k in HEAVY), key=lambda kv: -kv[1])
        time_rows.append(
            [
                c.command.label,
                f"{sum(median.values()):.0f} ms",
                f"{median.get('irc', 0.0):.0f} ms",
                f"{median.get('other', 0.0):.0f} ms",
                ", ".join(f"{k} {v:.0f}" for k, v in heavy) or "—",
            ]
        )
    versions = " / ".join(r.versions[k] for k in r.versions)
    why = [f"- {c.command.label}: {_why(c)}." for c in r.commands if c.heavy]
    version_row = next(c for c in r.commands if c.command.script_args == ("--version",))
    return "\n".join(
        [
            "## Import weight",
            "",
            "`hack.bench.import_weight`: what importing irc's packages and starting the `irc` command "
            "cost. Each figure is a fresh process run from the repository (irc installed editable): "
            '`.venv/bin/python -c "<import>"`, or the console script `.venv/bin/irc` with its arguments '
            "(`irc crds` and `irc rbac` write their YAML to a pipe). After one warm-up run of every "
            f"command, each of {r.repeat} rounds runs every command twice: *wall time* is this "
            "process's `perf_counter` around one run, interpreter start-up included (`python -c pass` is "
            "the floor), median with the range in brackets; *peak RSS* is "
            "GNU `time -f %M` around the other (not `wait4` in the parent: the kernel copies the "
            "parent's high-water mark into a child's `ru_maxrss` at exec), median. *Modules* is "
            "`len(sys.modules)` at exit (an atexit hook from a `sitecustomize` put on `PYTHONPATH` "
            "for one more run). *Heavy packages* are those of irc's runtime dependencies (and aiohttp) "
            "among them. Other work shares the CPUs, so wall times are noisy; peak RSS and module "
            f"counts do not depend on load. The benchmark took {r.seconds:.0f} s.",
            "",
            f"Package versions ({' / '.join(r.versions)}): {versions}.",
            "",
            *(
                [f"Machine: {'; '.join(f'{k}: {v}' for k, v in r.machine.items())}.", ""]
                if with_machine
                else []
            ),
            _text_last(common.table(["command", "wall time", "peak RSS", "modules", "heavy packages"], rows)),
            "",
            f"**`irc --version`: {statistics.median(version_row.wall) * 1000:.0f} ms, of which "
            f"{floor_ms:.0f} ms is the interpreter's start-up; peak RSS "
            f"{statistics.median(version_row.rss_kib) / 1024:.1f} MiB.**",
            "",
            "Where the time goes: `PYTHONPROFILEIMPORTTIME=1` (`-X importtime`), self times summed by "
            f"top-level package, median of {IMPORTTIME_RUNS} runs; importtime's own overhead inflates "
            "them, so read them as shares. *Other* is the standard library and the packages' own "
            "dependencies (multidict, yarl, dateutil, …).",
            "",
            _text_last(
                common.table(["command", "all imports", "irc", "other", "heavy packages (ms)"], time_rows)
            ),
            "",
            "What is still imported, and why: each heavy package with the chain of imports that "
            "brought it in (from importtime's nesting: the package ← the packages between ← the irc "
            "module that imported it), and the reason where it is known:",
            "",
            *why,
            "",
            LIGHT,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command; 5")
    args = parser.parse_args()
    print(section(measure(args.repeat)))


if __name__ == "__main__":
    main()
