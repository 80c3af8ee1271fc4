"""Leader election against a real kube-apiserver: candidates in one process compete for a Lease.

Short durations (lease 3 s, renew 2 s, retry 0.5 s) keep the tests quick. A referee samples the
candidates throughout and records any moment at which two lead or run leader work at once. Every wait
is bounded by `asyncio.timeout(GUARD)` only as a hang guard, never as a performance assertion.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from e2e.support import eventually
from hack.testbed import cluster
from irc.runtime import errors
from irc.runtime.client import Client, Obj
from irc.runtime.leaderelection import LeaderElectionLost, LeaderElectionOptions, LeaderElector
from irc.runtime.transport import KubeTransport, Request, Response, StreamResponse, Transport

pytestmark = pytest.mark.e2e

GUARD = 30.0
# Short enough for quick takeovers, long enough that a loaded CI machine stalling the apiserver or
# this loop for a few seconds does not cost the leader its lease mid-test.
LEASE_SECONDS, RENEW_DEADLINE = 5, 4.0
NAMESPACE = "default"
LEASE = ("coordination.k8s.io/v1", "Lease")


class Breakable:
    """A transport that answers every request with 500 once `broken` is set: a leader cut off the API."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.host = inner.host
        self.broken = False

    async def send(self, request: Request) -> Response:
        if self.broken:
            return Response(500, b'{"kind":"Status","code":500,"reason":"InternalError","message":"cut"}')
        return await self.inner.send(request)

    def stream(
        self, request: Request, read_timeout: float | None
    ) -> contextlib.AbstractAsyncContextManager[StreamResponse]:
        return self.inner.stream(request, read_timeout)

    async def close(self) -> None:
        await self.inner.close()


class Counting:
    """A transport that counts the requests sent through it, by method: a candidate's attempts."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.host = inner.host
        self.sent: Counter[str] = Counter()

    async def send(self, request: Request) -> Response:
        self.sent[request.method] += 1
        return await self.inner.send(request)

    def stream(
        self, request: Request, read_timeout: float | None
    ) -> contextlib.AbstractAsyncContextManager[StreamResponse]:
        return self.inner.stream(request, read_timeout)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Referee:
    """Records every overlap: two electors leading, or two candidates' leader work running, at once."""

    electors: list[LeaderElector]
    active: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)

    def work(self, identity: str) -> Callable[[], Awaitable[None]]:
        async def lead() -> None:
            if self.active:
                self.overlaps.append(f"{identity} started leading while {self.active} led")
            self.active.add(identity)
            try:
                await asyncio.get_running_loop().create_future()  # until cancelled
            finally:
                self.active.discard(identity)

        return lead

    async def watch(self) -> None:
        while True:
            leaders = [e.identity for e in self.electors if e.is_leader]
            if len(leaders) > 1:
                self.overlaps.append(f"{leaders} lead at once")
            await asyncio.sleep(0.01)

    async def leader(self) -> LeaderElector:
        """The first elector seen leading with its work running."""
        while True:
            for elector in self.electors:
                if elector.is_leader and elector.identity in self.active:
                    return elector
            await asyncio.sleep(0.05)


@pytest.fixture
async def lease_name(client: Client) -> AsyncIterator[str]:
    name = f"le-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(errors.NotFound):
        await client.delete(*LEASE, name, NAMESPACE)


def candidate(client: Client, lease_name: str, identity: str) -> LeaderElector:
    config = LeaderElectionOptions(
        id=lease_name,
        namespace=NAMESPACE,
        identity=identity,
        lease_duration=float(LEASE_SECONDS),
        renew_deadline=RENEW_DEADLINE,
        retry_period=0.5,
    )
    return LeaderElector(client, config)


async def spec(client: Client, lease_name: str) -> Obj:
    lease = await client.get(*LEASE, lease_name, NAMESPACE)
    result: Obj = lease["spec"]
    return result


async def holder_is(client: Client, lease_name: str, identity: str) -> Obj | None:
    current = await spec(client, lease_name)
    return current if current.get("holderIdentity") == identity else None


async def expect_lost(run: Coroutine[Any, Any, None]) -> LeaderElectionLost | None:
    try:
        await run
    except LeaderElectionLost as lost:
        return lost
    return None


async def test_two_candidates_never_lead_at_once(
    kube: cluster.Cluster, client: Client, lease_name: str
) -> None:
    transports = {i: Counting(await KubeTransport.from_config(str(kube.kubeconfig))) for i in "ab"}
    a, b = (candidate(Client(transports[i]), lease_name, i) for i in "ab")
    referee = Referee([a, b])
    try:
        async with asyncio.timeout(GUARD), asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(referee.watch()),
                group.create_task(a.run(referee.work("a"))),
                group.create_task(b.run(referee.work("b"))),
            ]
            leader = await referee.leader()
            follower = transports["b" if leader is a else "a"]
            reads_before = follower.sent["GET"]
            renewals: set[str] = set()

            async def contested() -> bool | None:
                # Several renewals, and as many tries by the other candidate, each finding the Lease held.
                renewals.add((await spec(client, lease_name))["renewTime"])
                tries = follower.sent["GET"] - reads_before
                return True if len(renewals) >= 4 and tries >= 3 else None

            await eventually(contested, within=GUARD, what="renewals while the other candidate tries")
            current = await spec(client, lease_name)
            assert [e.identity for e in (a, b) if e.is_leader] == [leader.identity]
            assert current["holderIdentity"] == leader.identity
            assert current["leaseDurationSeconds"] == LEASE_SECONDS
            assert current["leaseTransitions"] == 0
            for task in tasks:
                task.cancel()
    finally:
        for transport in transports.values():
            await transport.close()
    assert referee.overlaps == []


async def test_a_cancelled_leader_releases_and_the_other_takes_over(client: Client, lease_name: str) -> None:
    a, b = candidate(client, lease_name, "a"), candidate(client, lease_name, "b")
    referee = Referee([a, b])
    holders: list[tuple[str, int]] = []

    async def record_holders(resource_version: str) -> None:
        async for event in client.watch(
            *LEASE,
            NAMESPACE,
            resource_version=resource_version,
            field_selector=f"metadata.name={lease_name}",
        ):
            lease_spec = event.object.get("spec") or {}
            holders.append((lease_spec.get("holderIdentity") or "", lease_spec["leaseDurationSeconds"]))

    async with asyncio.timeout(GUARD), asyncio.TaskGroup() as group:
        runs = {e.identity: group.create_task(e.run(referee.work(e.identity))) for e in (a, b)}
        watcher = group.create_task(referee.watch())
        leader = await referee.leader()
        follower = b if leader is a else a
        lease = await client.get(*LEASE, lease_name, NAMESPACE)
        recorder = group.create_task(record_holders(lease["metadata"]["resourceVersion"]))

        runs[leader.identity].cancel()
        await asyncio.wait([runs[leader.identity]])
        assert leader.identity not in referee.active
        taken = await eventually(lambda: holder_is(client, lease_name, follower.identity), what="takeover")
        assert taken["leaseTransitions"] == lease["spec"]["leaseTransitions"] + 1
        assert taken["leaseDurationSeconds"] == LEASE_SECONDS
        await eventually(
            lambda: _true(follower.is_leader and follower.identity in referee.active), what="follower leads"
        )
        await eventually(
            lambda: _true((follower.identity, LEASE_SECONDS) in holders), what="the takeover's watch event"
        )
        for task in (runs[follower.identity], watcher, recorder):
            task.cancel()
    # The watch saw every write: the leader's renewals, its release, then the follower's takeover.
    first_takeover = holders.index((follower.identity, LEASE_SECONDS))
    assert first_takeover >= 1, holders
    assert holders[first_takeover - 1] == ("", 1)
    assert set(holders[: first_takeover - 1]) <= {(leader.identity, LEASE_SECONDS)}
    assert referee.overlaps == []


async def test_a_leader_cut_off_from_the_api_stops_and_the_other_takes_over(
    kube: cluster.Cluster, client: Client, lease_name: str
) -> None:
    cut = Breakable(await KubeTransport.from_config(str(kube.kubeconfig)))
    a, b = candidate(Client(cut), lease_name, "a"), candidate(client, lease_name, "b")
    referee = Referee([a, b])
    try:
        async with asyncio.timeout(GUARD), asyncio.TaskGroup() as group:
            watcher = group.create_task(referee.watch())
            a_outcome = group.create_task(expect_lost(a.run(referee.work("a"))))
            assert await referee.leader() is a
            b_run = group.create_task(b.run(referee.work("b")))
            before = await spec(client, lease_name)

            cut.broken = True
            lost = await a_outcome
            assert isinstance(lost, LeaderElectionLost)
            assert not a.is_leader
            assert "a" not in referee.active

            taken = await eventually(lambda: holder_is(client, lease_name, "b"), what="b takes over")
            assert taken["leaseTransitions"] == before["leaseTransitions"] + 1
            await eventually(lambda: _true(b.is_leader and "b" in referee.active), what="b leads")
            for task in (b_run, watcher):
                task.cancel()
    finally:
        await cut.close()
    assert referee.overlaps == []


async def _true(condition: bool) -> bool | None:
    return True if condition else None
