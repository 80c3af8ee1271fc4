"""The controller's outcome handling, in controller-runtime's order, without an API server:
requests are fed with `enqueue`, time is a FakeClock; and the priorities its watches queue at,
through an informer over a scripted API server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable

import pytest
import structlog

from irc.runtime import errors
from irc.runtime.client import WRITE_FENCE, Client
from irc.runtime.controller import Controller, ControllerOptions, Result
from irc.runtime.handlers import EnqueueForObject, Request
from irc.runtime.informer import CreateEvent, DeleteEvent, Informer, UpdateEvent
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.testing import FakeClock, running
from irc.runtime.transport import MockTransport, Response
from irc.runtime.transport import Request as HttpRequest

A, B = Request("ns", "a"), Request("ns", "b")


class Scripted:
    """A reconciler that answers each call from a script and records what it saw."""

    def __init__(self, outcome: Callable[[Request, int], Awaitable[Result | None]]) -> None:
        self.outcome = outcome
        self.calls: list[Request] = []
        self.contexts: list[dict[str, object]] = []
        self.called = asyncio.Event()

    async def reconcile(self, request: Request) -> Result | None:
        self.calls.append(request)
        self.contexts.append(structlog.contextvars.get_contextvars())
        self.called.set()
        return await self.outcome(request, len(self.calls))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def sample(metrics: RuntimeMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"controller": "test", **labels}) or 0.0


def make(reconciler: Scripted, clock: FakeClock, workers: int = 1) -> Controller:
    return Controller("test", reconciler, ControllerOptions(max_concurrent_reconciles=workers), clock=clock)


async def test_success_forgets_backoff_and_counts() -> None:
    async def ok(request: Request, n: int) -> None:
        return None

    clock, r = FakeClock(), Scripted(ok)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        await settle()
    assert r.calls == [A]
    assert c.queue.num_requeues(A) == 0
    assert sample(c.metrics, "controller_runtime_reconcile_total", result="success") == 1
    assert sample(c.metrics, "controller_runtime_reconcile_total", result="error") == 0  # series pre-set


async def test_error_requeues_with_growing_backoff_then_success_resets() -> None:
    async def fail_twice(request: Request, n: int) -> None:
        if n <= 2:
            raise RuntimeError(f"attempt {n}")

    clock, r = FakeClock(), Scripted(fail_twice)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        await settle()
        assert len(r.calls) == 1 and c.queue.num_requeues(A) == 1
        clock.advance(0.004)  # the first retry waits 5 ms: not yet
        await settle()
        assert len(r.calls) == 1
        clock.advance(0.001)
        await settle()
        assert len(r.calls) == 2 and c.queue.num_requeues(A) == 2
        clock.advance(0.01)  # the second waits 10 ms
        await settle()
        assert len(r.calls) == 3
    assert c.queue.num_requeues(A) == 0  # forgotten after the success
    assert sample(c.metrics, "controller_runtime_reconcile_errors_total") == 2
    assert sample(c.metrics, "controller_runtime_reconcile_total", result="error") == 2
    assert sample(c.metrics, "controller_runtime_reconcile_total", result="success") == 1


@pytest.mark.parametrize(
    "error",
    [errors.TerminalError("spec.image is empty"), errors.ReconcileError("InvalidSpec", "bad", terminal=True)],
)
async def test_terminal_error_is_counted_not_requeued(error: Exception) -> None:
    async def bad_spec(request: Request, n: int) -> None:
        raise error

    clock, r = FakeClock(), Scripted(bad_spec)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        await settle()
        clock.advance(2000)
        await settle()
    assert r.calls == [A]
    assert sample(c.metrics, "controller_runtime_terminal_reconcile_errors_total") == 1
    assert len(c.queue) == 0 and c.queue.statistics().waiting == 0


async def test_a_reconcile_error_not_terminal_is_requeued_with_backoff_and_logged_once_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unreachable(request: Request, n: int) -> None:
        raise errors.ReconcileError("NetworkError", "registry unreachable")

    clock, r = FakeClock(), Scripted(unreachable)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        await settle()
        clock.advance(0.005)
        await settle()
    assert r.calls == [A, A]
    assert sample(c.metrics, "controller_runtime_terminal_reconcile_errors_total") == 0
    failures = [r for r in caplog.records if r.name == "irc.runtime.controller" and r.levelname == "ERROR"]
    assert [(f.getMessage(), f.__dict__["reason"], f.exc_info) for f in failures] == 2 * [
        ("reconcile failed, requeued with backoff: NetworkError: registry unreachable", "NetworkError", None)
    ]


async def test_requeue_after_forgets_backoff_and_comes_back_on_time() -> None:
    async def poll(request: Request, n: int) -> Result | None:
        if n == 1:
            raise RuntimeError("transient")
        return Result(requeue_after=30) if n == 2 else None

    clock, r = FakeClock(), Scripted(poll)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        await settle()
        clock.advance(0.005)
        await settle()
        assert len(r.calls) == 2 and c.queue.num_requeues(A) == 0  # forgotten before add_after
        clock.advance(29.9)
        await settle()
        assert len(r.calls) == 2
        clock.advance(0.1)
        await settle()
        assert len(r.calls) == 3
    assert sample(c.metrics, "controller_runtime_reconcile_total", result="requeue_after") == 1


async def test_an_exception_never_kills_a_worker_and_logs_carry_the_request() -> None:
    async def explode_on_a(request: Request, n: int) -> None:
        if request == A:
            raise KeyError("boom")

    clock, r = FakeClock(), Scripted(explode_on_a)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        c.enqueue(B)
        await settle()
    assert r.calls == [A, B]
    assert [(ctx["controller"], ctx["namespace"], ctx["name"]) for ctx in r.contexts] == [
        ("test", "ns", "a"),
        ("test", "ns", "b"),
    ]
    ids = [str(ctx["reconcile_id"]) for ctx in r.contexts]
    assert len(set(ids)) == 2
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 for i in ids)  # controller-runtime's form
    assert structlog.contextvars.get_contextvars() == {}  # nothing leaks out of a reconcile


async def test_a_cancelled_error_the_worker_was_not_asked_for_is_an_error_not_its_end() -> None:
    """A reconciler awaiting something another task cancelled (a shared request) gets CancelledError
    though nobody cancelled the worker: requeued with backoff, and the worker goes on."""

    async def await_a_cancelled_future(request: Request, n: int) -> None:
        if request == A and n == 1:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.cancel()
            await future

    clock, r = FakeClock(), Scripted(await_a_cancelled_future)
    c = make(r, clock)
    async with running(c.start()):
        c.enqueue(A)
        c.enqueue(B)
        await settle()
        assert r.calls == [A, B]
        assert c.queue.num_requeues(A) == 1
        assert sample(c.metrics, "controller_runtime_reconcile_errors_total") == 1


async def test_workers_run_different_keys_concurrently_but_never_one_key_twice() -> None:
    release = asyncio.Event()
    in_flight: set[Request] = set()
    overlap: list[Request] = []
    peak = 0

    async def slow(request: Request, n: int) -> None:
        nonlocal peak
        if request in in_flight:
            overlap.append(request)
        in_flight.add(request)
        peak = max(peak, len(in_flight))
        await release.wait()
        in_flight.discard(request)

    clock, r = FakeClock(), Scripted(slow)
    c = make(r, clock, workers=2)
    async with running(c.start()):
        c.enqueue(A)
        c.enqueue(B)
        await settle()
        c.enqueue(A)  # parked until the running reconcile of A is done
        await settle()
        assert peak == 2 and len(r.calls) == 2
        assert sample(c.metrics, "controller_runtime_active_workers") == 2
        clock.advance(0.02)
        release.set()
        await settle()
    assert r.calls.count(A) == 2 and overlap == []
    assert sample(c.metrics, "controller_runtime_max_concurrent_reconciles") == 2
    assert sample(c.metrics, "controller_runtime_active_workers") == 0
    # Three reconciles: A and B held 20 ms on the clock, A's second none.
    assert sample(c.metrics, "controller_runtime_reconcile_time_seconds_count") == 3
    assert sample(c.metrics, "controller_runtime_reconcile_time_seconds_bucket", le="0.005") == 1
    assert sample(c.metrics, "controller_runtime_reconcile_time_seconds_sum") == pytest.approx(0.04)


async def test_reconcile_timeout_counts_as_an_error() -> None:
    async def hang(request: Request, n: int) -> None:
        if n == 1:
            await asyncio.Event().wait()

    r = Scripted(hang)
    c = Controller("test", r, ControllerOptions(reconcile_timeout=0.01), clock=FakeClock())
    async with running(c.start()):
        c.enqueue(A)
        async with asyncio.timeout(5):  # hang guard: the reconcile timeout runs on the real loop clock
            while sample(c.metrics, "controller_runtime_reconcile_errors_total") < 1:  # noqa: ASYNC110 (a metric has no event)
                await asyncio.sleep(0.01)
    assert c.queue.num_requeues(A) == 1


def test_options_are_validated() -> None:
    async def ok(request: Request, n: int) -> None:
        return None

    with pytest.raises(ValueError, match="max_concurrent_reconciles"):
        Controller("test", Scripted(ok), ControllerOptions(max_concurrent_reconciles=0))


class BacklogApi:
    """Five ConfigMaps at resourceVersion 3; the first watch sends cm-3 modified (resourceVersion 4) once
    `edit` is set; later watches wait forever."""

    def __init__(self) -> None:
        self.edit = asyncio.Event()
        self.watches = 0

    @staticmethod
    def configmap(name: str, rv: str) -> dict[str, object]:
        return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}

    async def handle(self, request: HttpRequest) -> Response:
        if request.path == "/api/v1":
            resources = [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]
            return Response(200, json.dumps({"resources": resources}).encode())
        if dict(request.params).get("watch") != "true":
            items = [self.configmap(f"cm-{i}", "3") for i in range(5)]
            return Response(200, json.dumps({"metadata": {"resourceVersion": "3"}, "items": items}).encode())
        self.watches += 1
        if self.watches > 1:
            await asyncio.Event().wait()
        await self.edit.wait()
        event = {"type": "MODIFIED", "object": self.configmap("cm-3", "4")}
        return Response(200, json.dumps(event).encode() + b"\n")


class EditSeen:
    def __init__(self, seen: asyncio.Event) -> None:
        self.seen = seen

    def create(self, event: CreateEvent) -> None:
        pass

    def update(self, event: UpdateEvent) -> None:
        self.seen.set()

    def delete(self, event: DeleteEvent) -> None:
        pass


@pytest.mark.parametrize("priority_queue", [True, False])
async def test_a_change_during_the_start_up_backlog_is_reconciled_before_the_backlog(
    priority_queue: bool,
) -> None:
    api, release = BacklogApi(), asyncio.Event()

    async def first_waits(request: Request, n: int) -> None:
        if n == 1:
            await release.wait()

    r = Scripted(first_waits)
    informer = Informer(
        Client(MockTransport(api.handle)), "v1", "ConfigMap", namespace="ns", watch_list=False
    )
    options = ControllerOptions(priority_queue=priority_queue)
    c = Controller("test", r, options)
    c.watch(informer, EnqueueForObject())
    edited = asyncio.Event()
    informer.add_handler(EditSeen(edited))
    async with running(informer.run()), running(c.start()):
        await r.called.wait()  # cm-0 is being reconciled; cm-1 … cm-4 wait at low priority
        api.edit.set()
        await edited.wait()
        release.set()
        while len(r.calls) < 5:
            r.called.clear()
            await r.called.wait()
    names = [call.name for call in r.calls]
    if priority_queue:
        assert names == ["cm-0", "cm-3", "cm-1", "cm-2", "cm-4"]
    else:
        assert names == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]


class SwitchFence:
    """A WriteFence a test opens and closes."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    def check(self) -> None:
        if not self.open.is_set():
            raise errors.LeaseNotCurrent("closed")

    async def wait(self) -> None:
        await self.open.wait()


async def test_under_a_fence_a_worker_starts_a_reconcile_only_while_it_is_open() -> None:
    async def ok(request: Request, n: int) -> None:
        return None

    clock, r, fence = FakeClock(), Scripted(ok), SwitchFence()
    c = make(r, clock)
    token = WRITE_FENCE.set(fence)  # the manager's leader work carries it; the controller's task copies it
    try:
        async with running(c.start()):
            c.enqueue(A)
            await settle()
            assert r.calls == []  # taken from the queue, held
            assert c.queue.statistics().processing == 1
            fence.open.set()
            await settle()
            assert r.calls == [A]
    finally:
        WRITE_FENCE.reset(token)
