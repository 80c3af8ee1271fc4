"""The work queue between event handlers and reconcile workers, with client-go's util/workqueue semantics.

One `WorkQueue` carries client-go's three layers:
- the queue: a dirty set and a processing set, so one item is never processed by two workers at once,
  and an item added again while it is processed runs again after `done`;
- delaying: `add_after` holds items in a heap until their ready time, never postponing a held item;
- rate limiting: `add_rate_limited`, `forget` and `num_requeues` delegate to a `RateLimiter`.

No task runs in the background. Delayed items move into the queue whenever the queue is used and their
time has come; a `get()` with nothing to hand out waits for an `add` or for the earliest ready time, on
the injected Clock, so a FakeClock drives it in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from .clock import Clock, RealClock
from .metrics import RuntimeMetrics
from .ratelimiter import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down and has nothing left to hand out."""


@dataclass(frozen=True)
class QueueStatistics:
    depth: int
    """Items queued, ready for get()."""
    processing: int
    """Items handed out by get() and not yet done()."""
    waiting: int
    """Items held by add_after() until their ready time."""
    longest_running: float
    """Seconds the oldest item in processing has been held; 0.0 when none is."""


class _DelayHeap(Generic[T]):
    """Items held until a ready time, earliest first; equal ready times leave in the order they were set."""

    def __init__(self) -> None:
        # Min-heap of (ready_at, seq, item); seq breaks ties, so items are never compared.
        # An entry is live iff `_live[item] is entry`; an item re-added earlier leaves a stale entry
        # behind, skipped when it reaches the top.
        self._heap: list[tuple[float, int, T]] = []
        self._live: dict[T, tuple[float, int, T]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def push(self, item: T, ready_at: float) -> bool:
        """Hold `item` until `ready_at`, unless it is held until earlier already.
        Returns whether the earliest ready time moved earlier."""
        held = self._live.get(item)
        if held is not None and held[0] <= ready_at:
            return False
        head = self.next_ready()
        entry = (ready_at, next(self._seq), item)
        self._live[item] = entry
        heapq.heappush(self._heap, entry)
        return head is None or ready_at < head

    def next_ready(self) -> float | None:
        while self._heap and self._live.get(self._heap[0][2]) is not self._heap[0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[T, float]]:
        """Remove and return the items ready at `now`, with their ready times, earliest first."""
        due: list[tuple[T, float]] = []
        while (ready_at := self.next_ready()) is not None and ready_at <= now:
            item = heapq.heappop(self._heap)[2]
            del self._live[item]
            due.append((item, ready_at))
        if not self._live:
            self._heap.clear()  # only stale entries are left
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._live.clear()


@dataclass(frozen=True)
class _Series:
    """One queue's workqueue_* series, labelled (name, controller) = (queue name, queue name)."""

    depth: Gauge
    adds: Counter
    queue_duration: Histogram
    work_duration: Histogram
    unfinished_work: Gauge
    longest_running: Gauge
    retries: Counter

    @classmethod
    def bind(cls, metrics: RuntimeMetrics, name: str) -> _Series:
        return cls(
            metrics.workqueue_depth.labels(name, name),
            metrics.workqueue_adds.labels(name, name),
            metrics.workqueue_queue_duration.labels(name, name),
            metrics.workqueue_work_duration.labels(name, name),
            metrics.workqueue_unfinished_work.labels(name, name),
            metrics.workqueue_longest_running.labels(name, name),
            metrics.workqueue_retries.labels(name, name),
        )


class WorkQueue(Generic[T]):
    """A deduplicating, delaying, rate-limited FIFO of hashable items (client-go's TypedRateLimitingQueue).

    Defaults: no name and no metrics; `default_controller_rate_limiter` on the queue's clock; the real clock.
    A queue that reports metrics needs a name, which labels its series.
    """

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter[T] | None = None,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        if metrics is not None and not name:
            raise ValueError("a WorkQueue that reports metrics needs a name")
        self.name = name
        self._clock = clock if clock is not None else RealClock()
        self._limiter: RateLimiter[T] = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )
        self._series = _Series.bind(metrics, name) if metrics is not None else None
        # Ready items in FIFO order; each is in _dirty and not in _processing.
        self._queue: deque[T] = deque()
        # Item -> when it was added: every queued item, and any item added again while in _processing
        # (parked: done() queues it). Holds each item once, which is the deduplication.
        self._dirty: dict[T, float] = {}
        # Item -> when get() handed it out; an item is held by at most one worker.
        self._processing: dict[T, float] = {}
        # Items from add_after() whose ready time has not been seen to come. One may be queued meanwhile
        # too (by add()); once ready it is added, and deduplicated, like any other.
        self._delayed: _DelayHeap[T] = _DelayHeap()
        # Blocked get() calls, oldest first. Each waits for a wake-up and, if items are delayed, for a
        # ready time no later than the earliest one: add_after() wakes them all when that moves earlier.
        self._getters: deque[asyncio.Future[None]] = deque()
        # shutdown_with_drain() calls, resolved when _processing empties.
        self._drainers: list[asyncio.Future[None]] = []
        self._shutting_down = False

    # The queue.

    def add(self, item: T) -> None:
        """Queue `item` unless it is queued already; if it is being processed, queue it again on done()."""
        self._release_due()
        self._add(item, self._clock.now())

    async def get(self) -> T:
        """Wait for an item and hand it out. Raises ShutDown once shut down with nothing left to hand out:
        queued items, and items added again while processing, still come out after shutdown()."""
        while True:
            self._release_due()
            if self._queue:
                item = self._queue.popleft()
                now = self._clock.now()
                added = self._dirty.pop(item)
                self._processing[item] = now
                if self._series is not None:
                    self._series.depth.dec()
                    self._series.queue_duration.observe(now - added)
                return item
            if self._shutting_down and not self._dirty:
                raise ShutDown
            await self._wait(self._delayed.next_ready())

    def done(self, item: T) -> None:
        """Mark `item` processed; if it was added again meanwhile, queue it again."""
        started = self._processing.pop(item, None)
        if started is None:
            raise ValueError(f"done({item!r}) for an item that get() did not hand out")
        if self._series is not None:
            self._series.work_duration.observe(self._clock.now() - started)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()
        if not self._processing:
            for drainer in self._drainers:
                if not drainer.done():
                    drainer.set_result(None)
            self._drainers.clear()

    def shutdown(self) -> None:
        """Stop accepting items and drop the delayed ones; what is queued still drains through get()."""
        self._shutting_down = True
        self._delayed.clear()
        self._wake_all()

    async def shutdown_with_drain(self) -> None:
        """shutdown(), then wait until no item is being processed (queued items may remain for get())."""
        self.shutdown()
        while self._processing:
            drainer = asyncio.get_running_loop().create_future()
            self._drainers.append(drainer)
            await drainer

    @property
    def shutting_down(self) -> bool:
        """Whether shutdown() was called: adds are ignored from then on."""
        return self._shutting_down

    def __len__(self) -> int:
        """Items queued, ready for get()."""
        self._release_due()
        return len(self._queue)

    # Delaying.

    def add_after(self, item: T, delay: float) -> None:
        """Add `item` once `delay` seconds have passed (at once if delay <= 0). An item already waiting
        keeps the earlier of its two ready times."""
        if self._shutting_down:
            return
        if self._series is not None:
            self._series.retries.inc()
        if delay <= 0:
            self.add(item)
        elif self._delayed.push(item, self._clock.now() + delay):
            self._wake_all()  # blocked getters wait for a later time: let them wait again

    # Rate limiting.

    def add_rate_limited(self, item: T) -> None:
        """Add `item` after the rate limiter's delay for it, counting a failure."""
        self.add_after(item, self._limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset the rate limiter's failure count for `item`, once it succeeded or was given up."""
        self._limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """Failures the rate limiter counted for `item` since it was last forgotten."""
        return self._limiter.num_requeues(item)

    # Observation.

    def statistics(self) -> QueueStatistics:
        """A snapshot for health checks and the controller's own statistics."""
        self._release_due()
        now = self._clock.now()
        return QueueStatistics(
            depth=len(self._queue),
            processing=len(self._processing),
            waiting=len(self._delayed),
            longest_running=max((now - t for t in self._processing.values()), default=0.0),
        )

    def update_unfinished_metrics(self) -> None:
        """Refresh the unfinished-work and longest-running gauges (and depth, by releasing due items).
        client-go does this every 500 ms; the owner of the queue calls it as often as it likes."""
        self._release_due()
        if self._series is None:
            return
        now = self._clock.now()
        ages = [now - t for t in self._processing.values()]
        self._series.unfinished_work.set(sum(ages))
        self._series.longest_running.set(max(ages, default=0.0))

    # Internals.

    def _add(self, item: T, at: float) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty[item] = at
        if self._series is not None:
            self._series.adds.inc()
            self._series.depth.inc()
        if item not in self._processing:
            self._queue.append(item)
            self._wake_one()

    def _release_due(self) -> None:
        """Add the delayed items whose time has come, timed from their ready time, as client-go's
        waiting loop would have added them."""
        if self._delayed:
            for item, ready_at in self._delayed.pop_due(self._clock.now()):
                self._add(item, ready_at)

    async def _wait(self, ready_at: float | None) -> None:
        """Block until woken, or until `ready_at` on the clock if given."""
        getter = asyncio.get_running_loop().create_future()
        self._getters.append(getter)
        try:
            if ready_at is None:
                await getter
            else:
                # The timer is a child of this call: the group awaits it however the call ends.
                async with asyncio.TaskGroup() as group:
                    timer = group.create_task(self._clock.sleep(ready_at - self._clock.now()))
                    getter.add_done_callback(lambda _: timer.cancel())
        except BaseException:
            # Leaving (cancelled) after add() chose this call: pass its wake-up on.
            if getter.done() and not getter.cancelled() and self._queue:
                self._wake_one()
            raise
        finally:
            if getter.cancelled() or not getter.done():
                with contextlib.suppress(ValueError):  # _wake_one() drops cancelled getters itself
                    self._getters.remove(getter)

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
