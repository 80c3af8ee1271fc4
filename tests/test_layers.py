"""The layering of docs/architecture.md, checked on the source (lazy and TYPE_CHECKING imports
count): irc.runtime imports nothing else of irc; irc.images does not import irc.ecr, and irc.tags
neither of them; nothing imports the CLI; reconcilers do not import each other; the public API is
explicit and sorted."""

from __future__ import annotations

import ast
from pathlib import Path

import irc.runtime

ROOT = Path(__file__).resolve().parent.parent / "irc"


def imports(path: Path) -> set[str]:
    """The irc modules `path` imports anywhere in its source, relative imports resolved."""
    package = path.relative_to(ROOT.parent).parts[:-1]  # where `from .` starts, for __init__ too
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            found.add(module)
            if node.module is None:  # `from . import credentials`: submodules (or names) of base
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "irc" or name.startswith("irc.")}


def test_imports_resolve_relative_imports() -> None:
    assert "irc.ecr.credentials" in imports(ROOT / "ecr" / "__init__.py")  # `from .credentials import`
    assert "irc.runtime.clock" in imports(ROOT / "runtime" / "workqueue.py")


def test_runtime_imports_only_itself() -> None:
    for path in (ROOT / "runtime").glob("*.py"):
        outside = {m for m in imports(path) if not m.startswith("irc.runtime")}
        assert not outside, f"{path.name} imports {outside}"


# A package must not import these: irc.images (registries) knows nothing of AWS, and ECR tokens reach
# it as a CredentialProvider from irc.ecr.tokens; irc.tags (tag policies) is pure and beneath both.
FORBIDDEN = {
    "images": ("irc.ecr",),
    "tags": ("irc.ecr", "irc.images"),
}


def test_lower_packages_do_not_import_higher_ones() -> None:
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            wrong = sorted(
                m for m in imports(path) if any(m == f or m.startswith(f"{f}.") for f in forbidden)
            )
            assert not wrong, f"irc/{path.relative_to(ROOT)} imports {wrong}"


def test_nothing_imports_the_cli() -> None:
    for path in ROOT.rglob("*.py"):
        if path.name not in ("cli.py", "__main__.py"):
            assert "irc.cli" not in imports(path), path


def test_reconcilers_are_independent() -> None:
    # the controller table, the flags every reconciler reads, the pull-access check, and claims
    shared = ("__init__.py", "settings.py", "access.py", "claim.py")
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
