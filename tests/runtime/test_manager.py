"""The manager's shared informers and cache, and a controller built with `watches`, against a scripted API
server (MockTransport) on a FakeClock: metadata-only informers stand apart from full ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest

from irc.runtime.client import Client, Obj
from irc.runtime.handlers import EnqueueMapped, Request
from irc.runtime.manager import Manager, ManagerOptions
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
    mgr.add_index("v1", "Secret", "by-name", lambda o: [o["metadata"]["name"]], metadata_only=True)
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
    mgr.controller("test").for_("v1", "ConfigMap").watches(
        "v1", "Secret", EnqueueMapped(users_of), metadata_only=True
    ).complete(reconciler)
    async with running(mgr.start()):
        await reconciler.called.wait()
        only_metadata: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": SECRET["metadata"]}
        assert await mgr.cache.get("v1", "Secret", "creds", "ns", metadata_only=True) == only_metadata
        with pytest.raises(LookupError, match="no informer for Secret"):
            await mgr.cache.get("v1", "Secret", "creds", "ns")
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
    mgr.controller("test").for_("v1", "ConfigMap").watches(
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
    mgr.add_index("v1", "Secret", "by-name", lambda o: [o["metadata"]["name"]])
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": dict(SECRET["metadata"])}
    for informer in everything + selected:
        informer.store.upsert(secret)
    assert await mgr.cache.list("v1", "Secret", "ns") == [secret]
    assert await mgr.cache.by_index("v1", "Secret", "by-name", "creds") == [secret]
