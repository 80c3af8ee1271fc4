"""Tests for irc.runtime.leaderelection: an elector against an in-memory Lease API, on a FakeClock.

Time moves only when a test advances the clock, so every timing rule (validity by observed time,
the renew deadline) is asserted exactly; `asyncio.timeout` bounds each test only as a hang guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from irc.runtime import errors
from irc.runtime.client import WRITE_FENCE, Client
from irc.runtime.leaderelection import LeaderElectionLost, LeaderElectionOptions, LeaderElector, LeaseFence
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.testing import FAKE_EPOCH, FakeClock
from irc.runtime.transport import MockTransport, Request, Response

Obj = dict[str, Any]
GUARD = 30.0  # seconds; hang guard only
API = "/apis/coordination.k8s.io/v1"
NAMESPACE = "ns"
DISCOVERY = {"resources": [{"name": "leases", "kind": "Lease", "namespaced": True}]}


def micro(fake_seconds: float) -> str:
    """The MicroTime an elector on the FakeClock writes at `fake_seconds`."""
    return datetime.fromtimestamp(FAKE_EPOCH + fake_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(status: int, body: object) -> Response:
    return Response(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _status(code: int, reason: str) -> Response:
    return _json(code, {"kind": "Status", "code": code, "reason": reason, "message": reason})


@dataclass
class Leases:
    """An in-memory Lease API for one namespace: GET, POST and PUT with resourceVersion checks.

    `log` records each Lease request as "<METHOD> <name>"; `failing` answers every one with 500;
    `race`, if set, runs once just before the next write, as a rival writing first.
    """

    objects: dict[str, Obj] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    failing: bool = False
    race: Callable[[], None] | None = None
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def put(self, name: str, **spec: Any) -> None:
        """Store a Lease with `spec` as some other writer would."""
        self.objects[name] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": str(next(self._versions))},
            "spec": spec,
        }

    def spec(self, name: str = "lock") -> Obj:
        spec: Obj = self.objects[name]["spec"]
        return spec

    async def handle(self, request: Request) -> Response:
        if request.path == API:
            return _json(200, DISCOVERY)
        prefix = f"{API}/namespaces/{NAMESPACE}/leases"
        assert request.path.startswith(prefix), request.path
        body: Obj = json.loads(request.body) if request.body else {}
        name = request.path.removeprefix(prefix).strip("/") or body["metadata"]["name"]
        self.log.append(f"{request.method} {name}")
        if self.failing:
            return _status(500, "InternalError")
        if request.method in ("POST", "PUT") and self.race is not None:
            race, self.race = self.race, None
            race()
        stored = self.objects.get(name)
        if request.method == "GET":
            return _json(200, stored) if stored else _status(404, "NotFound")
        if request.method == "POST":
            if stored:
                return _status(409, "AlreadyExists")
        elif request.method == "PUT":
            if not stored:
                return _status(404, "NotFound")
            if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
                return _status(409, "Conflict")
        else:
            return _status(405, "MethodNotAllowed")
        body["metadata"] = {**body["metadata"], "resourceVersion": str(next(self._versions))}
        self.objects[name] = body
        return _json(201 if request.method == "POST" else 200, body)


@dataclass
class Work:
    """Leader work that runs until cancelled, noting its start and its cancellation in `log`."""

    log: list[str]
    fail: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def __call__(self) -> None:
        self.started.set()
        if self.fail:
            raise RuntimeError("leader work failed")
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            self.cancelled = True
            self.log.append("work cancelled")
            raise


@dataclass
class Bed:
    clock: FakeClock = field(default_factory=FakeClock)
    leases: Leases = field(default_factory=Leases)
    metrics: RuntimeMetrics = field(default_factory=RuntimeMetrics)

    def elector(self, identity: str = "me", **config: Any) -> LeaderElector:
        client = Client(MockTransport(self.leases.handle))
        settings = LeaderElectionOptions(id="lock", namespace=NAMESPACE, identity=identity, **config)
        return LeaderElector(client, settings, clock=self.clock, metrics=self.metrics)

    def work(self, *, fail: bool = False) -> Work:
        return Work(self.leases.log, fail)

    def status(self) -> float | None:
        return self.metrics.registry.get_sample_value("leader_election_master_status", {"name": "lock"})

    async def idle(self, task: asyncio.Task[None]) -> None:
        """Wait until `task` is done or asleep on the clock (electors are the clock's only sleepers)."""
        waiter = asyncio.ensure_future(self.clock.wait_for_sleepers(1))
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    async def advance(self, task: asyncio.Task[None], seconds: float) -> None:
        await self.idle(task)
        self.clock.advance(seconds)
        await self.idle(task)


@pytest.fixture
def bed() -> Bed:
    return Bed()


@contextlib.asynccontextmanager
async def running(elector: LeaderElector, work: Work) -> AsyncIterator[asyncio.Task[None]]:
    """`elector.run(work)` as a task, cancelled and awaited on exit; the body is bounded by GUARD."""
    task = asyncio.create_task(elector.run(work))
    try:
        async with asyncio.timeout(GUARD):
            yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---- configuration


def test_config_defaults_are_controller_runtimes() -> None:
    config = LeaderElectionOptions()
    assert (config.enabled, config.id, config.namespace) == (False, "irc-manager", None)
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15.0, 10.0, 2.0)
    assert config.release_on_cancel
    hostname, _, suffix = config.identity.rpartition("_")
    assert hostname == socket.gethostname()
    assert re.fullmatch(r"[0-9a-f-]{36}", suffix)
    assert LeaderElectionOptions().identity != config.identity


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lease_duration": 10.0}, "lease_duration"),
        ({"lease_duration": 5.0}, "lease_duration"),
        ({"renew_deadline": 2.4}, "renew_deadline"),
        ({"retry_period": 0.0}, "retry_period"),
        ({"retry_period": -1.0}, "retry_period"),
        ({"id": ""}, "id"),
        ({"identity": ""}, "identity"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"id": "lock", "namespace": NAMESPACE, **overrides}
    with pytest.raises(ValueError, match=message):
        LeaderElectionOptions(**settings)


def test_an_elector_needs_a_namespace() -> None:
    with pytest.raises(ValueError, match="namespace"):
        LeaderElector(Client(MockTransport(Leases().handle)), LeaderElectionOptions(id="lock"))


# ---- acquiring


async def test_creates_a_missing_lease_and_leads(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    assert not elector.is_leader
    async with running(elector, work):
        await work.started.wait()
        assert elector.is_leader
        assert elector.identity == "me"
        assert bed.status() == 1
        assert bed.leases.log == ["GET lock", "POST lock"]
        assert bed.leases.spec() == {
            "holderIdentity": "me",
            "leaseDurationSeconds": 15,
            "acquireTime": micro(0),
            "renewTime": micro(0),
            "leaseTransitions": 0,
        }


@pytest.mark.parametrize("year", [2000, 2100], ids=["past", "future"])
async def test_waits_while_the_holder_renews_and_takes_over_after_it_stops(bed: Bed, year: int) -> None:
    """Validity counts from when this elector saw the record change; the remote renewTime is ignored."""
    rival = {"holderIdentity": "rival", "leaseDurationSeconds": 15, "acquireTime": f"{year}-01-01T00:00:00Z"}
    elector, work = bed.elector(), bed.work()
    bed.leases.put("lock", **rival, renewTime=f"{year}-01-01T00:00:00.000000Z", leaseTransitions=3)
    async with running(elector, work) as task:
        for renewal in range(12):  # the rival renews every 5 s for a minute
            renew_time = f"{year}-01-01T00:00:{renewal:02d}.000000Z"
            bed.leases.put("lock", **rival, renewTime=renew_time, leaseTransitions=3)
            await bed.advance(task, 5)
            seen = bed.clock.now()  # the elector's next attempt read the change
            assert not elector.is_leader
        assert bed.status() == 0
        for _ in range(60):
            if elector.is_leader:
                break
            await bed.advance(task, 1)
        assert elector.is_leader
        takeover = bed.clock.now()
        assert takeover >= seen + 15
        await work.started.wait()
        assert bed.leases.spec() == {
            "holderIdentity": "me",
            "leaseDurationSeconds": 15,
            "acquireTime": micro(takeover),
            "renewTime": micro(takeover),
            "leaseTransitions": 4,
        }
        assert "PUT lock" not in bed.leases.log[:-1]  # only reads until the takeover


async def test_a_released_lease_is_taken_at_once(bed: Bed) -> None:
    bed.leases.put("lock", holderIdentity="", leaseDurationSeconds=1, leaseTransitions=2)
    elector, work = bed.elector(), bed.work()
    async with running(elector, work):
        await work.started.wait()
        assert bed.leases.log == ["GET lock", "PUT lock"]
        assert bed.leases.spec()["leaseTransitions"] == 3
        assert bed.leases.spec()["holderIdentity"] == "me"


@pytest.mark.parametrize("existing", [False, True], ids=["create", "update"])
async def test_losing_the_race_to_write_leaves_the_rival_leading(bed: Bed, existing: bool) -> None:
    if existing:
        bed.leases.put("lock", holderIdentity="", leaseDurationSeconds=1, leaseTransitions=0)
    bed.leases.race = lambda: bed.leases.put("lock", holderIdentity="rival", leaseDurationSeconds=15)
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        for _ in range(6):  # 12 s or more, within the rival's 15 s
            await bed.advance(task, 2)
            assert not elector.is_leader
        assert not work.started.is_set()
        assert bed.leases.spec()["holderIdentity"] == "rival"
        assert bed.leases.log[:2] == ["GET lock", "PUT lock" if existing else "POST lock"]
        assert set(bed.leases.log[2:]) == {"GET lock"}


# ---- renewing


async def test_renewal_keeps_acquire_time_and_transitions(bed: Bed) -> None:
    bed.leases.put("lock", holderIdentity="old", leaseDurationSeconds=15, leaseTransitions=7)
    bed.clock.advance(100)
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await bed.idle(task)
        bed.clock.advance(15)
        for _ in range(10):
            if elector.is_leader:
                break
            await bed.advance(task, 1)
        acquired = bed.leases.spec()
        writes = len(bed.leases.log)
        for _ in range(3):
            await bed.advance(task, 2)
        assert bed.leases.log[writes:] == ["PUT lock"] * 3  # renewals need no GET
        assert bed.leases.spec() == {**acquired, "renewTime": micro(bed.clock.now())}
        assert acquired["renewTime"] != bed.leases.spec()["renewTime"]
        assert acquired["leaseTransitions"] == 8
        assert elector.is_leader


async def test_failing_to_renew_until_the_deadline_stops_the_work_and_raises(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        await bed.advance(task, 2)  # one successful renewal
        renewed_at = bed.clock.now()
        bed.leases.failing = True
        while not task.done():
            assert elector.is_leader == (bed.clock.now() < renewed_at + 10)
            await bed.advance(task, 0.5)
        with pytest.raises(LeaderElectionLost, match=r"ns/lock not renewed within 10\.0 s"):
            task.result()
        # Stopped at the renew deadline, before a rival may take over (lease_duration after the renewal).
        assert renewed_at + 10 <= bed.clock.now() < renewed_at + 15
        assert work.cancelled
        assert not elector.is_leader
        assert bed.status() == 0
        assert bed.leases.log[-2:] == ["PUT lock", "work cancelled"]  # no release: it is not ours to give


async def test_a_rival_found_while_renewing_stops_the_work_at_once(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        bed.leases.put("lock", holderIdentity="rival", leaseDurationSeconds=15)
        await bed.advance(task, 2)
        assert task.done()
        with pytest.raises(LeaderElectionLost, match="taken by rival"):
            task.result()
        assert work.cancelled
        assert bed.leases.log[-3:] == ["PUT lock", "GET lock", "work cancelled"]
        assert bed.leases.spec()["holderIdentity"] == "rival"


async def test_check_fails_only_for_a_leader_that_has_not_renewed(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    await elector.check()
    async with running(elector, work) as task:
        await work.started.wait()
        await elector.check()
        await bed.idle(task)
        bed.clock.advance(35.5)  # lease_duration + 20 s tolerance, before the elector wakes
        with pytest.raises(RuntimeError, match="lock"):
            await elector.check()


# ---- stopping


async def test_cancel_stops_the_work_then_releases_the_lease(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        await bed.advance(task, 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert bed.leases.log[-2:] == ["work cancelled", "PUT lock"]
        assert bed.leases.spec() == {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": micro(2),
            "renewTime": micro(2),
            "leaseTransitions": 0,
        }
        assert not elector.is_leader
        assert bed.status() == 0
    successor, successor_work = bed.elector("successor"), bed.work()
    async with running(successor, successor_work):
        await successor_work.started.wait()
        assert bed.leases.spec()["leaseTransitions"] == 1


async def test_the_lease_is_renewed_until_the_leader_work_has_stopped(bed: Bed) -> None:
    """controller-runtime stops leader election last: leader work that takes 20 s to wind down (a
    final status write) must not find a successor leading meanwhile (lease duration 15 s)."""
    stopped: list[float] = []

    async def slow_to_stop() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            await bed.clock.sleep(20)
            stopped.append(bed.clock.now())
            raise

    leader = asyncio.create_task(bed.elector("leader").run(slow_to_stop))
    await bed.idle(leader)
    successor = bed.elector("successor")
    waiting = asyncio.create_task(successor.run(bed.work()))
    try:
        await bed.idle(waiting)
        leader.cancel()
        for _ in range(40):
            bed.clock.advance(1)
            for _ in range(20):
                await asyncio.sleep(0)
            assert stopped or not successor.is_leader, f"two leaders at {bed.clock.now()}"
        assert stopped and successor.is_leader  # then the Lease was released and taken at once
        with pytest.raises(asyncio.CancelledError):
            await leader
    finally:
        for task in (leader, waiting):
            task.cancel()
        bed.clock.advance(60)  # wakes a leader work still winding down, whatever failed above
        await asyncio.gather(leader, waiting, return_exceptions=True)


async def test_release_retries_a_conflict(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        spec = bed.leases.spec()
        bed.leases.race = lambda: bed.leases.put("lock", **spec)  # same record, new resourceVersion
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert bed.leases.log[-3:] == ["PUT lock", "GET lock", "PUT lock"]
        assert bed.leases.spec()["holderIdentity"] == ""


async def test_cancel_without_release_on_cancel_keeps_the_lease(bed: Bed) -> None:
    elector, work = bed.elector(release_on_cancel=False), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert work.cancelled
        assert bed.leases.log[-1] == "work cancelled"
        assert bed.leases.spec()["holderIdentity"] == "me"


async def test_a_failed_release_does_not_raise(bed: Bed) -> None:
    elector, work = bed.elector(), bed.work()
    async with running(elector, work) as task:
        await work.started.wait()
        bed.leases.failing = True
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert bed.leases.log[-2:] == ["work cancelled", "PUT lock"]


async def test_failing_leader_work_raises_its_error_and_releases(bed: Bed) -> None:
    elector = bed.elector()
    async with running(elector, bed.work(fail=True)) as task:
        with pytest.raises(RuntimeError, match="leader work failed"):
            await task
        assert bed.leases.spec()["holderIdentity"] == ""
        assert not elector.is_leader


# ---- the fence: a leader paused past its deadline neither writes nor starts work


async def test_a_leader_paused_past_its_renew_deadline_withholds_writes_until_it_notices_the_loss(
    bed: Bed,
) -> None:
    elector, work = bed.elector(), bed.work()
    fence = LeaseFence(elector)
    writer = Client(MockTransport(bed.leases.handle))
    other = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "other"}}

    async def write(name: str) -> None:
        WRITE_FENCE.set(fence)  # as the manager's leader work carries it
        await writer.create({**other, "metadata": {"name": name, "namespace": NAMESPACE}})

    assert not elector.is_current()
    async with running(elector, work) as task:
        await work.started.wait()
        assert elector.is_current()
        await asyncio.create_task(write("before"))  # current: sent
        await bed.idle(task)
        bed.clock.advance(10.5)  # paused past the 10 s renew deadline; the elector has not run since
        assert elector.is_leader and not elector.is_current()
        with pytest.raises(errors.LeaseNotCurrent, match="ns/lock was not renewed"):
            await asyncio.create_task(write("after"))
        waiting = asyncio.create_task(fence.wait())
        await bed.idle(task)  # the elector wakes: its deadline has passed
        with pytest.raises(LeaderElectionLost, match="not renewed within"):
            task.result()
        assert not waiting.done()  # a worker held here is cancelled with the leader work
        waiting.cancel()
    assert "POST before" in bed.leases.log and "POST after" not in bed.leases.log
    assert work.cancelled


async def test_writes_outside_the_fence_and_reads_under_it_are_never_withheld(bed: Bed) -> None:
    elector = bed.elector()
    client = Client(MockTransport(bed.leases.handle))
    bed.leases.put("lock", holderIdentity="")

    async def read_under_the_fence() -> None:
        WRITE_FENCE.set(LeaseFence(elector))  # not leading: every write would be withheld
        await client.get("coordination.k8s.io/v1", "Lease", "lock", NAMESPACE)

    await asyncio.create_task(read_under_the_fence())
    lease = await client.get("coordination.k8s.io/v1", "Lease", "lock", NAMESPACE)
    await client.update(lease)  # no fence in this context
    assert bed.leases.log[-3:] == ["GET lock", "GET lock", "PUT lock"]
