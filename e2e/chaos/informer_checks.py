"""What an informer under fault is checked with: the state its handlers were told, a churn of writes
through another client, and its readiness and cache as the tests poll them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import aiohttp

from e2e.support import configmap, eventually
from irc.runtime import errors
from irc.runtime.client import Client
from irc.runtime.informer import CreateEvent, DeleteEvent, Informer, UpdateEvent
from irc.runtime.testing import running

NAMES = [f"cm-{i}" for i in range(40)]


class Told:
    """What the handlers were told: the last state of each object, None once deleted."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any] | None] = {}
        self.inferred: set[str] = set()
        """Names whose deletion a relist inferred (state_unknown), not a watch event."""

    def create(self, event: CreateEvent) -> None:
        self.state[event.obj["metadata"]["name"]] = event.obj

    def update(self, event: UpdateEvent) -> None:
        self.state[event.new["metadata"]["name"]] = event.new

    def delete(self, event: DeleteEvent) -> None:
        self.state[event.obj["metadata"]["name"]] = None
        if event.state_unknown:
            self.inferred.add(event.obj["metadata"]["name"])


def versions(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in objects}


async def converged(client: Client, namespace: str, informer: Informer, told: Told) -> bool | None:
    """True once the cache, and the state the handlers were told, equal the server's list."""
    server = versions((await client.list("v1", "ConfigMap", namespace)).items)
    cached = versions(informer.store.list())
    handled = versions([o for o in told.state.values() if o is not None])
    return True if server == cached == handled else None


async def churn(client: Client, namespace: str, done: list[int]) -> None:
    """Creates, updates and deletes over NAMES, 20 a second; failures while the server is down are
    expected (and an operation whose answer was lost may or may not have happened: the server's
    final state is the truth the cache is compared with)."""
    rng = random.Random(15)
    while True:
        name = rng.choice(NAMES)
        try:
            op = rng.random()
            if op < 0.4:
                await client.create(configmap(namespace, name, v=str(done[0])))
            elif op < 0.8:
                patch = {"data": {"v": str(done[0])}}
                await client.patch("v1", "ConfigMap", name, patch, namespace=namespace)
            else:
                await client.delete("v1", "ConfigMap", name, namespace)
            done[0] += 1
        except (errors.ApiError, aiohttp.ClientError, OSError, TimeoutError):
            pass
        await asyncio.sleep(0.05)


async def is_ready(informer: Informer) -> bool:
    try:
        await informer.check()
    except RuntimeError:
        return False
    return True


async def in_cache(informer: Informer, name: str) -> bool | None:
    return True if any(o["metadata"]["name"] == name for o in informer.store.list()) else None


@contextlib.asynccontextmanager
async def informed(
    client: Client, namespace: str, inactivity_timeout: float = 90.0
) -> AsyncIterator[tuple[Informer, Told]]:
    """A running, synced informer of the namespace's ConfigMaps, and what its handlers were told."""
    informer = Informer(client, "v1", "ConfigMap", namespace=namespace, inactivity_timeout=inactivity_timeout)
    told = Told()
    informer.add_handler(told)
    async with running(informer.run()):
        await informer.wait_for_sync(within=60)
        yield informer, told


@contextlib.asynccontextmanager
async def churning(
    client: Client, namespace: str, informer: Informer, told: Told
) -> AsyncIterator[list[int]]:
    """The churn through `client` for the block (yields its count of successful writes); then waits
    until the cache, and the state the handlers were told, equal the server's list."""
    ops = [0]
    writes = asyncio.create_task(churn(client, namespace, ops))
    try:
        yield ops
    finally:
        writes.cancel()
        await asyncio.gather(writes, return_exceptions=True)
    await eventually(
        partial(converged, client, namespace, informer, told),
        within=120,
        what="cache and handlers equal the server",
    )


async def marker_cached(client: Client, namespace: str, informer: Informer, name: str) -> float:
    """Create ConfigMap `name` through `client`: seconds until it is in the informer's cache."""
    made = time.monotonic()
    await client.create(configmap(namespace, name))
    await eventually(partial(in_cache, informer, name), within=120, what=f"{name} cached")
    return time.monotonic() - made
