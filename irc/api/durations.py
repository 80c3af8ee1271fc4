"""Durations as Kubernetes users write them: Go's `time.ParseDuration` units (`90s`, `1h30m`,
`250ms`) plus `d` for days, as flags like --backup-retention=7d read best."""

from __future__ import annotations

import re

# [0-9], not \d: \d also matches other scripts' digits ('٣'), which Go's ParseDuration rejects.
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, field_name: str = "duration") -> float:
    """Seconds; ValueError naming `field_name` when `text` is not a duration."""
    text = text.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None:
            break
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"{field_name}: invalid duration {text!r}, use e.g. 90s, 15m, 1h30m, 7d")
    return total
