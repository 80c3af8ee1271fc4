"""docs/user-guide.md lists every `irc manager` flag, each under the heading of its `--help` group, and
every manager flag it names exists: in inline code (a span starting with `--` is a manager flag; other
tools' flags appear only inside whole command lines), in `irc manager` command lines of its code
blocks, and in manager args written as YAML (`- --flag`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from irc.cli import build_parser

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "user-guide.md"
FLAGS_SECTION = "## `irc manager` flags"
GENERAL = "General"
"""The guide's heading for argparse's untitled group ("options" in --help)."""
FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def manager_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    manager: argparse.ArgumentParser = commands.choices["manager"]
    return manager


def _long(action: argparse.Action) -> list[str]:
    return [o for o in action.option_strings if o.startswith("--") and o != "--help"]


def manager_flags() -> set[str]:
    return {o for a in manager_parser()._actions for o in _long(a)}


def help_groups() -> dict[str, set[str]]:
    """--help's groups of manager flags, keyed by the heading the guide gives each: the group's title
    up to any parenthesis, and GENERAL for argparse's own "options"."""
    out: dict[str, set[str]] = {}
    for group in manager_parser()._action_groups:
        flags = {o for a in group._group_actions for o in _long(a)}
        if not flags:
            continue
        title = group.title or ""
        key = GENERAL if title == "options" else title.split(" (")[0]
        out[key.lower()] = flags
    return out


def flag_subsections(text: str) -> dict[str, str]:
    """The `### ` subsections of the flags section, keyed by heading up to any parenthesis."""
    start = text.index(FLAGS_SECTION)
    end = text.find("\n## ", start + len(FLAGS_SECTION))
    section = text[start : end if end != -1 else len(text)]
    parts = re.split(r"^### (.+)$", section, flags=re.MULTILINE)
    pairs = zip(parts[1::2], parts[2::2], strict=True)
    return {heading.split(" (")[0].strip().lower(): body for heading, body in pairs}


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```$", text, re.DOTALL | re.MULTILINE)


def test_every_manager_flag_is_in_the_user_guide() -> None:
    text = GUIDE.read_text()
    missing = sorted(f for f in manager_flags() if f"`{f}" not in text)
    assert not missing, f"add to docs/user-guide.md: {missing}"


def test_each_flag_is_listed_under_its_help_group() -> None:
    sections = flag_subsections(GUIDE.read_text())
    groups = help_groups()
    assert sorted(sections) == sorted(groups), "one ### heading per `irc manager --help` group"
    for name, flags in groups.items():
        rows = set(re.findall(r"^\| `(--[a-z][a-z0-9-]*)", sections[name], re.MULTILINE))
        wrong = f"missing {sorted(flags - rows)}, not of this group {sorted(rows - flags)}"
        assert rows == flags, f"### {name}: {wrong}"


def test_every_flag_the_user_guide_names_exists() -> None:
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)", GUIDE.read_text()))
    assert named and not named - manager_flags(), named - manager_flags()


def test_manager_command_lines_and_args_use_existing_flags() -> None:
    used: set[str] = set()
    for block in code_blocks(GUIDE.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            if "irc manager" in line:
                used |= set(FLAG.findall(line.split("irc manager", 1)[1]))
            elif m := re.match(r"\s*(?:-|value:)\s+(--[a-z][a-z0-9-]*)", line):
                used.add(m[1])
    assert not used - manager_flags(), used - manager_flags()
