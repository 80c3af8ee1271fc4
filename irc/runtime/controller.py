"""Controllers: watches feed a rate-limited queue of Requests; N workers reconcile them.

A reconciler is one async method, `reconcile(request) -> Result | None` (controller-runtime's
Reconciler). Its outcome decides what happens to the request, in controller-runtime's order:

    raises TerminalError        → counted and logged, not requeued (so does a ReconcileError
                                  with terminal=True)
    raises anything else        → requeued with the rate limiter's backoff
    Result(requeue_after=d)     → backoff forgotten, requeued in d seconds
    returns (None or Result())  → backoff forgotten

Under a manager's leader election a worker starts a reconcile only while the lease is current
(`irc.runtime.leaderelection.LeaseFence`), and every write it sends is checked again.

A requeue keeps the priority the request was queued at: what the initial list and resyncs bring waits
at LOW_PRIORITY behind changes observed after start (`ControllerOptions.priority_queue`).

One key is never reconciled by two workers at once (the queue guarantees it); an exception never
kills a worker. Every log line of a reconcile carries controller, namespace, name and reconcile_id.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from irc.runtime import errors
from irc.runtime.client import WRITE_FENCE, Obj
from irc.runtime.clock import Clock, RealClock
from irc.runtime.handlers import Handler, Request
from irc.runtime.informer import CreateEvent, DeleteEvent, GenericEvent, Informer, UpdateEvent
from irc.runtime.metrics import ReconcileCounts, RuntimeMetrics
from irc.runtime.predicates import Predicate
from irc.runtime.ratelimiter import RateLimiter
from irc.runtime.workqueue import LOW_PRIORITY, ShutDown, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None  # seconds; reconcile again then even if nothing changes


class Reconciler(Protocol):
    async def reconcile(self, request: Request) -> Result | None: ...


@dataclass(frozen=True)
class ControllerOptions:
    max_concurrent_reconciles: int = 1
    """Workers, each reconciling one request at a time. Defaults to 1."""
    rate_limiter: RateLimiter[Any] | None = None
    """Backoff for failed requests. Defaults to max(5 ms → 1000 s per item, 10 qps burst 100)."""
    reconcile_timeout: float | None = None
    """Seconds one reconcile may take before it is cancelled and counted as an error. Defaults to none."""
    priority_queue: bool = True
    """Queue what the initial list and resyncs bring at LOW_PRIORITY, so changes observed after start
    go first (controller-runtime's default since v0.23). False queues everything alike, in order."""


@dataclass
class _Watch:
    informer: Informer
    handler: Handler
    predicates: Sequence[Predicate]


class _Source:
    """Adapts an informer's events through predicates and a handler into queue adds: at LOW_PRIORITY
    for the initial list and resyncs (an update to the same resourceVersion) when `prioritize`."""

    def __init__(self, queue: WorkQueue[Request], watch: _Watch, prioritize: bool) -> None:
        self._queue, self._handler, self._predicates = queue, watch.handler, watch.predicates
        self._low = LOW_PRIORITY if prioritize else 0

    def _enqueue(self, requests: Iterable[Request], priority: int = 0) -> None:
        for request in requests:
            self._queue.add(request, priority)

    def create(self, event: CreateEvent) -> None:
        if all(p.create(event) for p in self._predicates):
            self._enqueue(self._handler.create(event), self._low if event.is_initial_list else 0)

    def update(self, event: UpdateEvent) -> None:
        if all(p.update(event) for p in self._predicates):
            resync = _resource_version(event.old) == _resource_version(event.new)
            self._enqueue(self._handler.update(event), self._low if resync else 0)

    def delete(self, event: DeleteEvent) -> None:
        if all(p.delete(event) for p in self._predicates):
            self._enqueue(self._handler.delete(event))

    def generic(self, event: GenericEvent) -> None:
        if all(p.generic(event) for p in self._predicates):
            self._enqueue(self._handler.generic(event))


def _reconcile_id() -> str:
    """A random (version 4) UUID, as controller-runtime's reconcileID: it correlates log lines, so it
    comes from `random`, not the OS, and is formatted here: `str(uuid.uuid4())` took 2.8 µs, this 1.0 µs."""
    bits = random.getrandbits(128) & ~(0xF000 << 64 | 0xC << 60) | (0x4000 << 64 | 0x8 << 60)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _resource_version(obj: Obj) -> object:
    return (obj.get("metadata") or {}).get("resourceVersion")


@dataclass
class Controller:
    name: str
    reconciler: Reconciler
    options: ControllerOptions = field(default_factory=ControllerOptions)
    metrics: RuntimeMetrics = field(default_factory=RuntimeMetrics)
    clock: Clock = field(default_factory=RealClock)
    needs_leader_election: bool = True

    def __post_init__(self) -> None:
        if self.options.max_concurrent_reconciles < 1:
            raise ValueError(f"controller {self.name}: max_concurrent_reconciles must be at least 1")
        self.queue: WorkQueue[Request] = WorkQueue(
            self.name, rate_limiter=self.options.rate_limiter, clock=self.clock, metrics=self.metrics
        )
        self._watches: list[_Watch] = []
        self._started = False
        self._counts = ReconcileCounts(self.options.max_concurrent_reconciles)

    def watch(self, informer: Informer, handler: Handler, predicates: Sequence[Predicate] = ()) -> None:
        """Feed `informer`'s events through `predicates` and `handler` into this controller's queue."""
        if self._started:
            raise RuntimeError(f"controller {self.name}: watches must be added before start")
        self._watches.append(_Watch(informer, handler, predicates))

    def enqueue(self, request: Request) -> None:
        """Queue a request directly (a GenericEvent from outside any watch)."""
        self.queue.add(request)

    async def start(self) -> None:
        """Wait for the watched informers to sync, then reconcile with N workers until cancelled.

        The wait has no bound of its own: whoever runs the informers bounds their sync (the manager,
        by `ManagerOptions.cache_sync_timeout`, before it starts any controller)."""
        if self._started:
            raise RuntimeError(f"controller {self.name} was already started")
        self._started = True
        workers = self.options.max_concurrent_reconciles
        counts = self._counts
        self.metrics.controllers.add(self.name, lambda: counts)
        for w in self._watches:
            w.informer.add_handler(_Source(self.queue, w, self.options.priority_queue))
        await asyncio.gather(*(w.informer.wait_for_sync() for w in self._watches))
        log.info("starting workers", extra={"controller": self.name, "workers": workers})
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(workers):
                    tg.create_task(self._worker(), name=f"{self.name}-worker-{i}")
        finally:
            self.queue.shutdown()

    async def _worker(self) -> None:
        fence = WRITE_FENCE.get()  # the manager's leader work carries one under leader election
        while True:
            try:
                request, priority = await self.queue.get_with_priority()
            except ShutDown:
                return
            if fence is not None:
                await fence.wait()  # held, not reconciled, while the lease is not current
            self._counts.active += 1
            # Tokens rather than `bound_contextvars`, which reads the whole context first (3 µs more).
            tokens = structlog.contextvars.bind_contextvars(
                controller=self.name,
                namespace=request.namespace,
                name=request.name,
                reconcile_id=_reconcile_id(),
            )
            try:
                await self._reconcile(request, priority)
            finally:
                structlog.contextvars.reset_contextvars(**tokens)
                self._counts.active -= 1
                self.queue.done(request)

    async def _reconcile(self, request: Request, priority: int) -> None:
        """Reconcile once, in the request's log context; a requeue, after an error or a Result, keeps
        the request's priority."""
        counts, start = self._counts, self.clock.now()
        timeout = self.options.reconcile_timeout
        try:
            if timeout is None:  # no timeout scope: entering one took 2.5 µs, a third of a no-op reconcile
                result = await self.reconciler.reconcile(request) or Result()
            else:
                async with asyncio.timeout(timeout):
                    result = await self.reconciler.reconcile(request) or Result()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this worker is being stopped
            # A CancelledError nobody asked this task for (the reconciler awaited something another
            # task cancelled): an error like any other. Re-raised, it would end the worker silently.
            counts.errors += 1
            counts.results["error"] += 1
            log.exception("reconcile raised CancelledError, requeued with backoff")
            self.queue.add_rate_limited(request, priority)
            return
        except Exception as e:
            counts.errors += 1
            counts.results["error"] += 1
            if isinstance(e, errors.ReconcileError) and e.terminal:
                counts.terminal += 1
                log.error(
                    "reconcile failed terminally, not requeued: %s: %s",
                    e.reason,
                    e,
                    extra={"reason": e.reason},
                )
                return
            # One line with the reason: the status says the rest, a traceback adds nothing.
            if isinstance(e, errors.ReconcileError):
                log.error(
                    "reconcile failed, requeued with backoff: %s: %s",
                    e.reason,
                    e,
                    extra={"reason": e.reason},
                )
            elif isinstance(e, errors.ApiError):  # its text starts with the status code and reason
                log.error("reconcile failed, requeued with backoff: %s", e, extra={"reason": e.reason})
            else:
                log.exception("reconcile failed, requeued with backoff")
            self.queue.add_rate_limited(request, priority)
            return
        finally:
            counts.time.observe(self.clock.now() - start)
        self.queue.forget(request)
        if result.requeue_after is not None and result.requeue_after > 0:
            self.queue.add_after(request, result.requeue_after, priority)
            counts.results["requeue_after"] += 1
            log.debug("reconciled, again in %.1f s", result.requeue_after)
        else:
            counts.results["success"] += 1
            log.debug("reconciled")
