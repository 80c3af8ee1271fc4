"""`SecretRef`, the one way irc names a Secret: in a spec (`{name, namespace}`), in a flag
(`namespace/name`) and in the settings the reconcilers read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def is_secret_name(name: str) -> bool:
    """Whether `name` can be a Secret's (a DNS-1123 subdomain). Pod specs do not validate their
    imagePullSecrets names, so one may hold `..`, `/` or `%`: asked for, such a name reaches the API
    server as another path or a 400, never as a Secret."""
    return len(name) <= 253 and _SUBDOMAIN.fullmatch(name) is not None


@dataclass(frozen=True)
class SecretRef:
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """`namespace/name`, as flags spell it."""
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"expected namespace/name, got {text!r}")
        return cls(name, namespace)

    @classmethod
    def from_spec(cls, ref: Mapping[str, Any]) -> SecretRef:
        """A spec's `{name, namespace}` (both required by the CRD schema)."""
        return cls(str(ref["name"]), str(ref["namespace"]))
