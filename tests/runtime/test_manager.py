"""The manager's shared informers and cache, and a controller built with `watches`, against a scripted API
server (MockTransport) on a FakeClock: metadata-only informers stand apart from full ones."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterable
from typing import Any

import pytest

from irc.runtime import ControllerBuilder, Index, LeaderElectionOptions, Manager, ManagerOptions, RunnableFunc
from irc.runtime.client import Client, Obj
from irc.runtime.handlers import EnqueueMapped, Request
from irc.runtime.leaderelection import LeaderElectionLost
from irc.runtime.testing import FakeClock, running
from irc.runtime.transport import MockTransport, Response
from irc.runtime.transport import Request as HttpRequest

DISCOVERY = {
    "resources": [
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
        {"name": "secrets", "kind": "Secret", "namespaced": True},
    ]
}
SECRET = {"metadata": {"name": "creds", "namespace": "ns", "resourceVersion": "3"}, "data": {"k": "c2VjcmV0"}}


class FakeApi:
    """Discovery of v1; lists of ConfigMaps (none) and Secrets (SECRET, whole: as a server without the
    metadata view would answer); watches that end at once. Records every request."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    async def handle(self, request: HttpRequest) -> Response:
        self.requests.append(request)
        if request.path == "/api/v1":
            return Response(200, json.dumps(DISCOVERY).encode())
        if dict(request.params).get("watch") == "true":
            return Response(200, b"")
        items = [SECRET] if request.path.endswith("/secrets") else []
        return Response(200, json.dumps({"metadata": {"resourceVersion": "3"}, "items": items}).encode())


def manager(api: FakeApi, clock: FakeClock) -> Manager:
    options = ManagerOptions(
        namespaces=("ns",), metrics_bind_address="0", health_probe_bind_address="0", watch_list=False
    )
    return Manager(Client(MockTransport(api.handle), clock=clock), options, clock=clock)


class Recording:
    def __init__(self) -> None:
        self.calls: list[Request] = []
        self.called = asyncio.Event()

    async def reconcile(self, request: Request) -> None:
        self.calls.append(request)
        self.called.set()


async def test_full_and_metadata_only_informers_of_a_kind_are_shared_apart() -> None:
    mgr = manager(FakeApi(), FakeClock())
    full = await mgr.informers("v1", "Secret")
    metadata = await mgr.informers("v1", "Secret", metadata_only=True)
    assert full != metadata and [i.metadata_only for i in full + metadata] == [False, True]
    assert await mgr.informers("v1", "Secret", metadata_only=True) == metadata  # shared
    assert mgr.informers_of("v1", "Secret") == full
    assert mgr.informers_of("v1", "Secret", metadata_only=True) == metadata
    mgr.add_index(Index("v1", "Secret", "by-name", lambda o: [o["metadata"]["name"]], metadata_only=True))
    metadata[0].store.upsert({"apiVersion": "v1", "kind": "Secret", "metadata": dict(SECRET["metadata"])})
    assert [o["metadata"]["name"] for o in metadata[0].store.by_index("by-name", "creds")] == ["creds"]
    with pytest.raises(KeyError, match="no indexer"):
        full[0].store.by_index("by-name", "creds")


async def test_watches_metadata_only_maps_secret_metadata_and_the_cache_keeps_the_views_apart() -> None:
    api, clock = FakeApi(), FakeClock()
    mgr = manager(api, clock)
    mapped: list[Obj] = []

    def users_of(secret: Obj) -> Iterable[Request]:
        mapped.append(secret)
        return [Request("ns", f"uses-{secret['metadata']['name']}")]

    reconciler = Recording()
    ControllerBuilder(mgr, "test").for_("v1", "ConfigMap").watches(
        "v1", "Secret", EnqueueMapped(users_of), metadata_only=True
    ).complete(reconciler)
    async with running(mgr.start()):
        await reconciler.called.wait()
        only_metadata: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": SECRET["metadata"]}
        assert mgr.cache.get("v1", "Secret", "creds", "ns", metadata_only=True) == only_metadata
        with pytest.raises(LookupError, match="no informer for Secret"):
            mgr.cache.get("v1", "Secret", "creds", "ns")
    assert reconciler.calls == [Request("ns", "uses-creds")]
    assert mapped == [only_metadata]
    lists = {r.path: r.accept for r in api.requests if r.path != "/api/v1" and "watch" not in dict(r.params)}
    assert lists == {
        "/api/v1/namespaces/ns/configmaps": "application/json",
        "/api/v1/namespaces/ns/secrets": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, "
        "application/json",
    }


async def test_informers_of_a_kind_differing_by_selector_start_with_a_readiness_check_each() -> None:
    api, clock = FakeApi(), FakeClock()
    listed: set[str] = set()
    both_listed = asyncio.Event()

    async def handle(request: HttpRequest) -> Response:
        if request.path.endswith("/secrets") and "watch" not in dict(request.params):
            listed.add(dict(request.params).get("labelSelector", ""))
            if listed >= {"team=a", "team=b"}:
                both_listed.set()
        return await api.handle(request)

    options = ManagerOptions(
        namespaces=("ns",), metrics_bind_address="0", health_probe_bind_address="0", watch_list=False
    )
    mgr = Manager(Client(MockTransport(handle), clock=clock), options, clock=clock)
    handler = EnqueueMapped(lambda obj: [])
    ControllerBuilder(mgr, "test").for_("v1", "ConfigMap").watches(
        "v1", "Secret", handler, label_selector="team=a"
    ).watches("v1", "Secret", handler, label_selector="team=b").complete(Recording())
    async with running(mgr.start()) as started:
        listing = asyncio.create_task(both_listed.wait())
        await asyncio.wait({started, listing}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():  # before the fix: ValueError, readyz check "informer:secret:ns" exists
            listing.cancel()
            started.result()
        secrets = mgr.informers_of("v1", "Secret")
    assert sorted(i.label_selector or "" for i in secrets) == ["team=a", "team=b"]


async def test_the_cache_reads_an_object_two_informers_hold_once() -> None:
    """Informers of one kind with different selectors overlap; a cache read must not double objects."""
    mgr = manager(FakeApi(), FakeClock())
    everything = await mgr.informers("v1", "Secret")
    selected = await mgr.informers("v1", "Secret", label_selector="team=a")
    mgr.add_index(Index("v1", "Secret", "by-name", lambda o: [o["metadata"]["name"]]))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": dict(SECRET["metadata"])}
    for informer in everything + selected:
        informer.store.upsert(secret)
    assert mgr.cache.list("v1", "Secret", "ns") == [secret]
    assert mgr.cache.by_index("v1", "Secret", "by-name", "creds") == [secret]


class Failing:
    """A runnable that raises `error` once started."""

    def __init__(self, error: Exception, needs_leader_election: bool) -> None:
        self.error = error
        self.needs_leader_election = needs_leader_election

    async def start(self) -> None:
        await asyncio.sleep(0)
        raise self.error


@pytest.mark.parametrize("needs_leader_election", [False, True])  # the outer TaskGroup, and _lead's inside it
async def test_a_failing_runnable_ends_start_with_its_own_exception(needs_leader_election: bool) -> None:
    """As controller-runtime's mgr.Start returns the first error: not an ExceptionGroup, so callers can
    `except` it (the group is kept as its cause)."""
    mgr = manager(FakeApi(), FakeClock())
    mgr.add(Failing(RuntimeError("boom"), needs_leader_election))
    async with asyncio.timeout(30):
        with pytest.raises(RuntimeError, match=r"^boom$") as failed:
            await mgr.start()
    assert isinstance(failed.value.__cause__, BaseExceptionGroup)


LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


class Leases:
    """Just enough of the Lease API for one elector: create the Lease, renew it, until `rival` takes it
    (after which a renewal conflicts and a GET shows the rival holding it)."""

    def __init__(self) -> None:
        self.lease: Obj | None = None
        self.version = 0

    @property
    def held_by(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")

    def rival(self) -> None:
        assert self.lease is not None
        self.store({**self.lease, "spec": {"holderIdentity": "rival", "leaseDurationSeconds": 15}})

    def store(self, lease: Obj) -> Obj:
        self.version += 1
        self.lease = {**lease, "metadata": {**lease["metadata"], "resourceVersion": str(self.version)}}
        return self.lease

    async def handle(self, request: HttpRequest) -> Response:
        if request.path == "/apis/coordination.k8s.io/v1":
            discovery = {"resources": [{"name": "leases", "kind": "Lease", "namespaced": True}]}
            return Response(200, json.dumps(discovery).encode())
        assert request.path.startswith(LEASES), request.path
        body: Obj = json.loads(request.body) if request.body else {}
        if request.method == "GET":
            if self.lease is None:
                status = {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"}
                return Response(404, json.dumps(status).encode())
            return Response(200, json.dumps(self.lease).encode())
        current = self.lease and self.lease["metadata"]["resourceVersion"]
        if request.method == "PUT" and body["metadata"].get("resourceVersion") != current:
            status = {"kind": "Status", "code": 409, "reason": "Conflict", "message": "conflict"}
            return Response(409, json.dumps(status).encode())
        assert request.method in ("POST", "PUT"), request.method
        return Response(201 if request.method == "POST" else 200, json.dumps(self.store(body)).encode())


def elected_manager(leases: Leases, clock: FakeClock) -> Manager:
    options = ManagerOptions(
        metrics_bind_address="0",
        health_probe_bind_address="0",
        leader_election=LeaderElectionOptions(enabled=True, id="lock", namespace="ns"),
    )
    return Manager(Client(MockTransport(leases.handle), clock=clock), options, clock=clock)


async def test_losing_leadership_ends_start_with_leader_election_lost() -> None:
    """What `irc manager` catches to exit 1: LeaderElectionLost itself, not an ExceptionGroup."""
    clock, leases = FakeClock(), Leases()
    mgr = elected_manager(leases, clock)
    leading = asyncio.Event()

    async def lead() -> None:
        leading.set()
        await asyncio.get_running_loop().create_future()  # until cancelled

    mgr.add(RunnableFunc(lead))
    with pytest.raises(LeaderElectionLost, match="lease ns/lock taken by rival") as lost:
        async with asyncio.timeout(30), running(mgr.start()) as task:
            await leading.wait()
            assert mgr.elector is not None and leases.held_by == mgr.elector.identity
            leases.rival()
            while not task.done():  # the next renewal (2 s on) finds the rival
                clock.advance(0.5)
                await asyncio.wait({task}, timeout=0.01)
    assert isinstance(lost.value.__cause__, BaseExceptionGroup)
    assert leases.held_by == "rival"


async def test_a_failing_leader_runnable_under_election_ends_start_with_its_own_exception() -> None:
    """Three groups deep (the manager's, the elector's, _lead's): the leaf comes out."""
    clock = FakeClock()
    leases = Leases()
    mgr = elected_manager(leases, clock)
    mgr.add(Failing(RuntimeError("boom"), needs_leader_election=True))
    async with asyncio.timeout(30):
        with pytest.raises(RuntimeError, match=r"^boom$"):
            await mgr.start()
    assert leases.held_by == ""  # released: it left for a failure, the Lease was not lost


async def test_a_manager_stopped_in_time_leaves_no_exit_timer_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM arms the grace-period exit; a program that embeds the manager and goes on after
    `run()` returned in time must not be exited by it later: the timer is cancelled."""
    loop = asyncio.get_running_loop()
    timers: list[tuple[Any, asyncio.TimerHandle]] = []
    call_later = loop.call_later

    def recording(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        timers.append((callback, handle := call_later(delay, callback, *args)))
        return handle

    monkeypatch.setattr(loop, "call_later", recording)
    clock = FakeClock()
    options = ManagerOptions(metrics_bind_address="0", health_probe_bind_address="0", watch_list=False)
    mgr = Manager(Client(MockTransport(FakeApi().handle), clock=clock), options, clock=clock)
    runner = asyncio.create_task(mgr.run())
    await mgr.elected.wait()
    signal.raise_signal(signal.SIGTERM)
    await asyncio.wait_for(runner, 30)
    overrun = [handle for callback, handle in timers if callback == mgr._overrun]
    assert len(overrun) == 1 and overrun[0].cancelled()


async def test_a_kinds_transform_shapes_what_its_full_informers_cache() -> None:
    api, clock = FakeApi(), FakeClock()
    mgr = manager(api, clock)

    def names_only(obj: Obj) -> Obj:
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": obj["metadata"]}

    mgr.set_transform("v1", "Secret", names_only)
    mgr.set_transform("v1", "Secret", names_only)  # the same one again: fine
    with pytest.raises(ValueError, match="already has another transform"):
        mgr.set_transform("v1", "Secret", lambda o: o)
    reconciler = Recording()
    ControllerBuilder(mgr, "test").for_("v1", "Secret").complete(reconciler)
    async with running(mgr.start()):
        await reconciler.called.wait()
        cached = mgr.cache.get("v1", "Secret", "creds", "ns")
    assert "data" not in cached and "managedFields" not in cached["metadata"]
    with pytest.raises(RuntimeError, match="before its informers"):
        mgr.set_transform("v1", "Secret", names_only)


async def test_a_typed_kind_has_typed_full_informers_and_plain_metadata_ones() -> None:
    mgr = manager(FakeApi(), FakeClock())
    mgr.set_typed("v1", "Secret")
    [full] = await mgr.informers("v1", "Secret")
    [metadata] = await mgr.informers("v1", "Secret", metadata_only=True)
    [other] = await mgr.informers("v1", "ConfigMap")
    assert (full.typed, metadata.typed, other.typed) == (True, False, False)
    with pytest.raises(RuntimeError, match="typed before its informers"):
        mgr.set_typed("v1", "ConfigMap")
