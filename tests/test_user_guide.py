"""docs/user-guide.md lists every `irc manager` flag, and every manager flag it names exists."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from irc.cli import build_parser

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "user-guide.md"


def manager_flags() -> set[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    manager = commands.choices["manager"]
    return {o for a in manager._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def test_every_manager_flag_is_in_the_user_guide() -> None:
    text = GUIDE.read_text()
    missing = sorted(f for f in manager_flags() if f"`{f}" not in text)
    assert not missing, f"add to docs/user-guide.md: {missing}"


def test_every_flag_the_user_guide_names_exists() -> None:
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)", GUIDE.read_text()))
    assert named and not named - manager_flags(), named - manager_flags()
