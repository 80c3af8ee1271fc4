"""`SecretRef`, the one way irc names a Secret: in a spec (`{name, namespace}`), in a flag
(`namespace/name`) and in the settings the reconcilers read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
