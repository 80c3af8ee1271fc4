"""Informers: list and watch one kind into a Store, and tell handlers what changed.

The reflector loop follows client-go:
- list (paged), then watch from the list's resourceVersion with bookmarks and a server timeout
  drawn from [300, 600) s; where the server supports it, a streaming list (`sendInitialEvents`)
  replaces the list and the same stream carries on as the watch;
- a watch the server ends cleanly is re-opened at once from the last resourceVersion, no relist;
  a dropped one, after backoff, from there too (a relist at a known version is unpaged, so the
  watch cache serves it);
- 410 Gone / Expired → relist with a consistent read; objects that vanished meanwhile are
  delivered as deletions with `state_unknown=True` (client-go's tombstones);
- 429, 5xx and other answers of a failing server → back off 0.8 s doubling with jitter, capped at
  30 s, reset after 2 min of health or once a watch has stayed open for a second; a failed connection
  (refused, reset, dropped mid-stream) is tried again every 1 to 1.5 s instead: nothing answered, so
  there is no load to back off from, and the cache is current within seconds of an apiserver's
  restart or a network's return, however many came before; a watch that sends nothing (not even a
  bookmark) for `inactivity_timeout` is treated as half-open and re-opened the same way.

Readiness (`check`) tells the truth: an informer is not ready until it has synced, nor while no watch
has been open for more than NOT_READY_AFTER seconds (the message names the informer and the error).

A list, paged or streaming, is loaded with the cyclic garbage collector paused and collected once
after it (irc.runtime.gcpause): collecting as it grows traversed the cache again and again.

The store is updated before handlers run. Handlers run inline and must not block (they enqueue).

A `metadata_only` informer lists and watches PartialObjectMetadata (controller-runtime's
OnlyMetadata): its objects are the kind's apiVersion, kind and metadata only, so it can watch
kinds too large or too secret to cache whole (Secrets). Streaming lists serve that view too.

A `typed` informer caches read-only Structs built from the server's OpenAPI schema of the kind
(irc.runtime.typed, client-go's typed informer): less CPU and memory than dicts
(docs/performance.md), read alike. Without a schema for the kind it says so and caches dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from irc.runtime import errors, gcpause, typed
from irc.runtime.cache import IndexFunc, Store, key_of
from irc.runtime.client import PAGE_SIZE, Client, Obj
from irc.runtime.clock import Clock, RealClock
from irc.runtime.typed import TypedObject

log = logging.getLogger(__name__)

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
NOT_READY_AFTER = 3.0
"""Seconds without an open watch after which an informer is not ready."""
UNREACHABLE_RETRY = 1.0
"""Seconds (times 1 to 1.5) between attempts while connections fail (refused, reset, dropped)."""
HEALTHY_WATCH = 1.0
"""Seconds a watch must stay open to count as established (client-go's very short watch is less)."""
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Transform = Callable[[Obj], Obj]


@dataclass(frozen=True)
class CreateEvent:
    obj: Obj
    is_initial_list: bool = False


@dataclass(frozen=True)
class UpdateEvent:
    old: Obj
    new: Obj


@dataclass(frozen=True)
class DeleteEvent:
    obj: Obj
    state_unknown: bool = False  # the deletion was inferred on a relist; obj is the last state seen


@dataclass(frozen=True)
class GenericEvent:
    obj: Obj


class EventHandler(Protocol):
    def create(self, event: CreateEvent) -> None: ...

    def update(self, event: UpdateEvent) -> None: ...

    def delete(self, event: DeleteEvent) -> None: ...


def strip_managed_fields(obj: Obj) -> Obj:
    """The default transform: drop managedFields and kubectl's last-applied annotation, which are a
    large share of an object's bytes and no reconciler's business."""
    metadata = obj.get("metadata")
    if metadata:
        if "managedFields" in metadata:  # (a TypedObject never has them: its type leaves them out)
            del metadata["managedFields"]
        annotations = metadata.get("annotations")
        if annotations and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
    return obj


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class Backoff:
    """client-go's reflector backoff: 0.8 s doubling with full jitter (d..2d), capped at 30 s, forgotten
    after 2 minutes without a failure."""

    def __init__(
        self, clock: Clock, initial: float = 0.8, cap: float = 30.0, reset_after: float = 120.0
    ) -> None:
        self._clock, self.initial, self.cap, self.reset_after = clock, initial, cap, reset_after
        self._delay = 0.0
        self._last_failure = -float("inf")

    def reset(self) -> None:
        self._delay = 0.0

    def next(self) -> float:
        now = self._clock.now()
        if now - self._last_failure > self.reset_after:
            self._delay = 0.0
        self._delay = min(self.cap, self._delay * 2 if self._delay else self.initial)
        self._last_failure = now
        return self._delay * (1 + random.random())


class _Relist(Exception):
    """Internal: the watch cannot continue from its resourceVersion."""


class Informer:
    def __init__(
        self,
        client: Client,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = strip_managed_fields,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
        watch_list: bool = True,
        inactivity_timeout: float = 90.0,
        watch_timeout: tuple[int, int] = (300, 600),
        clock: Clock | None = None,
        metadata_only: bool = False,
        typed: bool = False,
    ) -> None:
        if typed and metadata_only:
            raise ValueError("an informer is typed or metadata-only, not both")
        self.client, self.api_version, self.kind = client, api_version, kind
        self.metadata_only = metadata_only
        self.typed = typed
        self._object_type: type[TypedObject] | None = None
        """A typed informer's Struct, built from the server's schema before the first list."""
        self.namespace, self.label_selector, self.field_selector = namespace, label_selector, field_selector
        self.store = Store(indexers)
        self.resource_version = ""  # the last resourceVersion this informer is in sync with
        self._transform = transform or (lambda o: o)
        self._resync_period = resync_period
        self._watch_list = watch_list
        self._inactivity_timeout = inactivity_timeout
        self._watch_timeout = watch_timeout
        self._clock = clock or RealClock()
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._running = False
        self._last_activity = self._clock.now()
        self._failures = 0
        """Failures since the watch last delivered anything or stayed open."""
        self._down_since: float | None = None
        """When the watch failed, until one is open again: readiness fails after NOT_READY_AFTER."""
        self._open_since: float | None = None
        """When the server answered the current watch; None while none is open."""
        self._backoff = Backoff(self._clock)
        self._last_error: BaseException | None = None
        self._relist = True
        """The store needs a fresh list (no resourceVersion yet, Gone, an unexpected answer) before
        watching; cleared by the list landing (or a streaming list's initial events)."""

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        view = " (metadata)" if self.metadata_only else " (typed)" if self.typed else ""
        return f"<Informer {self.kind}.{self.api_version}{view}{where}>"

    # ---- consumers

    def add_handler(self, handler: EventHandler) -> None:
        """Register a handler; one added after the initial list gets a create for every cached object."""
        self._handlers.append(handler)
        if self._synced.is_set():
            for obj in self.store.list():
                self._call(handler.create, CreateEvent(obj, is_initial_list=True))

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, within: float | None = None) -> None:
        """Wait for the initial list; TimeoutError naming the kind if it takes longer than `within` s
        (None: no bound)."""
        try:
            async with asyncio.timeout(within):
                await self._synced.wait()
        except TimeoutError:
            raise TimeoutError(f"{self!r} did not sync within {within} s: {self._last_error!r}") from None

    async def check(self) -> None:
        """Readiness: synced, running, and the watch alive (events, bookmarks or a fresh list lately)."""
        if not self._running:
            raise RuntimeError(f"{self!r} is not running")
        if not self.has_synced:
            raise RuntimeError(f"{self!r} has not synced yet")
        now = self._clock.now()
        if self._open_since is not None and now - self._open_since >= HEALTHY_WATCH:
            self._down_since = None
        if self._down_since is not None and now - self._down_since > NOT_READY_AFTER:
            raise RuntimeError(
                f"{self!r} has had no watch open for {now - self._down_since:.0f} s "
                f"({self._failures} failures, last {self._last_error!r})"
            )
        if now - self._last_activity > 2 * self._inactivity_timeout:
            raise RuntimeError(f"{self!r} watch has delivered nothing for {now - self._last_activity:.0f} s")

    # ---- the loop

    async def run(self) -> None:
        """List and watch until cancelled. May be run again after cancellation; it resumes from its
        resourceVersion and store."""
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                if self._resync_period:
                    tg.create_task(self._resync_loop(self._resync_period), name=f"{self!r} resync")
                await self._reflect()
        finally:
            self._running = False

    async def _reflect(self) -> None:
        self._backoff = backoff = Backoff(self._clock)  # a fresh run starts afresh
        self._relist = not self.resource_version
        while True:
            try:
                if self.typed and self._object_type is None:
                    await self._load_object_type()
                if self._relist and not self._watch_list:
                    with gcpause.paused():
                        await self._list()
                await self._watch(initial=self._relist)
                if self._was_established():
                    self._down_since = None
                continue
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as e:
                # The connection failed, not the server: refused, reset, dropped mid-stream, or silent
                # past the watchdog. Nothing answered with an error, so there is no load to back off
                # from, and trying again soon catches the server (or the network) as soon as it is back.
                # A backoff growing here slept through a flapping network's return (docs/reliability.md).
                log.warning("%r: connection failed (%s); retrying", self, e or type(e).__name__)
                self._note_failure(e)
                await self._clock.sleep(UNREACHABLE_RETRY * random.uniform(1.0, 1.5))
                continue
            except (errors.Gone, _Relist) as e:
                log.info("%r: resourceVersion %s is too old (%s); relisting", self, self.resource_version, e)
                again = isinstance(self._last_error, errors.Gone | _Relist) and self._failures > 0
                self.resource_version, self._relist = "", True
                self._note_failure(e)
                if not again:
                    continue  # relist at once (often right after a drop); back off if it keeps happening
            except (errors.TooManyRequests, aiohttp.ClientError, TimeoutError, OSError) as e:
                # Resumed from the last resourceVersion once a list has landed, as client-go does:
                # a rolling apiserver restart must not re-send every object to every informer.
                log.warning("%r: watch interrupted (%s); retrying", self, e or type(e).__name__)
                self._note_failure(e)
            except errors.ApiError as e:
                log.warning("%r: %s; relisting after backoff", self, e)
                self._note_failure(e)
                self._relist = True
            except Exception as e:  # never let the informer die silently: it is the operator's eyes
                log.exception("%r: unexpected error; relisting after backoff", self)
                self._note_failure(e)
                self._relist = True
            await self._clock.sleep(backoff.next())

    async def _load_object_type(self) -> None:
        try:
            self._object_type = await self.client.object_type(self.api_version, self.kind)
        except (typed.SchemaError, errors.NotFound) as e:
            log.warning("%r: no schema to build typed objects from (%s); caching dicts", self, e)
            self.typed = False

    def _note_failure(self, error: BaseException) -> None:
        if self._was_established():
            self._backoff.reset()  # the watch was healthy: this is a new failure, not the old one going on
        self._failures += 1
        self._last_error = error
        if self._down_since is None:
            self._down_since = self._clock.now()

    def _was_established(self) -> bool:
        """Whether the watch that just ended had stayed open for HEALTHY_WATCH; forgets it."""
        opened, self._open_since = self._open_since, None
        return opened is not None and self._clock.now() - opened >= HEALTHY_WATCH

    def _on_open(self) -> None:
        self._open_since = self._clock.now()

    async def _list(self) -> None:
        rv = self.resource_version or None
        result = await self.client.list(
            self.api_version,
            self.kind,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            resource_version=rv,
            # client-go lists unpaged at a set resourceVersion: with a limit it would be an exact read
            # from etcd (410 once compacted) instead of the watch cache's "not older than".
            limit=None if rv not in (None, "0") else PAGE_SIZE,
            metadata_only=self.metadata_only,
            object_type=self._object_type,
            transform=self._transform,
        )
        self._replace(result.items, result.resource_version)

    async def _watch(self, *, initial: bool) -> None:
        streaming_list = initial and self._watch_list
        timeout = random.randint(*self._watch_timeout)
        opened = self._clock.now()
        events = 0
        pending: list[Obj] | None = [] if streaming_list else None
        loading = contextlib.ExitStack()  # the collector's pause while the initial events arrive
        if streaming_list:
            loading.enter_context(gcpause.paused())
        try:
            stream = self.client.watch(
                self.api_version,
                self.kind,
                self.namespace,
                resource_version=self.resource_version
                if not streaming_list
                else (self.resource_version or ""),
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                timeout_seconds=timeout,
                allow_bookmarks=True,
                send_initial_events=streaming_list,
                read_timeout=self._inactivity_timeout,
                metadata_only=self.metadata_only,
                object_type=self._object_type,
                on_open=self._on_open,
            )
            async with contextlib.aclosing(stream):
                async for event in stream:
                    events += 1
                    self._last_activity = self._clock.now()
                    self._failures = 0  # the watch is delivering again
                    self._down_since = None
                    obj = event.object
                    if pending is not None:  # still receiving the initial state of a streaming list
                        if event.type == "ADDED":
                            pending.append(self._transform(obj))  # now: what it drops goes at once
                            continue
                        if (
                            event.type == "BOOKMARK"
                            and (obj.get("metadata", {}).get("annotations") or {}).get(INITIAL_EVENTS_END)
                            == "true"
                        ):
                            self._replace(pending, _rv(obj))
                            pending = None
                            loading.close()
                            continue
                    self._apply(event.type, obj)
        except errors.ApiError as e:
            if streaming_list and not isinstance(e, errors.Gone) and e.status in (400, 403, 422, 500):
                # An apiserver (or etcd) without watch-list support: fall back to list + watch for good.
                log.info("%r: streaming list not available (%s); using list + watch", self, e)
                self._watch_list = False
                raise _Relist(str(e)) from None
            raise
        finally:
            loading.close()
        if pending is not None:
            raise _Relist("the streaming list ended before its initial events did")
        if events == 0 and self._clock.now() - opened < 1.0:
            # client-go's VeryShortWatchError: closed at once with nothing is a failure, not a timeout.
            raise TimeoutError("watch closed immediately with no events")

    def _apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "BOOKMARK":
            self.resource_version = _rv(obj)
            return
        obj = self._transform(obj)
        if event_type in ("ADDED", "MODIFIED"):
            old = self.store.upsert(obj)
            if old is None:
                self._dispatch(lambda h: h.create, CreateEvent(obj))
            else:
                self._dispatch(lambda h: h.update, UpdateEvent(old, obj))
        elif event_type == "DELETED":
            old = self.store.delete(key_of(obj))
            self._dispatch(lambda h: h.delete, DeleteEvent(obj))
        self.resource_version = _rv(obj) or self.resource_version

    def _replace(self, fresh: list[Obj], resource_version: str) -> None:
        """A fresh list, transformed already: store it, then tell handlers what it changed (deletions
        first, as client-go's atomic replace does)."""
        initial = not self._synced.is_set()
        keyed = {key_of(o): o for o in fresh}
        for key in [k for k in self.store.keys() if k not in keyed]:  # noqa: SIM118 (a copy: we delete)
            gone = self.store.delete(key)
            assert gone is not None
            self._dispatch(lambda h: h.delete, DeleteEvent(gone, state_unknown=True))
        for key, obj in keyed.items():
            old = self.store.upsert(obj, key)
            if old is None:
                self._dispatch(lambda h: h.create, CreateEvent(obj, is_initial_list=initial))
            elif _rv(old) != _rv(obj):
                self._dispatch(lambda h: h.update, UpdateEvent(old, obj))
        self.resource_version = resource_version
        self._relist = False
        self._last_activity = self._clock.now()
        self._synced.set()

    async def _resync_loop(self, period: float) -> None:
        """Replay every cached object as an update to itself, as client-go's resync does (no API call)."""
        await self._synced.wait()
        while True:
            await self._clock.sleep(period * random.uniform(0.9, 1.1))
            for obj in self.store.list():
                self._dispatch(lambda h: h.update, UpdateEvent(obj, obj))

    def _dispatch(self, method: Callable[[EventHandler], Callable[[Any], None]], event: Any) -> None:
        for handler in self._handlers:
            self._call(method(handler), event)

    def _call(self, fn: Callable[[Any], None], event: Any) -> None:
        try:
            fn(event)
        except Exception:
            log.exception("%r: event handler %r failed on %s", self, fn, type(event).__name__)
