"""Time and tasks in tests.

`running(coroutine)` runs a loop for the length of a block and makes sure it stops. `FakeClock`
stands in for `irc.runtime.clock.Clock`: time moves only when a test calls `advance()`, so
delays, backoffs and timeouts are exercised without real sleeping and without timing flakiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import AsyncIterator, Coroutine

# wall() = now() + this, a fixed instant (2023-11-14T22:13:20Z) so timestamps are reproducible.
FAKE_EPOCH = 1_700_000_000.0
# Deadlines computed as `now + (t - now)` can round one ulp past `t`; treat them as reached.
_TOLERANCE = 1e-9


class FakeClock:
    """A Clock whose time moves only by `advance()`. Defaults: starts at 0.0 monotonic seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        # Blocked sleep() calls: (deadline, arrival order, future to resolve), in no particular order.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        # wait_for_sleepers() calls, resolved whenever a sleeper arrives.
        self._watchers: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return FAKE_EPOCH + self._now

    async def sleep(self, seconds: float) -> None:
        """Return once `advance()` has reached now + seconds; at once (after one yield) if seconds <= 0."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self._now + seconds, next(self._order), asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        for watcher in self._watchers:
            if not watcher.done():
                watcher.set_result(None)
        self._watchers.clear()
        try:
            await entry[2]
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError(f"time only moves forward, got {seconds}")
        self._now += seconds
        due = sorted(entry for entry in self._sleepers if entry[0] <= self._now + _TOLERANCE)
        for entry in due:
            self._sleepers.remove(entry)
            if not entry[2].done():
                entry[2].set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleep() calls are blocked now."""
        return len(self._sleepers)

    async def wait_for_sleepers(self, count: int) -> None:
        """Wait until at least `count` sleep() calls are blocked, so an advance() reaches all of them."""
        while len(self._sleepers) < count:
            watcher = asyncio.get_running_loop().create_future()
            self._watchers.append(watcher)
            await watcher


@contextlib.asynccontextmanager
async def running(
    coroutine: Coroutine[object, object, None], grace: float = 30.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run `coroutine` (an informer's or manager's loop) as a task for the block, then cancel it.

    A task that does not stop within `grace` seconds of its cancellation fails the test with the stacks of
    every task still pending, instead of hanging the run (a swallowed cancellation is a bug).
    """
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            raise AssertionError(f"{task.get_name()} ignored its cancellation; pending tasks:\n{_stacks()}")
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _stacks() -> str:
    out = io.StringIO()
    for t in asyncio.all_tasks():
        t.print_stack(limit=20, file=out)
    return out.getvalue()
