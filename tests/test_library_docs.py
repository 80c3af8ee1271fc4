"""docs/library.md is executable and true: every ```python block runs as is, each in a fresh namespace
with its own imports, and the `test_*` functions it defines pass; each `setup(mgr)` it defines builds
on a manager that has no cluster; every `irc.runtime` name it gives exists, and what it imports from
`irc.runtime` and `irc.runtime.testing` is exported there; and its complete controller is the one
examples/configmap_labeler.py runs (and the e2e suite runs that)."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from irc.runtime import Index
from irc.runtime.testing import RecordingManager

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "library.md"
EXAMPLE = ROOT / "examples" / "configmap_labeler.py"
# What the doc's complete controller and the example file must define alike.
SHARED = ("NAME", "LABEL", "VALUE", "LABELED_BY", "ConfigMapLabeler", "setup")


@dataclass(frozen=True)
class Snippet:
    line: int
    """The doc's line number of the block's first line of code."""
    source: str

    def __str__(self) -> str:
        return f"library.md:{self.line}"


def snippets(markdown: str) -> list[Snippet]:
    return [
        Snippet(markdown.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", markdown, re.DOTALL | re.MULTILINE)
    ]


SNIPPETS = snippets(DOC.read_text())


def load(snippet: Snippet) -> dict[str, Any]:
    """Run the snippet's code in a fresh namespace, as `python snippet.py` would, except that
    `__name__` is not "__main__": a `main()` meant for a real cluster is defined, not run."""
    # Padded to the doc's line numbers, for tracebacks; dont_inherit: no __future__ flag of this module.
    code = compile("\n" * (snippet.line - 1) + snippet.source, str(DOC), "exec", dont_inherit=True)
    namespace: dict[str, Any] = {"__name__": f"library_md_{snippet.line}"}
    exec(code, namespace)
    return namespace


def defined_tests(namespace: dict[str, Any]) -> list[Callable[[], object]]:
    """The `test_*` functions the snippet defines (not imports), for pytest to collect in a user's copy."""
    found: list[Callable[[], object]] = [
        fn
        for name, fn in namespace.items()
        if name.startswith("test_") and inspect.isfunction(fn) and fn.__module__ == namespace["__name__"]
    ]
    for fn in found:
        assert not inspect.signature(fn).parameters, f"{fn.__name__}: the doc's tests take no fixtures"
    return found


def run(snippet: Snippet) -> list[str]:
    """Load the snippet and run its tests (an async one with asyncio.run); the names of the tests run."""
    tests = defined_tests(load(snippet))
    for test in tests:
        outcome = test()
        if inspect.iscoroutine(outcome):
            asyncio.run(outcome)
    return [t.__name__ for t in tests]


def in_a_thread(snippet: Snippet) -> list[str]:
    """`run` in a thread of its own: asyncio.run() there neither meets nor resets the event loop of
    this test session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run, snippet).result()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=str)
def test_the_snippet_runs_and_its_tests_pass(snippet: Snippet) -> None:
    in_a_thread(snippet)


def test_the_doc_has_its_snippets_and_their_tests() -> None:
    """Guards against an extraction that silently finds nothing."""
    assert len(SNIPPETS) >= 3
    names = [test.__name__ for s in SNIPPETS for test in defined_tests(load(s))]
    assert len(names) >= 4 and len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("import irc.runtime\nraise ValueError('boom')\n", ValueError),
        ("def broken(:\n", SyntaxError),
        ("from irc.runtime import NoSuchName\n", ImportError),
        ("def test_fails() -> None:\n    assert 1 == 2\n", AssertionError),
        ("async def test_fails_later() -> None:\n    raise LookupError\n", LookupError),
        ("def test_needs_a_fixture(tmp_path: object) -> None:\n    pass\n", AssertionError),
    ],
)
def test_a_snippet_that_fails_fails_the_suite(source: str, error: type[BaseException]) -> None:
    with pytest.raises(error):
        in_a_thread(Snippet(1, source))


def test_main_is_defined_not_run() -> None:
    namespace = load(Snippet(1, "if __name__ == '__main__':\n    raise SystemExit('ran')\nran = False\n"))
    assert namespace["ran"] is False


# ---- setup(mgr) on a manager without a cluster


@pytest.mark.parametrize("snippet", [s for s in SNIPPETS if "\ndef setup(" in f"\n{s.source}"], ids=str)
def test_setup_builds_a_controller_without_a_cluster(snippet: Snippet) -> None:
    namespace = load(snippet)
    mgr = RecordingManager()
    namespace["setup"](mgr)
    assert list(mgr.controllers) == [namespace["NAME"]]
    assert mgr.indexes == [v for v in namespace.values() if isinstance(v, Index)]  # each one registered


# ---- the names the doc gives


def resolve(dotted: str) -> object:
    """`irc.runtime.x.Y`: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[end:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def dotted_names(markdown: str) -> set[str]:
    """`irc.runtime...` names in the prose's inline code spans."""
    prose = re.sub(r"^```.*?^```$", "", markdown, flags=re.DOTALL | re.MULTILINE)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return {m for span in spans for m in re.findall(r"\birc\.runtime(?:\.[A-Za-z_]\w*)*", span)}


def imported_names(source: str) -> set[tuple[str, str]]:
    """(module, name) of every `from irc.runtime... import name` in a snippet."""
    return {
        (node.module, alias.name)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("irc.runtime")
        for alias in node.names
    }


def test_every_irc_runtime_name_the_doc_gives_exists() -> None:
    names = dotted_names(DOC.read_text())
    assert {"irc.runtime", "irc.runtime.testing", "irc.runtime.logging.configure"} <= names
    for name in sorted(names):
        resolve(name)  # raises if it does not exist


def test_what_the_snippets_import_from_irc_runtime_is_exported() -> None:
    imported = {pair for s in SNIPPETS for pair in imported_names(s.source)}
    assert ("irc.runtime", "ControllerBuilder") in imported and (
        "irc.runtime.testing",
        "FakeClock",
    ) in imported
    for module_name, name in sorted(imported):
        module = importlib.import_module(module_name)
        submodule = isinstance(getattr(module, name, None), ModuleType)
        assert submodule or name in getattr(module, "__all__", ()), f"{module_name}.{name} is not exported"


# ---- the doc's controller is the example's


def definitions(source: str) -> dict[str, str]:
    """The SHARED top-level definitions of a module, as AST dumps (comments and layout aside)."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        else:
            continue
        for name in set(names) & set(SHARED):
            out[name] = ast.dump(node)
    return out


def test_the_docs_controller_is_the_example_the_e2e_suite_runs() -> None:
    [controller] = [s for s in SNIPPETS if "class ConfigMapLabeler" in s.source]
    in_doc, in_example = definitions(controller.source), definitions(EXAMPLE.read_text())
    assert set(in_doc) == set(in_example) == set(SHARED)
    for name in SHARED:
        assert in_doc[name] == in_example[name], f"{name} differs between {controller} and {EXAMPLE.name}"
