"""The recorder of core/v1 Events (client-go's tools/record), not to be confused with watch events.

A controller records with `EventRecorder.event(obj, type, reason, message)`. Recording never blocks
and never raises: the event goes onto the shared `EventBroadcaster`'s bounded queue, or is dropped
with a log line when the queue is full. `EventBroadcaster.run()` drains the queue and writes Events
one at a time, correlating them first as client-go's EventCorrelator does:

- spam filter: a token bucket per (source, involved object, type), burst 25, one token per 300 s;
  events over it are dropped;
- aggregation: once 10 events differing only in message arrive within 600 s, later ones become one
  "(combined from similar events): ..." Event;
- deduplication: a repeat of an identical event (same source, object, type, reason and message) PATCHes
  count+1 and lastTimestamp onto the Event already written; if that Event is gone it is re-created.

Writes are retried (12 tries, 10 s apart, the first delay random) unless the server refuses them for
good (AlreadyExists, a terminating namespace, other 4xx). Events are best effort: `run()` never fails
because of one, and when cancelled it writes what is still queued within a short bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from irc.runtime import errors
from irc.runtime.client import Client, Obj
from irc.runtime.clock import Clock, RealClock

log = logging.getLogger(__name__)
# Every recorded Event is also a log line (Normal: info, Warning: warning), so a manager's log tells
# what it did with the same facts as its Events, including those the spam filter or a full queue drop.
actions = logging.getLogger("irc.events")

EventType = Literal["Normal", "Warning"]
NORMAL: EventType = "Normal"
WARNING: EventType = "Warning"

# Events waiting to be written, one at a time, by the manager's one broadcaster. client-go keeps 1000;
# workload-rewrite's 16 workers per kind switching 1,000 Deployments recorded Events faster than a
# loaded apiserver took them, and 64 of 1,150 were dropped (docs/performance.md, 2026-12-04).
QUEUE_SIZE = 4096
CACHE_SIZE = 4096  # keys in each LRU: spam buckets, aggregation records, written events
MAX_MESSAGE = 1024
SPAM_BURST = 25
SPAM_REFILL_SECONDS = 300.0
AGGREGATE_THRESHOLD = 10
AGGREGATE_WINDOW = 600.0
AGGREGATE_PREFIX = "(combined from similar events): "
MAX_TRIES = 12
RETRY_DELAY = 10.0
FLUSH_TIMEOUT = 5.0
# The fields that identify the involved object in every key (its resourceVersion changes, it does not).
_OBJECT_FIELDS = ("apiVersion", "kind", "namespace", "name", "uid")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A dict that forgets its least recently used key beyond `size` keys."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size, self._items = size, OrderedDict[K, V]()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


@dataclass(frozen=True)
class _Recorded:
    """One call of EventRecorder.event, stamped with both clocks when it was made."""

    component: str
    involved: Mapping[str, str]
    type: str
    reason: str
    message: str
    wall: float
    now: float


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class _Similar:
    """Distinct messages seen for one aggregation key; `last` is when the latest one came."""

    last: float
    messages: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Written:
    name: str
    count: int


@dataclass(frozen=True)
class _Write:
    """An Event to create, or, when `patch` is set, a repeat to patch onto the Event `body` names."""

    key: tuple[str, ...]
    body: Obj
    patch: Obj | None


class EventRecorder(Protocol):
    """What a reconciler records Events with: `mgr.recorder(name)`, or `FakeRecorder` in a test."""

    def event(self, obj: Mapping[str, Any], type: EventType, reason: str, message: str) -> None:
        """Record an Event about `obj` (a raw object); never blocks, never raises."""


class _Recorder:
    """Records Events as one component (a controller's name, shown as "From" by kubectl describe)."""

    def __init__(self, broadcaster: EventBroadcaster, component: str) -> None:
        self._broadcaster, self.component = broadcaster, component

    def event(self, obj: Mapping[str, Any], type: EventType, reason: str, message: str) -> None:
        self._broadcaster._record(self.component, obj, type, reason, message)


def summarize(names: Sequence[str], limit: int = 10) -> str:
    """`a, b, c` for an Event's message, at most `limit` names and then "and N more": one Event
    about a thousand objects must stay readable (and under the message limit)."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


class EventBroadcaster:
    """Writes the Events of all its recorders through `client`; `run()` must be running to write them.

    `retry_delay` is the pause between tries (the first one random in 0..retry_delay) and
    `flush_timeout` bounds the writes of queued events once `run()` is cancelled; tests shrink both.
    """

    def __init__(
        self,
        client: Client,
        *,
        component: str = "irc",
        host: str | None = None,
        clock: Clock | None = None,
        queue_size: int = QUEUE_SIZE,
        max_tries: int = MAX_TRIES,
        retry_delay: float = RETRY_DELAY,
        flush_timeout: float = FLUSH_TIMEOUT,
    ) -> None:
        self._client = client
        self.component = component
        self.host = host if host is not None else socket.gethostname()
        self._clock = clock or RealClock()
        self._queue: asyncio.Queue[_Recorded] = asyncio.Queue(queue_size)
        self._max_tries, self._retry_delay, self._flush_timeout = max_tries, retry_delay, flush_timeout
        self._buckets = _Lru[tuple[str, ...], _Bucket]()
        self._similar = _Lru[tuple[str, ...], _Similar]()
        self._written = _Lru[tuple[str, ...], _Written]()
        self._last_nanos = 0

    def recorder(self, name: str | None = None) -> EventRecorder:
        """A recorder whose Events come from `name` (default: this broadcaster's component)."""
        return _Recorder(self, name or self.component)

    def _record(self, component: str, obj: Mapping[str, Any], type: str, reason: str, message: str) -> None:
        try:
            if type not in (NORMAL, WARNING):
                raise ValueError(f"unsupported event type {type!r}")
            metadata = obj.get("metadata") or {}
            involved = {"apiVersion": str(obj["apiVersion"]), "kind": str(obj["kind"])}
            involved |= {
                k: str(v) for k in ("namespace", "name", "uid", "resourceVersion") if (v := metadata.get(k))
            }
            if "name" not in involved:
                raise ValueError("object has no metadata.name")
            where = "/".join(involved[k] for k in ("namespace", "name") if k in involved)
            actions.log(
                logging.INFO if type == NORMAL else logging.WARNING,
                "%s %s: %s: %s",
                involved["kind"],
                where,
                reason,
                message,
                extra={"object": f"{involved['kind']}/{where}", "reason": reason},
            )
            wall, now = self._clock.wall(), self._clock.now()
            self._queue.put_nowait(
                _Recorded(component, involved, type, reason, message[:MAX_MESSAGE], wall, now)
            )
        except asyncio.QueueFull:
            log.warning("event queue full, dropping event %s %s: %s", type, reason, message)
        except Exception:
            log.exception("cannot record event %s %s: %s", type, reason, message)

    async def run(self) -> None:
        """Write queued Events until cancelled, then flush what is still queued within `flush_timeout`.

        Nothing in here raises but cancellation: correlation works on the strings `_record` checked,
        and `_send` logs whatever a write raises."""
        current: _Write | None = None
        try:
            while True:
                current = self._correlate(await self._queue.get())
                if current is not None:
                    await self._send(current, self._max_tries)
                current = None
                self._queue.task_done()
        finally:
            await self._flush(current)

    async def _flush(self, interrupted: _Write | None) -> None:
        try:
            async with asyncio.timeout(self._flush_timeout):
                if interrupted is not None:  # cancelled while writing it: one more try
                    await self._send(interrupted, 1)
                    self._queue.task_done()
                while not self._queue.empty():
                    if (write := self._correlate(self._queue.get_nowait())) is not None:
                        await self._send(write, 1)
                    self._queue.task_done()
        except TimeoutError:
            log.warning("stopped with %d queued events not written", self._queue.qsize())

    async def wait_idle(self) -> None:
        """Return once every event recorded so far is written or dropped (while `run()` runs)."""
        await self._queue.join()

    # ---- correlation: spam filter, aggregation, deduplication

    def _correlate(self, event: _Recorded) -> _Write | None:
        obj = tuple(event.involved.get(k, "") for k in _OBJECT_FIELDS)
        spam_key = (event.component, self.host, *obj, event.type)
        if not self._allow(spam_key, event.now):
            log.debug("event %s %s over the spam limit, dropped: %s", event.type, event.reason, event.message)
            return None
        message, key = self._aggregate((*spam_key, event.reason), event)
        stamp = _rfc3339(event.wall)
        seen = self._written.get(key)
        name, count = (self._name(event), 1) if seen is None else (seen.name, seen.count + 1)
        self._written.put(key, _Written(name, count))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": event.involved.get("namespace") or "default"},
            "involvedObject": dict(event.involved),
            "reason": event.reason,
            "message": message,
            "type": event.type,
            "source": {"component": event.component, "host": self.host},
            "reportingComponent": event.component,
            "reportingInstance": f"{event.component}-{self.host}"[:128],
            "firstTimestamp": stamp,  # sent only by a create, which starts a new Event
            "lastTimestamp": stamp,
            "count": count,
        }
        patch = None if seen is None else {"count": count, "lastTimestamp": stamp, "message": message}
        return _Write(key, body, patch)

    def _allow(self, key: tuple[str, ...], now: float) -> bool:
        bucket = self._buckets.get(key) or _Bucket(SPAM_BURST, now)
        bucket.tokens = min(SPAM_BURST, bucket.tokens + (now - bucket.last) / SPAM_REFILL_SECONDS)
        bucket.last = now
        self._buckets.put(key, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _aggregate(self, key: tuple[str, ...], event: _Recorded) -> tuple[str, tuple[str, ...]]:
        """The message and deduplication key: the event's own, or the combined ones past the threshold."""
        similar = self._similar.get(key)
        if similar is None or event.now - similar.last > AGGREGATE_WINDOW:
            similar = _Similar(event.now)
        similar.last = event.now
        similar.messages.add(event.message)
        self._similar.put(key, similar)
        if len(similar.messages) < AGGREGATE_THRESHOLD:
            return event.message, (*key, event.message)
        similar.messages.pop()  # stay at the threshold, as client-go does
        return (AGGREGATE_PREFIX + event.message)[:MAX_MESSAGE], key

    def _name(self, event: _Recorded) -> str:
        # Strictly increasing, so two events in the same clock tick still get distinct names.
        self._last_nanos = max(int(event.wall * 1e9), self._last_nanos + 1)
        return f"{event.involved['name']}.{self._last_nanos:x}"

    # ---- writing

    async def _send(self, write: _Write, tries: int) -> None:
        for attempt in range(1, tries + 1):
            try:
                written = await self._write_once(write)
            except errors.ApiError as e:
                if _permanent(e):
                    if isinstance(e, errors.AlreadyExists) or _terminating(e):
                        log.debug("event %s not written: %s", _describe(write), e)
                    else:
                        log.warning("server rejected event %s, not retrying: %s", _describe(write), e)
                    return
                error: Exception = e
            except Exception as e:
                error = e
            else:
                # Remember what the server holds now (a re-created Event counts from one again).
                count = written.get("count")
                if isinstance(count, int):
                    seen = self._written.get(write.key)
                    if seen is not None:
                        self._written.put(write.key, _Written(seen.name, count))
                return
            if attempt == tries:
                log.warning("event %s not written after %d tries: %s", _describe(write), tries, error)
                return
            log.info("cannot write event %s (will retry): %s", _describe(write), error)
            # The first delay is random so that clients do not retry in step after an outage.
            await self._clock.sleep(
                random.uniform(0, self._retry_delay) if attempt == 1 else self._retry_delay
            )

    async def _write_once(self, write: _Write) -> Obj:
        if write.patch is None:
            return await self._client.create(write.body)
        metadata = write.body["metadata"]
        try:
            return await self._client.patch(
                "v1",
                "Event",
                metadata["name"],
                write.patch,
                namespace=metadata["namespace"],
                patch_type="strategic",
            )
        except errors.NotFound:
            pass  # the Event expired (after 1 h by default) or was deleted: write it anew, counting from one
        return await self._client.create({**write.body, "count": 1})


def _permanent(error: errors.ApiError) -> bool:
    return 400 <= error.status < 500 and error.status != 429


def _terminating(error: errors.ApiError) -> bool:
    details = error.body.get("details")
    causes = details.get("causes") if isinstance(details, Mapping) else None
    return any(isinstance(c, Mapping) and c.get("reason") == "NamespaceTerminating" for c in causes or ())


def _describe(write: _Write) -> str:
    body = write.body
    return f"{body['metadata']['namespace']}/{body['metadata']['name']} ({body['type']} {body['reason']})"


def _rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
