"""What the reconcilers are configured with: one frozen dataclass filled from `irc manager`'s flags
(or by a library user), passed to every `setup(mgr, settings)`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from irc.images import TargetNaming
from irc.images.auth import RegistryOptions

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Go-style durations (`90s`, `1h30m`, `7d`) in seconds; ValueError otherwise."""
    text = text.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}: use e.g. 90s, 15m, 1h30m, 7d")
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not text:
        raise ValueError("empty duration")
    return total


@dataclass(frozen=True)
class SecretKey:
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"expected namespace/name, got {text!r}")
        return cls(namespace, name)


@dataclass(frozen=True)
class Settings:
    backup: TargetNaming | None = None
    """Where backups go and how they are named (--backup-registry, --backup-naming). Required by
    image-backup when an ImageBackup has no explicit target."""
    backup_credentials: SecretKey | None = None
    """A dockerconfigjson Secret for the backup registry (--backup-credentials namespace/name)."""
    backup_retention: float = 7 * 86400.0
    """Delete ImageBackups no workload has referenced for this long (--backup-retention). 7 days."""
    registries: Mapping[str, RegistryOptions] = field(default_factory=dict)
    """Per-host TLS/plain-HTTP options (--registry-ca, --registry-insecure, --registry-plain-http)."""
    recheck_interval: float = 3600.0
    """How often a completed ImageBackup is checked again (target present, retention). 1 hour."""
    progress_interval: float = 2.0
    """Seconds between status writes while copying, so progress shows without a write storm."""

    def registry_options(self, host: str) -> RegistryOptions:
        return self.registries.get(host, RegistryOptions())
