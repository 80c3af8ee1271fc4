"""The work queue between event handlers and reconcile workers, with client-go's util/workqueue semantics
and controller-runtime's priorities.

One `WorkQueue` carries client-go's three layers, plus priorities:
- the queue: a dirty set and a processing set, so one item is never processed by two workers at once,
  and an item added again while it is processed runs again after `done`;
- priorities (controller-runtime's priority queue): higher first, FIFO within one priority; an item
  added again with a higher priority moves up, never down. Controllers queue what the initial list and
  resyncs bring at `LOW_PRIORITY`, so a change made during a start-up backlog is reconciled first;
- delaying: `add_after` holds items in a heap until their ready time, never postponing a held item;
- rate limiting: `add_rate_limited`, `forget` and `num_requeues` delegate to a `RateLimiter`.

No task runs in the background. Delayed items move into the queue whenever the queue is used and their
time has come; a `get()` with nothing to hand out waits for an `add` or for the earliest ready time, on
the injected Clock, so a FakeClock drives it in tests. Metrics are plain counters read when scraped
(`irc.runtime.metrics.QueueSample`): nothing is locked or refreshed per item.
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

from .clock import Clock, RealClock
from .metrics import WORKQUEUE_BUCKETS, LocalHistogram, QueueSample, RuntimeMetrics
from .ratelimiter import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)

LOW_PRIORITY = -100
"""controller-runtime's handler.LowPriority: what the initial list and resyncs are queued at."""


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
        # An entry is live iff `live[item] is entry`; an item re-added earlier leaves a stale entry
        # behind, skipped when it reaches the top.
        self._heap: list[tuple[float, int, T]] = []
        self.live: dict[T, tuple[float, int, T]] = {}
        """The items held, each with its entry; the queue tests it on every add and get (a dict's
        truth costs no Python call, `len()` of this class would)."""
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self.live)

    def push(self, item: T, ready_at: float) -> bool:
        """Hold `item` until `ready_at`, unless it is held until earlier already.
        Returns whether the earliest ready time moved earlier."""
        held = self.live.get(item)
        if held is not None and held[0] <= ready_at:
            return False
        head = self.next_ready()
        entry = (ready_at, next(self._seq), item)
        self.live[item] = entry
        heapq.heappush(self._heap, entry)
        return head is None or ready_at < head

    def next_ready(self) -> float | None:
        while self._heap and self.live.get(self._heap[0][2]) is not self._heap[0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[T, float]]:
        """Remove and return the items ready at `now`, with their ready times, earliest first."""
        due: list[tuple[T, float]] = []
        while (ready_at := self.next_ready()) is not None and ready_at <= now:
            item = heapq.heappop(self._heap)[2]
            del self.live[item]
            due.append((item, ready_at))
        if not self.live:
            self._heap.clear()  # only stale entries are left
        return due

    def clear(self) -> None:
        self._heap.clear()
        self.live.clear()


class WorkQueue(Generic[T]):
    """A deduplicating, prioritised, delaying, rate-limited queue of hashable items (client-go's
    TypedRateLimitingQueue with controller-runtime's priorities).

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
        self._now = self._clock.now
        self._limiter: RateLimiter[T] = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )
        # Ready items, one FIFO line per priority; `_priorities` lists the lines' priorities, highest
        # first. An item moved up by a higher-priority add leaves a stale entry in its old line, counted
        # in `_stale` by (item, priority) and skipped when reached: it precedes any later entry of the
        # item in that line, so the first entries of an item a line reaches are the stale ones.
        self._lines: dict[int, deque[T]] = {0: deque()}
        self._priorities: list[int] = [0]
        self._stale: dict[tuple[T, int], int] = {}
        self._ready = 0
        # Item -> when it was added: every queued item, and any item added again while in _processing
        # (parked: done() queues it). Holds each item once, which is the deduplication.
        self._dirty: dict[T, float] = {}
        # Item -> its priority, for the items of _dirty whose priority is not 0.
        self._priority: dict[T, int] = {}
        # Item -> (when get() handed it out, its priority); an item is held by at most one worker.
        self._processing: dict[T, tuple[float, int]] = {}
        # Items from add_after() whose ready time has not been seen to come, and the highest priority
        # each was added with (when not 0). One may be queued meanwhile too (by add()); once ready it is
        # added, and deduplicated, like any other.
        self._delayed: _DelayHeap[T] = _DelayHeap()
        self._delayed_priority: dict[T, int] = {}
        # Blocked get() calls, oldest first. Each waits for a wake-up and, if items are delayed, for a
        # ready time no later than the earliest one: add_after() wakes them all when that moves earlier.
        self._getters: deque[asyncio.Future[None]] = deque()
        # shutdown_with_drain() calls, resolved when _processing empties.
        self._drainers: list[asyncio.Future[None]] = []
        self._shutting_down = False
        # What metrics read when scraped.
        self._adds = 0
        self._retries = 0
        self._queue_duration = LocalHistogram(WORKQUEUE_BUCKETS)
        self._work_duration = LocalHistogram(WORKQUEUE_BUCKETS)
        if metrics is not None:
            metrics.workqueues.add(name, self._sample)

    # The queue.

    def add(self, item: T, priority: int = 0) -> None:
        """Queue `item` at `priority` unless it is queued already (then it moves up if `priority` is
        higher than its own); if it is being processed, queue it again on done()."""
        if self._delayed.live:
            self._release_due()
        self._add(item, self._now(), priority)

    async def get(self) -> T:
        """Wait for an item and hand it out, highest priority first. Raises ShutDown once shut down with
        nothing left to hand out: queued items, and items added again while processing, still come out
        after shutdown()."""
        while True:
            if self._delayed.live:
                self._release_due()
            if self._ready:
                return self._take()[0]
            if self._shutting_down and not self._dirty:
                raise ShutDown
            await self._wait(self._delayed.next_ready())

    async def get_with_priority(self) -> tuple[T, int]:
        """get(), and the priority the item was queued at: a requeue keeps it."""
        while True:
            if self._delayed.live:
                self._release_due()
            if self._ready:
                return self._take()
            if self._shutting_down and not self._dirty:
                raise ShutDown
            await self._wait(self._delayed.next_ready())

    def done(self, item: T) -> None:
        """Mark `item` processed; if it was added again meanwhile, queue it again."""
        held = self._processing.pop(item, None)
        if held is None:
            raise ValueError(f"done({item!r}) for an item that get() did not hand out")
        self._work_duration.observe(self._now() - held[0])
        if item in self._dirty:
            self._line(self._priority.get(item, 0)).append(item)
            self._ready += 1
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
        self._delayed_priority.clear()
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
        return self._ready

    # Delaying.

    def add_after(self, item: T, delay: float, priority: int = 0) -> None:
        """Add `item` at `priority` once `delay` seconds have passed (at once if delay <= 0). An item
        already waiting keeps the earlier of its two ready times and the higher of its priorities."""
        if self._shutting_down:
            return
        self._retries += 1
        if delay <= 0:
            self.add(item, priority)
            return
        if priority or item in self._delayed_priority:
            priority = max(priority, self._delayed_priority.get(item, priority))
            if priority:
                self._delayed_priority[item] = priority
            else:
                del self._delayed_priority[item]
        if self._delayed.push(item, self._now() + delay):
            self._wake_all()  # blocked getters wait for a later time: let them wait again

    # Rate limiting.

    def add_rate_limited(self, item: T, priority: int = 0) -> None:
        """Add `item` after the rate limiter's delay for it, counting a failure."""
        self.add_after(item, self._limiter.when(item), priority)

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
        now = self._now()
        return QueueStatistics(
            depth=self._ready,
            processing=len(self._processing),
            waiting=len(self._delayed),
            longest_running=max((now - t for t, _ in self._processing.values()), default=0.0),
        )

    def _sample(self) -> QueueSample:
        """What the workqueue_* series say now (client-go refreshes the unfinished-work gauges every
        500 ms; read at scrape, they are exact and cost nothing in between)."""
        now = self._now()
        ages = [now - t for t, _ in self._processing.values()]
        return QueueSample(
            depth=len(self._dirty),
            adds=self._adds,
            retries=self._retries,
            queue_duration=self._queue_duration,
            work_duration=self._work_duration,
            unfinished_work=sum(ages),
            longest_running=max(ages, default=0.0),
        )

    # Internals.

    def _add(self, item: T, at: float, priority: int) -> None:
        if self._shutting_down:
            return
        if item in self._dirty:
            held = self._priority.get(item, 0)
            if priority <= held:
                return
            self._priority[item] = priority
            if item not in self._processing:  # queued: move it up a line
                key = (item, held)
                self._stale[key] = self._stale.get(key, 0) + 1
                self._line(priority).append(item)
                self._wake_one()
            return
        self._dirty[item] = at
        self._adds += 1
        if priority:
            self._priority[item] = priority
        if item not in self._processing:
            self._line(priority).append(item)
            self._ready += 1
            self._wake_one()

    def _take(self) -> tuple[T, int]:
        """Hand out the first ready item of the highest line; there is one (`_ready` > 0)."""
        for priority in self._priorities:
            line = self._lines[priority]
            while line:
                item = line.popleft()
                if self._stale and (item, priority) in self._stale:
                    self._drop_stale(item, priority)
                    continue
                self._ready -= 1
                now = self._now()
                self._queue_duration.observe(now - self._dirty.pop(item))
                if priority:
                    del self._priority[item]
                self._processing[item] = (now, priority)
                return item, priority
        raise AssertionError("_ready counts an item no line holds")

    def _line(self, priority: int) -> deque[T]:
        line = self._lines.get(priority)
        if line is None:
            line = self._lines[priority] = deque()
            self._priorities = sorted(self._lines, reverse=True)
        return line

    def _drop_stale(self, item: T, priority: int) -> None:
        key = (item, priority)
        if self._stale[key] == 1:
            del self._stale[key]
        else:
            self._stale[key] -= 1

    def _release_due(self) -> None:
        """Add the delayed items whose time has come, timed from their ready time, as client-go's
        waiting loop would have added them."""
        if self._delayed.live:
            for item, ready_at in self._delayed.pop_due(self._now()):
                self._add(item, ready_at, self._delayed_priority.pop(item, 0))

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
            if getter.done() and not getter.cancelled() and self._ready:
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
