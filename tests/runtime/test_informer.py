"""The informer's reflector loop against a scripted API server (MockTransport) on a FakeClock:
ordering of store and handlers, re-watch without relist, 410 → relist with tombstones, the
streaming-list fallback, backoff, the readiness check, and retrying a server that refuses connections."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest

from irc.runtime.client import Client
from irc.runtime.informer import CreateEvent, DeleteEvent, Informer, UpdateEvent
from irc.runtime.testing import FakeClock, running
from irc.runtime.transport import MockTransport, Request, Response

DISCOVERY = {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}


def cm(name: str, rv: int, **data: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(rv),
            "managedFields": [{"manager": "kubectl"}],
        },
        "data": data,
    }


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def lines(*events: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


class FakeApi:
    """Lists `objects` at `list_rv`; each watch request takes the next scripted answer (then empty)."""

    def __init__(self, objects: list[dict[str, Any]], list_rv: int) -> None:
        self.objects, self.list_rv = objects, list_rv
        self.watches: list[Response | Callable[[], Response]] = []
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        if request.path == "/api/v1":
            return Response(200, json.dumps(DISCOVERY).encode())
        params = dict(request.params)
        if params.get("watch") == "true":
            answer = self.watches.pop(0) if self.watches else Response(200, b"")
            return answer() if callable(answer) else answer
        body = {"metadata": {"resourceVersion": str(self.list_rv)}, "items": self.objects}
        return Response(200, json.dumps(body).encode())

    def watch_params(self) -> list[dict[str, str]]:
        return [dict(r.params) for r in self.requests if dict(r.params).get("watch") == "true"]

    def lists(self) -> int:
        return sum(1 for r in self.requests if r.path != "/api/v1" and dict(r.params).get("watch") != "true")


class Seen:
    def __init__(self, informer: Informer) -> None:
        self.log: list[tuple[str, str, bool]] = []
        self.informer = informer

    def create(self, e: CreateEvent) -> None:
        # The store is updated before handlers run.
        assert self.informer.store.get_by("ns", e.obj["metadata"]["name"]) is e.obj
        self.log.append(("create", e.obj["metadata"]["name"], e.is_initial_list))

    def update(self, e: UpdateEvent) -> None:
        self.log.append(("update", e.new["metadata"]["name"], False))

    def delete(self, e: DeleteEvent) -> None:
        assert self.informer.store.get_by("ns", e.obj["metadata"]["name"]) is None
        self.log.append(("delete", e.obj["metadata"]["name"], e.state_unknown))


def make(api: FakeApi, clock: FakeClock, **options: Any) -> tuple[Informer, Seen]:
    informer = Informer(
        Client(MockTransport(api.handle), clock=clock),
        "v1",
        "ConfigMap",
        namespace="ns",
        clock=clock,
        **options,
    )
    seen = Seen(informer)
    informer.add_handler(seen)
    return informer, seen


async def test_list_then_watch_in_order_and_rewatch_without_relist() -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1), cm("b", 2)], list_rv=2)
    api.watches.append(
        Response(
            200,
            lines(
                event("MODIFIED", cm("a", 3, k="v")),
                event("ADDED", cm("c", 4)),
                event("DELETED", cm("b", 5)),
                event("BOOKMARK", {"metadata": {"resourceVersion": "9"}}),
            ),
        )
    )
    informer, seen = make(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)  # the second watch ended at once: backing off
    assert seen.log == [
        ("create", "a", True),
        ("create", "b", True),
        ("update", "a", False),
        ("create", "c", False),
        ("delete", "b", False),
    ]
    assert informer.resource_version == "9"  # from the bookmark, which no handler saw
    assert api.lists() == 1  # the watch ended cleanly: re-watched, never relisted
    params = api.watch_params()
    assert params[0]["resourceVersion"] == "2" and params[1]["resourceVersion"] == "9"
    assert params[0]["allowWatchBookmarks"] == "true" and 300 <= int(params[0]["timeoutSeconds"]) < 600
    assert "managedFields" not in informer.store.get_by("ns", "a")["metadata"]  # type: ignore[index]


async def test_gone_relists_with_a_consistent_read_and_reports_tombstones() -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1), cm("b", 2)], list_rv=2)

    def expired() -> Response:
        api.objects, api.list_rv = [cm("a", 7, k="new"), cm("c", 8)], 8  # b vanished meanwhile
        return Response(200, lines(event("ERROR", {"code": 410, "reason": "Expired", "message": "too old"})))

    api.watches.append(expired)
    informer, seen = make(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)
    assert seen.log[2:] == [("delete", "b", True), ("update", "a", False), ("create", "c", False)]
    list_requests = [
        dict(r.params) for r in api.requests if r.path != "/api/v1" and dict(r.params).get("watch") != "true"
    ]
    assert "resourceVersion" not in list_requests[1]  # "" / unset: a consistent read, not the stale version


async def test_streaming_list_falls_back_to_list_and_watch() -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=1)
    refusal = {
        "kind": "Status",
        "code": 500,
        "reason": "InternalError",
        "message": "required storage feature RequestWatchProgress is disabled",
    }
    api.watches.append(Response(500, json.dumps(refusal).encode()))
    informer, seen = make(api, clock, watch_list=True)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
    assert seen.log == [("create", "a", True)]
    first = api.watch_params()[0]
    assert first["sendInitialEvents"] == "true" and first["resourceVersionMatch"] == "NotOlderThan"
    assert api.lists() == 1


async def test_streaming_list_fills_the_store_at_the_end_bookmark() -> None:
    clock = FakeClock()
    api = FakeApi([], list_rv=0)
    end = {"metadata": {"resourceVersion": "5", "annotations": {"k8s.io/initial-events-end": "true"}}}
    api.watches.append(
        Response(
            200,
            lines(
                event("ADDED", cm("a", 3)),
                event("ADDED", cm("b", 4)),
                event("BOOKMARK", end),
                event("MODIFIED", cm("a", 6)),
            ),
        )
    )
    informer, seen = make(api, clock, watch_list=True)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)
    assert seen.log == [("create", "a", True), ("create", "b", True), ("update", "a", False)]
    assert api.lists() == 0 and informer.resource_version == "6"


@pytest.mark.parametrize("watch_list", [False, True], ids=["list-then-watch", "streaming-list"])
async def test_a_metadata_only_informer_lists_and_watches_metadata(watch_list: bool) -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1, k="v")], list_rv=1)
    end = {"metadata": {"resourceVersion": "1", "annotations": {"k8s.io/initial-events-end": "true"}}}
    api.watches.append(Response(200, lines(event("ADDED", cm("a", 1, k="v")), event("BOOKMARK", end))))
    informer, seen = make(api, clock, watch_list=watch_list, metadata_only=True)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)  # the next watch ended at once: every request has been sent
    assert seen.log[0] == ("create", "a", True)
    # Only metadata (and the default transform still drops managedFields), under the watched kind.
    assert informer.store.list() == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1"},
        }
    ]
    accepts = {(dict(r.params).get("watch") == "true", r.accept) for r in api.requests if r.path != "/api/v1"}
    metadata_watch = (True, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json")
    metadata_list = (
        False,
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json",
    )
    assert accepts == ({metadata_watch} if watch_list else {metadata_list, metadata_watch})


async def test_readiness_fails_while_the_watch_keeps_failing_and_recovers() -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=1)
    informer, _ = make(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        for _ in range(3):  # every watch closes at once with nothing: a failure each time, with backoff
            await clock.wait_for_sleepers(1)
            clock.advance(60)
        await clock.wait_for_sleepers(1)
        with pytest.raises(RuntimeError, match="no watch open for"):
            await informer.check()
        api.watches.append(Response(200, lines(event("MODIFIED", cm("a", 2)))))
        clock.advance(60)
        await clock.wait_for_sleepers(1)
        # Recovered: a watch delivered an event, so the failure count starts again.
        await informer.check()


async def test_a_handler_added_late_gets_the_cache_as_creates() -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1), cm("b", 2)], list_rv=2)
    informer, _ = make(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        late = Seen(informer)
        informer.add_handler(late)
    assert sorted(late.log) == [("create", "a", True), ("create", "b", True)]


class Dropped(Exception):
    """Marks a scripted watch answer whose connection drops after its body."""

    def __init__(self, response: Response) -> None:
        self.response = response


class DroppingTransport(MockTransport):
    """MockTransport whose watch answers may be `Dropped`: the body, then ClientPayloadError."""

    def __init__(self, api: FakeApi) -> None:
        super().__init__(api.handle)
        self.api = api

    @contextlib.asynccontextmanager
    async def stream(self, request: Request, read_timeout: float | None) -> AsyncIterator[Any]:
        try:
            answer = await self.api.handle(request)
        except Dropped as d:
            yield _Dropping(d.response)
        else:
            yield _Dropping(answer, drop=False)


class _Dropping:
    def __init__(self, response: Response, *, drop: bool = True) -> None:
        self.status, self.headers, self.body, self.drop = (
            response.status,
            response.headers,
            response.body,
            drop,
        )

    async def read(self) -> bytes:
        return self.body

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.body
        if self.drop:
            raise aiohttp.ClientPayloadError("connection dropped")


def dropping(api: FakeApi, clock: FakeClock, *, watch_list: bool) -> Informer:
    return Informer(
        Client(DroppingTransport(api), clock=clock),
        "v1",
        "ConfigMap",
        namespace="ns",
        clock=clock,
        watch_list=watch_list,
    )


def dropped(response: Response) -> Callable[[], Response]:
    def answer() -> Response:
        raise Dropped(response)

    return answer


@pytest.mark.parametrize("watch_list", [False, True], ids=["list-then-watch", "streaming-list"])
async def test_a_dropped_watch_resumes_from_its_resource_version_without_relisting(watch_list: bool) -> None:
    """client-go re-watches from the last resourceVersion after a connection drop: a rolling apiserver
    restart must not re-send every object (a streaming list, or a LIST) to every informer."""
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=1)
    end = {"metadata": {"resourceVersion": "1", "annotations": {"k8s.io/initial-events-end": "true"}}}
    first = [event("ADDED", cm("a", 1)), event("BOOKMARK", end)] if watch_list else []
    api.watches.append(dropped(Response(200, lines(*first, event("MODIFIED", cm("a", 4))))))
    informer = dropping(api, clock, watch_list=watch_list)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)  # the drop: backing off
        clock.advance(60)
        await clock.wait_for_sleepers(1)  # the resumed watch ended at once: backing off again
    assert api.lists() == (0 if watch_list else 1)
    resumed = api.watch_params()[1]
    assert resumed["resourceVersion"] == "4" and "sendInitialEvents" not in resumed


async def test_a_relist_at_a_known_resource_version_is_not_paged() -> None:
    """With a limit, a list at a resourceVersion is an exact read from etcd (410 once compacted);
    unpaged, the watch cache serves it "not older than", as client-go's reflector relies on."""
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=3)
    api.watches.append(Response(200, lines(event("ERROR", {"code": 500, "reason": "InternalError"}))))
    informer, _ = make(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)
        clock.advance(60)
        await clock.wait_for_sleepers(1)
    lists = [
        dict(r.params) for r in api.requests if r.path != "/api/v1" and dict(r.params).get("watch") != "true"
    ]
    assert lists[0]["limit"] == "500" and "resourceVersion" not in lists[0]  # the first: consistent, paged
    assert lists[1] == {"resourceVersion": "3"}  # the relist after the error: unpaged at the known version


async def test_readiness_recovers_as_soon_as_a_watch_delivers_again() -> None:
    """Not only when a watch ends cleanly (5 to 10 minutes later): events flowing are health."""
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=1)
    informer = dropping(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        for _ in range(3):
            await clock.wait_for_sleepers(1)
            clock.advance(60)
        await clock.wait_for_sleepers(1)
        with pytest.raises(RuntimeError, match="no watch open for"):
            await informer.check()
        api.watches.append(dropped(Response(200, lines(event("MODIFIED", cm("a", 2))))))
        clock.advance(60)
        await clock.wait_for_sleepers(1)  # delivered, then dropped: one failure since, not four
        await informer.check()


async def test_gone_right_after_a_drop_relists_at_once() -> None:
    """The usual way to meet 410: a connection drops, and the resumed watch's version was compacted
    meanwhile. That relist is not delayed by another backoff; only Gone after Gone backs off."""
    clock = FakeClock()
    api = FakeApi([cm("a", 1)], list_rv=1)
    api.watches.append(dropped(Response(200, lines(event("MODIFIED", cm("a", 2))))))
    api.watches.append(Response(200, lines(event("ERROR", {"code": 410, "reason": "Expired"}))))
    informer = dropping(api, clock, watch_list=False)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)  # the drop: backing off
        clock.advance(60)
        await clock.wait_for_sleepers(1)  # resumed, Gone, relisted, and the next watch ended at once
        assert api.lists() == 2


# ---- readiness that tells the truth, and catching up after a restart


class Flaky(MockTransport):
    """Lists from `api`; each watch follows the next step of `script` (then "refuse"): "refuse" (the
    connect is refused, as by a stopped apiserver), "fail" (a 500), "429" (Too Many Requests, as API
    priority and fairness answers), or "open" (accepted, then idle until `drop()`, when the
    connection drops)."""

    def __init__(self, api: FakeApi) -> None:
        super().__init__(api.handle)
        self.script: list[str] = []
        self.watches = 0
        self._dropped = asyncio.Event()

    def drop(self) -> None:
        self._dropped.set()

    @contextlib.asynccontextmanager
    async def stream(self, request: Request, read_timeout: float | None) -> AsyncIterator[Any]:
        self.watches += 1
        step = self.script.pop(0) if self.script else "refuse"
        if step == "refuse":
            key = cast(Any, SimpleNamespace(host="127.0.0.1", port=6443, ssl=True))
            raise aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))
        if step == "fail":
            yield _Dropping(
                Response(500, b'{"kind":"Status","code":500,"reason":"InternalError"}'), drop=False
            )
            return
        if step == "429":  # as API priority and fairness sheds load
            body = b'{"kind":"Status","code":429,"reason":"TooManyRequests"}'
            yield _Dropping(Response(429, body, {"Retry-After": "1"}), drop=False)
            return
        self._dropped = asyncio.Event()
        yield _Idle(self._dropped)


class _Idle:
    status, headers = 200, {}  # type: ignore[var-annotated]

    def __init__(self, dropped: asyncio.Event) -> None:
        self.dropped = dropped

    async def read(self) -> bytes:
        return b""

    async def chunks(self) -> AsyncIterator[bytes]:
        await self.dropped.wait()
        raise aiohttp.ClientPayloadError("connection dropped")
        yield b""  # an async generator


def flaky(clock: FakeClock) -> tuple[Informer, Flaky]:
    transport = Flaky(FakeApi([cm("a", 1)], list_rv=1))
    informer = Informer(
        Client(transport, clock=clock), "v1", "ConfigMap", namespace="ns", clock=clock, watch_list=False
    )
    return informer, transport


async def step(clock: FakeClock, seconds: float) -> None:
    """Advance in 0.25 s steps, letting the informer run (it is the clock's only sleeper between)."""
    for _ in range(round(seconds / 0.25)):
        clock.advance(0.25)
        for _ in range(20):
            await asyncio.sleep(0)


async def test_readiness_fails_within_seconds_of_the_watch_going_down_and_an_idle_watch_is_health() -> None:
    clock = FakeClock()
    informer, transport = flaky(clock)
    transport.script = ["open"]
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await step(clock, 1.5)
        await informer.check()  # open, with no event at all: an idle namespace is healthy
        transport.drop()
        await step(clock, 2.5)
        await informer.check()  # down, but not for long yet
        await step(clock, 1.0)
        with pytest.raises(
            RuntimeError, match=r"ConfigMap.* has had no watch open for 3 s .*Connection refused"
        ):
            await informer.check()
        transport.script = ["open"]
        await step(clock, 1.5)  # the next attempt opens
        await step(clock, 1.25)  # and stays open for a second
        await informer.check()


async def test_a_refusing_server_is_tried_again_every_second_or_so_however_long_it_refuses() -> None:
    """client-go's backoff would wait up to 30 s by the tenth failure; a refused connect costs nothing."""
    clock = FakeClock()
    informer, transport = flaky(clock)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        attempts = [transport.watches]
        for _ in range(12):
            await step(clock, 1.5)
            attempts.append(transport.watches)
    assert all(b > a for a, b in itertools.pairwise(attempts)), attempts  # one or more in every 1.5 s


async def test_the_backoff_starts_again_after_a_watch_that_was_established() -> None:
    clock = FakeClock()
    informer, transport = flaky(clock)
    transport.script = ["fail"] * 6 + ["open", "fail"]
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        for _ in range(200):  # failures on an answering server: the backoff grows to 25.6 s and more
            if transport.watches == 7:
                break
            await step(clock, 1)
        assert transport.watches == 7  # the watch is open
        # Open for 2 s: established, and dropped well within the 2 minutes after the last failure that
        # would forget the backoff anyway (this test once let the watch stay open for 280 s, so it
        # passed without the reset it is about).
        await step(clock, 2)
        transport.drop()
        await step(clock, 1.75)  # a dropped connection is tried again within 1.5 s
        assert transport.watches == 8  # and fails (500); the next wait is at least 0.8 s
        await step(clock, 1.75)  # the first backoff again (at most 1.6 s), not 51.2 s or more
        assert transport.watches >= 9


async def test_a_watch_dropped_again_and_again_as_it_opens_is_resumed_within_seconds_each_time() -> None:
    """A network that flaps (e2e/chaos/test_watch_faults.py cuts it off again 30 ms after the informer
    is back) is not a failing server. Before, each drop came before the watch counted as established,
    so the backoff grew drop after drop and the informer slept 50 s past the network's return."""
    clock = FakeClock()
    informer, transport = flaky(clock)
    transport.script = ["open"] * 8
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        for drop in range(7):
            assert transport.watches == drop + 1
            transport.drop()  # as soon as it opened
            await step(clock, 1.75)  # a retry after 1 to 1.5 s, every time
        assert transport.watches == 8


class LineByLine(MockTransport):
    """A watch's body one line per chunk, counting the chunks delivered."""

    def __init__(self, api: FakeApi) -> None:
        super().__init__(api.handle)
        self.api, self.delivered = api, 0

    @contextlib.asynccontextmanager
    async def stream(self, request: Request, read_timeout: float | None) -> AsyncIterator[Any]:
        answer = await self.api.handle(request)
        yield _Lines(answer, self)


class _Lines:
    def __init__(self, response: Response, transport: LineByLine) -> None:
        self.status, self.headers, self.body, self.transport = (
            response.status,
            response.headers,
            response.body,
            transport,
        )

    async def read(self) -> bytes:
        return self.body

    async def chunks(self) -> AsyncIterator[bytes]:
        for line in self.body.splitlines(keepends=True):
            self.transport.delivered += 1
            yield line


async def test_a_streaming_list_transforms_each_object_as_it_arrives_and_once() -> None:
    """Not after the whole list has landed: that held every untransformed object at once (twice the
    memory per cached object, kept as fragmentation after the sync). And once: a transform need not be
    idempotent."""
    clock = FakeClock()
    api = FakeApi([], list_rv=0)
    end = {"metadata": {"resourceVersion": "2", "annotations": {"k8s.io/initial-events-end": "true"}}}
    api.watches.append(
        Response(200, lines(event("ADDED", cm("a", 1)), event("ADDED", cm("b", 2)), event("BOOKMARK", end)))
    )
    transport = LineByLine(api)
    delivered_at_transform: list[int] = []

    def count(obj: dict[str, Any]) -> dict[str, Any]:
        delivered_at_transform.append(transport.delivered)
        obj["metadata"]["transformed"] = obj["metadata"].get("transformed", 0) + 1
        return obj

    informer = Informer(
        Client(transport, clock=clock), "v1", "ConfigMap", namespace="ns", clock=clock, transform=count
    )
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
    assert delivered_at_transform == [1, 2]  # each as its line came, before the end bookmark (3)
    assert [o["metadata"]["transformed"] for o in informer.store.list()] == [1, 1]


async def test_a_watch_answered_429_backs_off_and_carries_on() -> None:
    """client-go's reflector backs off on 429 rather than hammering a server that sheds load, and the
    informer lives on: no relist (the cache is still good), and the next watch resumes."""
    clock = FakeClock()
    informer, transport = flaky(clock)
    transport.script = ["429", "429", "429", "open"]
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await step(clock, 0.5)
        assert transport.watches == 1  # backing off, not retrying at once
        await step(clock, 12)  # 0.8 to 1.6, 1.6 to 3.2, 3.2 to 6.4 s
        assert transport.watches == 4
        await step(clock, 1.25)
        await informer.check()  # the open watch is health again
    assert informer.resource_version == "1"


@pytest.mark.parametrize("watch_list", [False, True], ids=["list-then-watch", "streaming-list"])
async def test_a_list_loads_with_the_collector_paused_and_later_events_with_it_on(watch_list: bool) -> None:
    clock = FakeClock()
    api = FakeApi([cm("a", 1), cm("b", 2)], list_rv=2)
    end = {"metadata": {"resourceVersion": "2", "annotations": {"k8s.io/initial-events-end": "true"}}}
    initial = [event("ADDED", cm("a", 1)), event("ADDED", cm("b", 2)), event("BOOKMARK", end)]
    api.watches.append(Response(200, lines(*(initial if watch_list else []), event("MODIFIED", cm("a", 3)))))
    collector_on: dict[str, list[bool]] = {}

    def transform(obj: dict[str, Any]) -> dict[str, Any]:  # called for each object as it is loaded
        collector_on.setdefault(obj["metadata"]["name"], []).append(gc.isenabled())
        return obj

    informer, _ = make(api, clock, watch_list=watch_list, transform=transform)
    async with running(informer.run()):
        await informer.wait_for_sync(within=5)
        await clock.wait_for_sleepers(1)
        assert gc.isenabled()
    assert collector_on == {"a": [False, True], "b": [False]}
