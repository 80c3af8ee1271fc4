"""metav1.Condition helpers: set a condition the way Kubernetes expects (lastTransitionTime moves
only when the status changes; observedGeneration says which spec it describes)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(timestamp: object) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp with a zone (as the API server writes them); None if
    `timestamp` is absent or not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def set_condition(
    status: dict[str, Any],
    type: str,
    condition_status: ConditionStatus,
    reason: str,
    message: str,
    *,
    observed_generation: int | None,
    now: float,
) -> bool:
    """Set `type` in status["conditions"]; returns whether anything changed."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    new = {
        "type": type,
        "status": condition_status,
        "reason": reason,
        "message": message[:32768],
        "observedGeneration": observed_generation,
    }
    for i, old in enumerate(conditions):
        if old.get("type") != type:
            continue
        same_status = old.get("status") == condition_status
        new["lastTransitionTime"] = old.get("lastTransitionTime") if same_status else rfc3339(now)
        if {k: old.get(k) for k in new} == new:
            return False
        conditions[i] = new
        return True
    new["lastTransitionTime"] = rfc3339(now)
    conditions.append(new)
    return True


def get_condition(status: Mapping[str, Any] | None, type: str) -> Mapping[str, Any] | None:
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") == type:
            return condition  # type: ignore[no-any-return]
    return None


def condition_schema() -> dict[str, Any]:
    """The OpenAPI schema of a list of metav1.Condition, as the apiserver's own types declare it."""
    return {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "maxLength": 316,
                    "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                },
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "reason": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 1024,
                    "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                },
                "message": {"type": "string", "maxLength": 32768},
            },
        },
    }
