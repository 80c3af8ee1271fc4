"""What an informer under fault is checked with: the state its handlers were told, a churn of writes
through another client, and its readiness and cache as the tests poll them."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp

from e2e.support import configmap
from irc.runtime import errors
from irc.runtime.client import Client
from irc.runtime.informer import CreateEvent, DeleteEvent, Informer, UpdateEvent

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
