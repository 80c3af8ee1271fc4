"""Kubernetes label selectors, parsed once and matched against label maps.

Grammar (apimachinery's labels.Parse): comma-separated requirements, each one of
`key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = r"[A-Za-z0-9_./-]"
_REQUIREMENT = re.compile(
    rf"""\s*(?:
        (?P<not>!)\s*(?P<nkey>{_TOKEN}+)
      | (?P<skey>{_TOKEN}+)\s+(?P<setop>in|notin)\s*\((?P<values>\s*{_TOKEN}*(?:\s*,\s*{_TOKEN}*)*)\s*\)
      | (?P<ekey>{_TOKEN}+)\s*(?P<op>==|=|!=)\s*(?P<value>{_TOKEN}*)
      | (?P<key>{_TOKEN}+)
    )\s*(?:,(?!\s*$)|$)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists, !exists, in, notin
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # notin also matches a missing key


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)


def parse(text: str) -> Selector:
    """Parse a selector string; ValueError naming the offending part if it is malformed."""
    requirements: list[Requirement] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _REQUIREMENT.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"invalid label selector {text!r} at {text[pos:]!r}")
        if m["not"]:
            requirements.append(Requirement(m["nkey"], "!exists"))
        elif m["setop"]:
            values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
            requirements.append(Requirement(m["skey"], m["setop"], values))
        elif m["op"]:
            op = "notin" if m["op"] == "!=" else "in"
            requirements.append(Requirement(m["ekey"], op, frozenset([m["value"]])))
        else:
            requirements.append(Requirement(m["key"], "exists"))
        pos = m.end()
    return Selector(tuple(requirements))
