"""The informer against a real apiserver: initial sync, watch resumption across an apiserver
restart, and 410 Gone after etcd compaction → relist with tombstones."""

from __future__ import annotations

import asyncio

import pytest

from e2e.support import configmap, eventually, outage, running
from hack.testbed import cluster
from irc.runtime.client import Client
from irc.runtime.clock import RealClock
from irc.runtime.informer import CreateEvent, DeleteEvent, Informer, UpdateEvent


class Recorder:
    """An event handler that remembers what it was told."""

    def __init__(self) -> None:
        self.created: list[CreateEvent] = []
        self.updated: list[UpdateEvent] = []
        self.deleted: list[DeleteEvent] = []

    def create(self, event: CreateEvent) -> None:
        self.created.append(event)

    def update(self, event: UpdateEvent) -> None:
        self.updated.append(event)

    def delete(self, event: DeleteEvent) -> None:
        self.deleted.append(event)

    def names(self, events: list[CreateEvent] | list[DeleteEvent]) -> set[str]:
        return {e.obj["metadata"]["name"] for e in events}


async def create_many(client: Client, namespace: str, names: list[str]) -> None:
    limit = asyncio.Semaphore(32)

    async def one(name: str) -> None:
        async with limit:
            await client.create(configmap(namespace, name))

    await asyncio.gather(*(one(n) for n in names))


@pytest.mark.parametrize("watch_list", [True, False], ids=["streaming-list", "list-then-watch"])
async def test_initial_sync_of_1000_objects(client: Client, namespace: str, watch_list: bool) -> None:
    names = [f"cm-{i:04d}" for i in range(1000)]
    await create_many(client, namespace, names)
    informer = Informer(
        client, "v1", "ConfigMap", namespace=namespace, watch_list=watch_list, label_selector=None
    )
    seen = Recorder()
    informer.add_handler(seen)
    async with running(informer.run()):
        await informer.wait_for_sync(within=120)
        assert set(names) <= {o["metadata"]["name"] for o in informer.store.list()}
        assert set(names) <= seen.names(seen.created)
        assert all(e.is_initial_list for e in seen.created)
        assert all("managedFields" not in e.obj["metadata"] for e in seen.created)
        await informer.check()


class RecordingClock(RealClock):
    """The real clock, remembering every sleep it is asked for: an informer without a resync period
    sleeps only to back off."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


async def failing(informer: Informer) -> bool | None:
    """True once the informer's readiness check fails (for `eventually`)."""
    try:
        await informer.check()
    except RuntimeError:
        return True
    return None


async def healthy(informer: Informer) -> bool | None:
    """True once the informer's readiness check passes (for `eventually`)."""
    return None if await failing(informer) else True


async def test_watch_resumes_across_an_apiserver_restart(
    kube: cluster.Cluster, client: Client, namespace: str
) -> None:
    """The apiserver goes down under a running informer, and this event loop runs on through the
    outage: the watch breaks, reconnecting is refused and tried again every 1 to 1.5 s (not in a hot
    loop, and not backing off further each time), readiness says so within seconds. Once the server is
    back the informer reconnects, its cache converges to the server's state, and every change that
    outlives the outage reaches the handlers: a creation, an update, a deletion. (A new apiserver's
    watch cache cannot resume an old resourceVersion, so the informer may relist; an object created
    and deleted within the gap is then rightly never seen, as with client-go.)"""
    clock = RecordingClock()
    informer = Informer(client, "v1", "ConfigMap", namespace=namespace, inactivity_timeout=10, clock=clock)
    seen = Recorder()
    informer.add_handler(seen)
    await create_many(client, namespace, ["updated", "deleted"])
    async with running(informer.run()):
        await informer.wait_for_sync()
        await informer.check()
        assert clock.sleeps == []
        async with outage(kube, "kube-apiserver"):
            # Down until the informer has met the dead server and retried for longer than
            # NOT_READY_AFTER: its readiness check fails.
            await eventually(
                lambda: failing(informer), within=60, what="the informer reports its watch failing"
            )
            backoffs = list(clock.sleeps)
        # The server is back; the informer may still be backing off while these land.
        await client.create(configmap(namespace, "created"))
        await client.patch("v1", "ConfigMap", "updated", {"data": {"v": "2"}}, namespace=namespace)
        await client.delete("v1", "ConfigMap", "deleted", namespace)

        async def converged() -> bool | None:
            server = await client.list("v1", "ConfigMap", namespace)
            cached = {
                (o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in informer.store.list()
            }
            listed = {(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in server.items}
            handled = (
                "created" in seen.names(seen.created)
                and "deleted" in seen.names(seen.deleted)
                and any(e.new["metadata"]["name"] == "updated" for e in seen.updated)
            )
            return True if cached == listed and handled else None

        await eventually(converged, what="the informer's cache and handlers catch up with the server")
        assert (informer.store.get_by(namespace, "updated") or {}).get("data") == {"v": "2"}
        assert informer.store.get_by(namespace, "deleted") is None
        await eventually(lambda: healthy(informer), what="the informer is ready again")
    # It waited between attempts: the first backoff after the drop (0.8 to 1.6 s), then 1 to 1.5 s for
    # each refused connect, however many.
    assert len(backoffs) >= 2, backoffs
    assert all(0.8 <= b <= 1.6 for b in backoffs), backoffs


async def test_gone_after_compaction_relists_and_reports_tombstones(
    kube: cluster.Cluster, client: Client, namespace: str
) -> None:
    await create_many(client, namespace, ["keep", "drop-1", "drop-2"])
    informer = Informer(client, "v1", "ConfigMap", namespace=namespace)
    seen = Recorder()
    informer.add_handler(seen)
    async with running(informer.run()):
        await informer.wait_for_sync()
    stale_version = informer.resource_version
    # While the informer is stopped: changes it will not see as watch events, then history is erased.
    await client.delete("v1", "ConfigMap", "drop-1", namespace)
    await client.delete("v1", "ConfigMap", "drop-2", namespace)
    await client.create(configmap(namespace, "new"))
    kube.compact_etcd()
    await asyncio.to_thread(
        kube.restart, "kube-apiserver"
    )  # a fresh watch cache cannot serve the old resourceVersion either
    async with running(informer.run()):

        async def relisted() -> bool | None:
            return (
                True
                if informer.resource_version != stale_version and "new" in seen.names(seen.created)
                else None
            )

        await eventually(relisted, what="relist after 410 Gone")
    tombstones = {e.obj["metadata"]["name"]: e.state_unknown for e in seen.deleted}
    assert tombstones == {"drop-1": True, "drop-2": True}
    assert {o["metadata"]["name"] for o in informer.store.list()} >= {"keep", "new"}
    assert informer.store.get_by(namespace, "drop-1") is None
