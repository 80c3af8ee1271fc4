"""docs/user-guide.md lists every `irc manager` flag, each under the heading of its `--help` group, and
every manager flag it names exists: in inline code (a span starting with `--` is a manager flag; other
tools' flags appear only inside whole command lines), in `irc manager` command lines of its code
blocks, and in manager args written as YAML (`- --flag`). And the kinds' fields: every field of the four
CRD schemas is on the page whose table documents it (FIELD_PAGES), and every default a schema
declares is the one that page's Default column gives."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from irc.api import KINDS
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


# ---- the kinds' fields: every field of every CRD schema is on the page that documents it, and a
# default the schema declares is the default that page gives.

DOCS = GUIDE.parent
FIELD_PAGES = {
    ("ImageResourcePolicy", "spec"): "user-guide.md",
    ("ImageResourcePolicy", "status"): "user-guide.md",
    ("ImageDetected", "spec"): "user-guide.md",
    ("ImageDetected", "status"): "creation.md",
    ("ResourceTemplate", "spec"): "creation.md",
    ("ResourceTemplate", "status"): "user-guide.md",
    ("ImageBackup", "spec"): "user-guide.md",
    ("ImageBackup", "status"): "image-backup.md",
}
"""(kind, "spec" or "status") → the page with its field table; the guide links to the others."""


def schema_fields(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every property under `schema` by dotted path (`ecrRepository.region`; `[]` after an array of
    objects: `multiFiles[].name`), with its schema; a condition's own fields are metav1's."""
    out: dict[str, dict[str, Any]] = {}
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        out[path] = sub
        items = sub.get("items") or {}
        if sub.get("type") == "object":
            out |= schema_fields(sub, f"{path}.")
        elif sub.get("type") == "array" and items.get("type") == "object" and name != "conditions":
            out |= schema_fields(items, f"{path}[].")
    return out


def kind_fields(kind: str, part: str) -> dict[str, dict[str, Any]]:
    (crd,) = [k.crd() for k in KINDS if k.kind == kind]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema_fields(schema["properties"][part])


def names_on(page: str) -> tuple[set[str], set[str]]:
    """The page's inline code spans (outside code blocks), and every word in them or used as a YAML
    key in its code blocks."""
    text = (DOCS / page).read_text()
    blocks = code_blocks(text)
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.DOTALL | re.MULTILINE)
    spans = set(re.findall(r"`([^`\n]+)`", prose))
    words = {w for s in spans for w in re.findall(r"[A-Za-z][\w-]*", s)}
    words |= {k for b in blocks for k in re.findall(r"^[\s-]*([A-Za-z][A-Za-z0-9]*):", b, re.MULTILINE)}
    return spans, words


def documented(path: str, spans: set[str], words: set[str]) -> bool:
    """`path` (or `path[]`) is a code span or starts one; or its parent is documented and its own
    name is a word of the page (`{name, namespace}` of a reference, a YAML key of an example)."""
    plain = path.replace("[]", "")
    if any(s == f or s.startswith((f"{f}.", f"{f}[")) for s in spans for f in (path, plain)):
        return True
    parent, _, leaf = path.rpartition(".")
    if not parent:
        return leaf in words
    return documented(parent.removesuffix("[]"), spans, words) and leaf in words


def test_every_field_of_every_kind_is_documented() -> None:
    missing = []
    for (kind, part), page in FIELD_PAGES.items():
        spans, words = names_on(page)
        missing += [
            f"{kind} {part}.{p} (docs/{page})"
            for p in kind_fields(kind, part)
            if not documented(p, spans, words)
        ]
    assert not missing, missing


def default_cells(page: str) -> dict[str, str]:
    """The Default column of the page's field tables: the row's one code span → the cell."""
    out: dict[str, str] = {}
    column: int | None = None
    for line in (DOCS / page).read_text().splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if "Default" in cells:
            column = cells.index("Default")
        elif column is not None and len(cells) > column:
            first = re.findall(r"`([^`]+)`", cells[0])
            if len(first) == 1:
                out[first[0].removesuffix("[]")] = cells[column]
    return out


def test_the_defaults_the_docs_give_are_the_schemas() -> None:
    """Each default a schema declares is in its page's Default column, as the schema has it."""
    wrong = []
    for (kind, part), page in FIELD_PAGES.items():
        cells = default_cells(page)
        for path, schema in kind_fields(kind, part).items():
            if "default" not in schema:
                continue
            value = schema["default"]
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            cell = cells.get(path)
            if cell is None or not re.search(rf"(^|[^\w.]){re.escape(shown)}($|[^\w])", cell):
                wrong.append(
                    f"docs/{page}: {kind} {path}: the schema's default is {shown!r}, the table's {cell!r}"
                )
    assert not wrong, wrong
