"""The layering of docs/architecture.md, checked: irc.runtime imports nothing else of irc; nothing
imports the CLI; reconcilers do not import each other; the public API is explicit and sorted."""

from __future__ import annotations

import ast
from pathlib import Path

import irc.runtime

ROOT = Path(__file__).resolve().parent.parent / "irc"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "irc" or name.startswith("irc.")}


def test_runtime_imports_only_itself() -> None:
    for path in (ROOT / "runtime").glob("*.py"):
        outside = {m for m in imports(path) if not m.startswith("irc.runtime")}
        assert not outside, f"{path.name} imports {outside}"


def test_nothing_imports_the_cli() -> None:
    for path in ROOT.rglob("*.py"):
        if path.name not in ("cli.py", "__main__.py"):
            assert "irc.cli" not in imports(path), path


def test_reconcilers_are_independent() -> None:
    shared = ("__init__.py", "settings.py")  # the controller table and the flags every reconciler reads
    modules = [p for p in (ROOT / "reconcilers").glob("*.py") if p.name not in shared]
    for path in modules:
        siblings = {f"irc.reconcilers.{p.stem}" for p in modules if p != path}
        assert not imports(path) & siblings, path


def test_public_api_is_sorted_and_complete() -> None:
    assert irc.runtime.__all__ == sorted(irc.runtime.__all__)
    assert all(hasattr(irc.runtime, name) for name in irc.runtime.__all__)
    public = {
        n
        for n in vars(irc.runtime)
        if not n.startswith("_") and not isinstance(getattr(irc.runtime, n), type(irc.runtime))
    }
    assert public == set(irc.runtime.__all__)
