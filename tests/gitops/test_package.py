"""irc.gitops as a package: an explicit, sorted public API, and it depends on nothing of irc but
irc.runtime (errors, clock, logging), as docs/architecture.md's layering asks."""

from __future__ import annotations

from pathlib import Path

import irc.gitops
from tests.test_layers import imports

PACKAGE = Path(irc.gitops.__file__).parent


def test_public_api_is_sorted_and_complete() -> None:
    assert irc.gitops.__all__ == sorted(irc.gitops.__all__)
    public = {
        n for n in vars(irc.gitops) if not n.startswith("_") and isinstance(getattr(irc.gitops, n), type)
    }
    assert public == set(irc.gitops.__all__)


def test_gitops_imports_only_itself_and_the_runtime() -> None:
    for path in PACKAGE.glob("*.py"):
        outside = {m for m in imports(path) if not m.startswith(("irc.gitops", "irc.runtime"))}
        assert not outside, f"{path.name} imports {outside}"


def test_every_module_has_a_docstring_and_stays_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert irc.gitops.__doc__ and path.read_text().startswith('"""'), path.name
        assert len(path.read_text().splitlines()) <= 400, path.name
