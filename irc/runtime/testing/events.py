"""A recorder that keeps the Events a reconciler records, for tests to assert on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from irc.runtime.events import EventType


@dataclass(frozen=True)
class RecordedEvent:
    kind: str
    namespace: str | None
    name: str
    type: EventType
    reason: str
    message: str


class FakeRecorder:
    """An `EventRecorder` that appends every Event to `events`, in order, with nothing dropped or merged."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []

    def event(self, obj: Mapping[str, Any], type: EventType, reason: str, message: str) -> None:
        metadata = obj.get("metadata") or {}
        self.events.append(
            RecordedEvent(
                str(obj.get("kind")), metadata.get("namespace"), metadata["name"], type, reason, message
            )
        )

    def reasons(self) -> list[str]:
        """The reasons recorded so far, in order."""
        return [e.reason for e in self.events]
