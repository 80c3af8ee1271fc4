"""Tests for irc.runtime.events: a broadcaster writing through a Client to an in-memory events endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from irc.runtime.client import Client, Obj
from irc.runtime.events import EventBroadcaster, summarize
from irc.runtime.testing import FakeClock
from irc.runtime.transport import MockTransport, Request, Response

START = "2023-11-14T22:13:20Z"  # FakeClock's wall time at 0
DISCOVERY = {"resources": [{"name": "events", "kind": "Event", "namespaced": True}]}
EVENTS_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/events(?:/([^/]+))?")
CM: Obj = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cm", "namespace": "team-a", "uid": "uid-1", "resourceVersion": "7"},
}
NODE: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "uid": "uid-2"}}


def reply(status: int, body: object) -> Response:
    return Response(status, json.dumps(body).encode())


def status(code: int, reason: str, **details: object) -> Response:
    body = {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": reason}
    return reply(code, {**body, "details": details} if details else body)


class FakeEventsApi:
    """The events endpoint of an API server, in memory: POST creates, PATCH merges top-level fields."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], Obj] = {}
        self.writes: list[Request] = []
        self.failures: list[Response | Exception] = []  # answers to the next writes, in order
        self.hold: asyncio.Event | None = None  # the next write waits for it
        self.held = asyncio.Event()  # set once a write is waiting on `hold`
        self._resource_version = 0

    def only(self) -> Obj:
        (event,) = self.events.values()
        return event

    def by_reason(self) -> dict[str, Obj]:
        return {event["reason"]: event for event in self.events.values()}

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/api/v1":
            return reply(200, DISCOVERY)
        self.writes.append(request)
        if self.hold is not None:
            hold, self.hold = self.hold, None
            self.held.set()
            await hold.wait()
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        match = EVENTS_PATH.fullmatch(request.path)
        assert match is not None, request.path
        namespace, name = match.groups()
        assert request.body is not None
        body = json.loads(request.body)
        self._resource_version += 1
        if request.method == "POST":
            key = (namespace, body["metadata"]["name"])
            if key in self.events:
                return status(409, "AlreadyExists")
            assert body["metadata"]["namespace"] == namespace
            body["metadata"]["resourceVersion"] = str(self._resource_version)
            self.events[key] = body
            return reply(201, body)
        assert request.method == "PATCH"
        assert request.content_type == "application/strategic-merge-patch+json"
        event = self.events.get((namespace, name))
        if event is None:
            return status(404, "NotFound")
        event.update(body)
        event["metadata"]["resourceVersion"] = str(self._resource_version)
        return reply(200, event)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api() -> FakeEventsApi:
    return FakeEventsApi()


@pytest.fixture
def broadcaster(api: FakeEventsApi, clock: FakeClock) -> EventBroadcaster:
    return EventBroadcaster(Client(MockTransport(api.handle)), host="node-1", clock=clock)


@contextlib.asynccontextmanager
async def running(broadcaster: EventBroadcaster) -> AsyncIterator[asyncio.Task[None]]:
    async with asyncio.TaskGroup() as tasks:
        task = tasks.create_task(broadcaster.run(), name="event-broadcaster")
        try:
            yield task
        finally:
            task.cancel()


async def settle(broadcaster: EventBroadcaster) -> None:
    async with asyncio.timeout(5):  # a hang guard, not a timing assertion
        await broadcaster.wait_idle()


async def advance_sleeper(clock: FakeClock, seconds: float) -> None:
    """Wait for the broadcaster's retry sleep, then let `seconds` pass."""
    async with asyncio.timeout(5):
        await clock.wait_for_sleepers(1)
    clock.advance(seconds)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "irc.runtime.events" and r.levelno >= 30]


# ---- what is written


async def test_an_event_is_created_with_client_gos_name_and_fields(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    async with running(broadcaster):
        broadcaster.recorder("image-backup").event(CM, "Normal", "Copied", "copied 3 images")
        await settle(broadcaster)

    assert [(w.method, w.path) for w in api.writes] == [("POST", "/api/v1/namespaces/team-a/events")]
    assert api.only() == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "cm.17979cfe362a0000", "namespace": "team-a", "resourceVersion": "1"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "cm",
            "namespace": "team-a",
            "uid": "uid-1",
            "resourceVersion": "7",
        },
        "reason": "Copied",
        "message": "copied 3 images",
        "type": "Normal",
        "source": {"component": "image-backup", "host": "node-1"},
        "reportingComponent": "image-backup",
        "reportingInstance": "image-backup-node-1",
        "firstTimestamp": START,
        "lastTimestamp": START,
        "count": 1,
    }


async def test_each_recorded_event_is_a_log_line_at_its_level_even_when_the_spam_filter_drops_it(
    broadcaster: EventBroadcaster, api: FakeEventsApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="irc.events")
    recorder = broadcaster.recorder("image-backup")
    async with running(broadcaster):
        recorder.event(CM, "Normal", "Copied", "copied in 1.2 s: 300 of 300 bytes sent")
        recorder.event(CM, "Warning", "SourceUnauthorized", "the source refused the credentials")
        for n in range(30):  # over the spam filter's burst of 25: the Events stop, the lines do not
            recorder.event(CM, "Normal", "Progress", f"step {n}")
        await settle(broadcaster)

    lines = [r for r in caplog.records if r.name == "irc.events"]
    assert [(r.levelname, r.getMessage()) for r in lines[:2]] == [
        ("INFO", "ConfigMap team-a/cm: Copied: copied in 1.2 s: 300 of 300 bytes sent"),
        ("WARNING", "ConfigMap team-a/cm: SourceUnauthorized: the source refused the credentials"),
    ]
    assert [(r.__dict__["object"], r.__dict__["reason"]) for r in lines[:1]] == [
        ("ConfigMap/team-a/cm", "Copied")
    ]
    assert len(lines) == 32 and len(api.writes) < 32


async def test_events_of_a_cluster_scoped_object_go_to_default(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    async with running(broadcaster):
        broadcaster.recorder().event(NODE, "Warning", "Unreachable", "no route")
        await settle(broadcaster)

    event = api.only()
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "uid-2"}
    assert event["source"] == {"component": "irc", "host": "node-1"}


async def test_distinct_events_in_one_clock_tick_get_distinct_names(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    recorder = broadcaster.recorder("policy")
    async with running(broadcaster):
        recorder.event(CM, "Normal", "A", "one")
        recorder.event(CM, "Normal", "B", "two")
        await settle(broadcaster)

    assert sorted(name for _, name in api.events) == ["cm.17979cfe362a0000", "cm.17979cfe362a0001"]


async def test_messages_are_truncated(broadcaster: EventBroadcaster, api: FakeEventsApi) -> None:
    recorder = broadcaster.recorder("policy")
    async with running(broadcaster):
        recorder.event(CM, "Normal", "Long", "x" * 2000)
        recorder.event(CM, "Warning", "Percent", "100% done")
        await settle(broadcaster)

    messages = {reason: event["message"] for reason, event in api.by_reason().items()}
    assert messages == {"Long": "x" * 1024, "Percent": "100% done"}


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, ""),
        (1, "n0"),
        (10, ", ".join(f"n{i}" for i in range(10))),
        (12, ", ".join(f"n{i}" for i in range(10)) + " and 2 more"),
    ],
)
def test_summarize_names_at_most_ten(count: int, text: str) -> None:
    assert summarize([f"n{i}" for i in range(count)]) == text


# ---- correlation


async def test_a_repeat_patches_count_and_last_timestamp(
    broadcaster: EventBroadcaster, api: FakeEventsApi, clock: FakeClock
) -> None:
    recorder = broadcaster.recorder("policy")
    changed = {**CM, "metadata": {**CM["metadata"], "resourceVersion": "8"}}
    async with running(broadcaster):
        recorder.event(CM, "Warning", "Invalid", "bad spec")
        await settle(broadcaster)
        clock.advance(5)
        recorder.event(changed, "Warning", "Invalid", "bad spec")  # the same object, changed since
        await settle(broadcaster)

    assert [w.method for w in api.writes] == ["POST", "PATCH"]
    assert api.writes[1].path == "/api/v1/namespaces/team-a/events/cm.17979cfe362a0000"
    assert json.loads(api.writes[1].body or b"") == {
        "count": 2,
        "lastTimestamp": "2023-11-14T22:13:25Z",
        "message": "bad spec",
    }
    event = api.only()
    assert (event["count"], event["firstTimestamp"], event["lastTimestamp"]) == (
        2,
        START,
        "2023-11-14T22:13:25Z",
    )


async def test_events_differing_in_message_uid_or_source_are_not_merged(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    recreated = {**CM, "metadata": {**CM["metadata"], "uid": "uid-9"}}
    async with running(broadcaster):
        broadcaster.recorder("policy").event(CM, "Normal", "Synced", "one")
        broadcaster.recorder("policy").event(CM, "Normal", "Synced", "two")
        broadcaster.recorder("policy").event(recreated, "Normal", "Synced", "one")
        broadcaster.recorder("creation").event(CM, "Normal", "Synced", "one")
        await settle(broadcaster)

    assert [w.method for w in api.writes] == ["POST"] * 4
    assert [event["count"] for event in api.events.values()] == [1] * 4


async def test_a_repeat_of_a_deleted_event_creates_it_anew(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    recorder = broadcaster.recorder("policy")
    async with running(broadcaster):
        recorder.event(CM, "Normal", "Synced", "ok")
        await settle(broadcaster)
        api.events.clear()  # expired (event-ttl) or deleted
        recorder.event(CM, "Normal", "Synced", "ok")
        await settle(broadcaster)
        assert [w.method for w in api.writes] == ["POST", "PATCH", "POST"]
        assert api.only()["count"] == 1
        recorder.event(CM, "Normal", "Synced", "ok")
        await settle(broadcaster)

    assert [w.method for w in api.writes] == ["POST", "PATCH", "POST", "PATCH"]
    assert api.only()["count"] == 2


async def test_the_spam_filter_allows_a_burst_of_25_per_object_and_type(
    broadcaster: EventBroadcaster, api: FakeEventsApi, clock: FakeClock
) -> None:
    recorder = broadcaster.recorder("policy")
    async with running(broadcaster):
        for i in range(26):
            recorder.event(CM, "Normal", f"Reason{i}", "spam")
        recorder.event(CM, "Warning", "OtherType", "spam")
        recorder.event(NODE, "Normal", "OtherObject", "spam")
        await settle(broadcaster)
        assert len(api.events) == 27
        assert "Reason25" not in api.by_reason()

        clock.advance(300)  # one token back
        recorder.event(CM, "Normal", "Refilled", "spam")
        recorder.event(CM, "Normal", "StillOver", "spam")
        await settle(broadcaster)

    reasons = api.by_reason()
    assert "Refilled" in reasons
    assert "StillOver" not in reasons


async def test_ten_similar_events_are_combined(broadcaster: EventBroadcaster, api: FakeEventsApi) -> None:
    recorder = broadcaster.recorder("policy")
    async with running(broadcaster):
        for i in range(11):
            recorder.event(CM, "Warning", "PullFailed", f"image {i} not found")
        await settle(broadcaster)

    messages = sorted(event["message"] for event in api.events.values())
    assert len(messages) == 10
    assert messages[0] == "(combined from similar events): image 10 not found"
    assert messages[1:] == [f"image {i} not found" for i in range(9)]
    combined = next(e for e in api.events.values() if e["message"].startswith("(combined"))
    assert combined["count"] == 2
    assert [w.method for w in api.writes] == ["POST"] * 10 + ["PATCH"]


# ---- recording never blocks nor raises


async def test_a_full_queue_drops_events_without_raising(
    api: FakeEventsApi, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    broadcaster = EventBroadcaster(Client(MockTransport(api.handle)), clock=clock, queue_size=2)
    recorder = broadcaster.recorder("policy")
    for reason in ("First", "Second", "Dropped"):
        recorder.event(CM, "Normal", reason, "queued before run()")
    assert any("queue full" in message for message in warnings(caplog))

    async with running(broadcaster):
        await settle(broadcaster)

    assert sorted(api.by_reason()) == ["First", "Second"]


async def test_bad_input_is_logged_not_raised(
    broadcaster: EventBroadcaster, api: FakeEventsApi, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = broadcaster.recorder("policy")
    bad: list[tuple[Any, str, Any]] = [
        (None, "Normal", "message"),
        ({"metadata": {"name": "no-kind"}}, "Normal", "message"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "Normal", "message"),
        (CM, "Info", "message"),
        (CM, "Normal", None),
    ]
    for obj, event_type, message in bad:
        recorder.event(obj, cast(Any, event_type), "Reason", message)
    assert len(warnings(caplog)) == len(bad)

    async with running(broadcaster):
        recorder.event(CM, "Normal", "Good", "after the bad ones")
        await settle(broadcaster)

    assert list(api.by_reason()) == ["Good"]


async def test_transient_write_errors_are_retried(
    broadcaster: EventBroadcaster, api: FakeEventsApi, clock: FakeClock
) -> None:
    # (a 429 never reaches the broadcaster: the client itself retries it)
    api.failures = [
        status(503, "ServiceUnavailable"),
        OSError("connection refused"),
        status(500, "InternalError"),
    ]
    async with running(broadcaster):
        broadcaster.recorder("policy").event(CM, "Normal", "Synced", "ok")
        for _ in range(3):
            await advance_sleeper(clock, 10)
        await settle(broadcaster)

    assert [w.method for w in api.writes] == ["POST"] * 4
    assert api.only()["reason"] == "Synced"


async def test_writes_give_up_after_max_tries(
    api: FakeEventsApi, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(MockTransport(api.handle))
    broadcaster = EventBroadcaster(client, clock=clock, max_tries=3, retry_delay=1)
    api.failures = [status(500, "InternalError")] * 3
    async with running(broadcaster) as task:
        broadcaster.recorder("policy").event(CM, "Normal", "Lost", "never written")
        broadcaster.recorder("policy").event(CM, "Normal", "Next", "written")
        for _ in range(2):
            await advance_sleeper(clock, 1)
        await settle(broadcaster)
        assert not task.done()

    assert len(api.writes) == 4
    assert list(api.by_reason()) == ["Next"]
    assert any("after 3 tries" in message for message in warnings(caplog))


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        (status(422, "Invalid"), True),
        (status(404, "NotFound"), True),
        (status(409, "AlreadyExists"), False),
        (status(403, "Forbidden", causes=[{"reason": "NamespaceTerminating"}]), False),
    ],
)
async def test_refused_writes_are_dropped_without_retry(
    broadcaster: EventBroadcaster,
    api: FakeEventsApi,
    caplog: pytest.LogCaptureFixture,
    answer: Response,
    logged: bool,
) -> None:
    api.failures = [answer]
    async with running(broadcaster):
        broadcaster.recorder("policy").event(CM, "Normal", "Refused", "dropped")
        broadcaster.recorder("policy").event(CM, "Normal", "Next", "written")
        await settle(broadcaster)

    assert len(api.writes) == 2
    assert list(api.by_reason()) == ["Next"]
    assert bool(warnings(caplog)) == logged


# ---- shutdown


async def test_cancelling_run_flushes_queued_events(
    broadcaster: EventBroadcaster, api: FakeEventsApi
) -> None:
    recorder = broadcaster.recorder("policy")
    api.hold = asyncio.Event()  # never set: the first write hangs until run() is cancelled
    async with running(broadcaster) as task:
        recorder.event(CM, "Normal", "InFlight", "cancelled while written")
        async with asyncio.timeout(5):
            await api.held.wait()
        recorder.event(CM, "Normal", "Queued1", "still queued")
        recorder.event(CM, "Normal", "Queued2", "still queued")
        task.cancel()

    assert task.cancelled()
    assert sorted(api.by_reason()) == ["InFlight", "Queued1", "Queued2"]


async def test_the_flush_is_bounded(
    api: FakeEventsApi, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(MockTransport(api.handle))
    broadcaster = EventBroadcaster(client, clock=clock, flush_timeout=0.01)
    api.hold = asyncio.Event()
    async with asyncio.timeout(5):
        async with running(broadcaster) as task:
            broadcaster.recorder("policy").event(CM, "Normal", "InFlight", "written")
            await api.held.wait()
            api.hold = asyncio.Event()  # the retry during the flush hangs too
            broadcaster.recorder("policy").event(CM, "Normal", "Queued", "never written")
            task.cancel()

    assert task.cancelled()
    assert api.events == {}
    assert any("not written" in message for message in warnings(caplog))
