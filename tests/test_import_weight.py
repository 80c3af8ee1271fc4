"""Import weight (docs/performance.md, "Import weight"): the light entry points stay light.

Each check runs in a fresh interpreter (this one has imported everything by now) and asserts which
packages end up in sys.modules, never how long anything takes. The lazy package `__init__`s behind
this (irc.runtime, irc.ecr) must keep their public names: that is checked here too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import irc.ecr
import irc.ecr.credentials
import irc.ecr.scan
import irc.runtime

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_AND_AWS = ("kubernetes_asyncio", "aiobotocore", "botocore")
SERVER_SIDE = ("aiohttp", "prometheus_client", "structlog")

# What `python -m irc --version` runs (runpy is how -m runs a package), minus its exit.
RUN_VERSION = """
import runpy, sys
sys.argv = ["irc", "--version"]
try:
    runpy.run_module("irc", run_name="__main__", alter_sys=True)
except SystemExit as e:
    assert e.code == 0, e.code
"""


def loaded_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after `code` ran in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.partition('.')[0] for m in sys.modules}})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import irc.images", CLUSTER_AND_AWS + SERVER_SIDE),
        # the copier needs aiohttp and nothing of the cluster, AWS or the manager
        ("from irc.images.copy import copy_image", (*CLUSTER_AND_AWS, "prometheus_client", "structlog")),
        ("import irc.tags", CLUSTER_AND_AWS + SERVER_SIDE),
        (RUN_VERSION, CLUSTER_AND_AWS + SERVER_SIDE),
        ("import irc.runtime", CLUSTER_AND_AWS + SERVER_SIDE),
        ("import irc.runtime.errors, irc.runtime.clock, irc.runtime.rbac", CLUSTER_AND_AWS + SERVER_SIDE),
        ("import irc.ecr", ("kubernetes_asyncio", "aiobotocore", *SERVER_SIDE)),
        # kubernetes-asyncio only once a KubeTransport connects (irc/runtime/transport.py)
        ("from irc.runtime import Manager", CLUSTER_AND_AWS),
    ],
    ids=[
        "irc.images",
        "the copier",
        "irc.tags",
        "irc --version",
        "irc.runtime",
        "runtime leaves",
        "irc.ecr",
        "Manager",
    ],
)
def test_stays_light(code: str, absent: tuple[str, ...]) -> None:
    assert loaded_after(code) & set(absent) == set()


def test_the_probe_sees_what_is_loaded() -> None:
    """Without this, a probe that saw nothing would pass every case above."""
    assert {"aiobotocore", "botocore"} <= loaded_after("from irc.ecr import AwsClients")


def test_version_prints_the_version() -> None:
    out = subprocess.run([sys.executable, "-c", RUN_VERSION], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"irc {irc.__version__}"


def test_lazy_runtime_table_matches_its_typed_imports_and_all() -> None:
    """irc/runtime/__init__.py lists each name three times: imported under TYPE_CHECKING (for mypy),
    in the lazy table (for `__getattr__`) and in `__all__`. They must agree."""
    tree = ast.parse((ROOT / "irc" / "runtime" / "__init__.py").read_text())
    typed = {
        (node.module.removeprefix("irc.runtime."), alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("irc.runtime.")
        for alias in node.names
    }
    table = {(module, name) for module, names in irc.runtime._EXPORTS.items() for name in names}
    assert typed == table
    assert sorted(name for _, name in table) == sorted(irc.runtime.__all__)
    # A submodule of the same name as an export would replace it in the package once imported.
    submodules = {p.stem for p in (ROOT / "irc" / "runtime").iterdir()}
    assert set(irc.runtime.__all__) & submodules == set()


def test_lazy_ecr_names_resolve_and_win_over_submodules() -> None:
    # irc.ecr.scan and irc.ecr.credentials are imported above: `scan` must still be the function.
    for name in irc.ecr.__all__:
        assert not isinstance(getattr(irc.ecr, name), ModuleType), name
    assert irc.ecr.AwsClients is irc.ecr.credentials.AwsClients
    assert vars(irc.ecr)["scan"] is vars(sys.modules["irc.ecr.scan"])["scan"]
