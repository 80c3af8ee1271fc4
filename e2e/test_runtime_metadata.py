"""Metadata-only watches against a real apiserver: Secrets watched as PartialObjectMetadata (streaming
list and list + watch) reach a controller on create, data-only update and delete, and are cached without
their data, beside a full Secret informer of the same manager."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import pytest

from e2e.support import eventually, running
from e2e.test_runtime_informer import Recorder
from irc.runtime import ControllerBuilder, EnqueueMapped, Manager, ManagerOptions, Request
from irc.runtime.client import Client, Obj

T = TypeVar("T")


async def soon(check: Callable[[], T | None], what: str) -> T:
    """`eventually` for a condition on this process's state (informers, a reconciler's record)."""

    async def poll() -> T | None:
        return check()

    return await eventually(poll, what=what)


class Requests:
    """A reconciler that remembers every request it was given."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def reconcile(self, request: Request) -> None:
        self.seen.append(request)


def secret(namespace: str, name: str, password: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"password": password},
    }


@pytest.mark.parametrize("watch_list", [True, False], ids=["streaming-list", "list-then-watch"])
async def test_a_metadata_only_secret_watch_beside_a_full_one(
    client: Client, namespace: str, watch_list: bool
) -> None:
    await client.create(secret(namespace, "before", "one"))
    options = ManagerOptions(
        namespaces=(namespace,),
        metrics_bind_address="0",
        health_probe_bind_address="0",
        watch_list=watch_list,
    )
    mgr = Manager(client, options)

    def users_of(obj: Obj) -> Iterable[Request]:
        return [Request(namespace, f"uses-{obj['metadata']['name']}")]

    reconciler = Requests()
    ControllerBuilder(mgr, "secret-users").for_("v1", "ConfigMap").watches(
        "v1", "Secret", EnqueueMapped(users_of), metadata_only=True
    ).complete(reconciler)
    [full] = await mgr.informers("v1", "Secret")
    [metadata] = await mgr.informers("v1", "Secret", metadata_only=True)  # the one the controller watches
    seen = Recorder()
    metadata.add_handler(seen)

    def reconciled(name: str) -> bool | None:
        return Request(namespace, f"uses-{name}") in reconciler.seen or None

    async with running(mgr.start()):
        await soon(lambda: reconciled("before"), "the Secret listed at start reaches the controller")
        await client.create(secret(namespace, "rotated", "one"))
        created = await soon(lambda: metadata.store.get_by(namespace, "rotated"), "the new Secret cached")
        await soon(lambda: reconciled("rotated"), "the new Secret reaches the controller")
        # A change of the data alone is an update of the metadata view too: its resourceVersion moves.
        await client.patch(
            "v1", "Secret", "rotated", {"stringData": {"password": "two"}}, namespace=namespace
        )
        rv = created["metadata"]["resourceVersion"]
        await soon(
            lambda: any(e.new["metadata"]["resourceVersion"] != rv for e in seen.updated) or None,
            "the data-only update seen",
        )
        await client.delete("v1", "Secret", "rotated", namespace)
        await soon(lambda: "rotated" in seen.names(seen.deleted) or None, "the deletion seen")

        assert seen.names(seen.created) == {"before", "rotated"}
        cached = mgr.cache.get("v1", "Secret", "before", namespace, metadata_only=True)
        assert (cached["apiVersion"], cached["kind"], set(cached)) == (
            "v1",
            "Secret",
            {"apiVersion", "kind", "metadata"},
        )
        assert all(set(e.new) == {"apiVersion", "kind", "metadata"} for e in seen.updated)
        # The full informer of the same kind caches whole Secrets; plain cache reads go to it.
        assert full.store.get_by(namespace, "before")["data"] == {"password": "b25l"}  # type: ignore[index]
        assert (mgr.cache.get("v1", "Secret", "before", namespace))["data"] == {"password": "b25l"}
