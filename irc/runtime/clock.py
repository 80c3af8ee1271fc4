"""Time, injected: the workqueue, leader election and resync read `now()` and `sleep()` from a Clock,
so tests step a fake clock instead of sleeping (irc.runtime.testing.FakeClock)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for timestamps written to the API."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    # The C functions themselves: `now()` is on every work queue add and get.
    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
