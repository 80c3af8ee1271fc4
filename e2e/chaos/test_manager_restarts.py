"""kube-apiserver killed and started again under a whole manager rather than one informer (issue 15's
first scenario, at the level a user runs): a library Manager with one controller over the namespace's
ConfigMaps, its health probes served on loopback, while a churn of creates, updates and deletes goes
on through another client. Each reconcile reads the object from the manager's cache and then makes
a call to the apiserver through the manager's client (as a real reconciler reads a Secret or writes
a status), so a reconcile that meets the outage fails and must be retried, not lost.

Checked, each restart: the manager's /readyz answered 503 while the apiserver was down (for every
outage longer than NOT_READY_AFTER plus a margin) and 200 again after. At the end: for every name the
churn touched, the last reconcile saw the server's final state (its resourceVersion, or gone), every
deletion included. Measured, each restart: how long after the apiserver was ready again a change made
then was reconciled, and when /readyz said 200 again. 1 restart in `make test`, 4 times
IRC_CHAOS_CYCLES in `make test-chaos`.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from e2e.chaos.informer_checks import churn
from e2e.support import configmap, eventually
from hack.testbed import cluster
from irc.runtime import ControllerBuilder, Manager, ManagerOptions, Request, errors
from irc.runtime.client import Client
from irc.runtime.informer import NOT_READY_AFTER
from irc.runtime.testing import running

pytestmark = pytest.mark.e2e

CYCLES = int(os.environ.get("IRC_CHAOS_CYCLES", "1"))
RESTARTS = 4 * CYCLES if CYCLES > 1 else 1
HOLDS = [0.5, 5.0, 2.0, 5.0] if CYCLES > 1 else [5.0]
WORK_SECONDS = 0.2


class Observer:
    """The controller: what the last reconcile of each name saw (a resourceVersion, None once gone)."""

    def __init__(self, mgr: Manager, namespace: str) -> None:
        self.mgr, self.namespace = mgr, namespace
        self.seen: dict[str, str | None] = {}
        self.at: dict[str, float] = {}  # when the last reconcile of each name read it (monotonic)
        self.reconciles = self.failures = 0

    async def reconcile(self, request: Request) -> None:
        self.reconciles += 1
        read = time.monotonic()
        try:
            obj = self.mgr.cache.get("v1", "ConfigMap", request.name, request.namespace)
            version: str | None = obj["metadata"]["resourceVersion"]
        except errors.NotFound:
            version = None
        await asyncio.sleep(WORK_SECONDS)  # work outside, so that reconciles are in flight at a kill
        try:
            await self.mgr.client.get("v1", "Namespace", self.namespace)  # the reconcile's own call
        except Exception:
            self.failures += 1
            raise
        self.seen[request.name], self.at[request.name] = version, read


async def ready(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


async def server_state(client: Client, namespace: str) -> dict[str, str]:
    items = (await client.list("v1", "ConfigMap", namespace)).items
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}


async def reconciled(client: Client, namespace: str, observer: Observer, name: str) -> float:
    """Create ConfigMap `name`: seconds until a reconcile has seen it."""
    made = time.monotonic()
    version = (await client.create(configmap(namespace, name)))["metadata"]["resourceVersion"]

    async def seen() -> bool | None:
        return True if observer.seen.get(name) == version else None

    await eventually(seen, within=120, what=f"{name} reconciled")
    return observer.at[name] - made


@pytest.fixture
async def observed(kube: cluster.Cluster, namespace: str) -> AsyncIterator[tuple[Observer, int]]:
    """A started manager whose controller is an Observer of `namespace`, and its health port."""
    options = ManagerOptions(
        namespaces=(namespace,), metrics_bind_address="0", health_probe_bind_address="127.0.0.1:0"
    )
    mgr = await Manager.from_kubeconfig(str(kube.kubeconfig), options=options)
    observer = Observer(mgr, namespace)
    ControllerBuilder(mgr, "observer").for_("v1", "ConfigMap").with_options(
        max_concurrent_reconciles=4
    ).complete(observer)
    try:
        async with running(mgr.start()):
            await asyncio.wait_for(mgr.elected.wait(), 60)
            yield observer, mgr.http_servers[0].port
    finally:
        await mgr.client.close()


async def test_a_manager_through_apiserver_kills_reconciles_every_final_state_and_its_readyz_tells_the_truth(
    kube: cluster.Cluster, client: Client, namespace: str, observed: tuple[Observer, int]
) -> None:
    observer, port = observed
    catch_up: list[float] = []  # seconds from the apiserver ready to a change made then reconciled
    ready_again: list[float] = []  # seconds from the apiserver ready to /readyz 200 (polled every 20 ms)
    rng = random.Random(151)
    ops = [0]
    async with aiohttp.ClientSession() as http:
        assert await ready(http, port)
        writes = asyncio.create_task(churn(client, namespace, ops))
        try:
            for restart in range(RESTARTS):
                await asyncio.sleep(rng.uniform(1, 3))
                killed = time.monotonic()
                await asyncio.to_thread(kube.stop_component, "kube-apiserver", kill=True)
                said_not_ready = False
                starting: asyncio.Task[None] | None = None
                hold = killed + HOLDS[restart % len(HOLDS)]
                while starting is None or not starting.done():
                    said_not_ready |= not await ready(http, port)
                    if starting is None and time.monotonic() >= hold:
                        starting = asyncio.create_task(
                            asyncio.to_thread(kube.start_component, "kube-apiserver")
                        )
                    if starting is None:
                        await asyncio.sleep(0.1)
                    else:  # returns as soon as the apiserver is up
                        await asyncio.wait([starting], timeout=0.1)
                await starting
                up = time.monotonic()
                if up - killed > NOT_READY_AFTER + 2:
                    assert said_not_ready, f"restart {restart}: down {up - killed:.1f} s, /readyz always 200"
                async with asyncio.timeout(120):
                    # Polled: /readyz is the manager's answer over HTTP, as the kubelet sees it.
                    while not await ready(http, port):  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                ready_again.append(time.monotonic() - up)
                catch_up.append(await reconciled(client, namespace, observer, f"marker-{restart}"))

        finally:
            writes.cancel()
            await asyncio.gather(writes, return_exceptions=True)

    async def all_final_states_reconciled() -> bool | None:
        server = await server_state(client, namespace)
        last = {name: version for name, version in observer.seen.items() if version is not None}
        return True if last == server else None

    await eventually(all_final_states_reconciled, within=120, what="every final state reconciled")
    gone = [name for name, version in observer.seen.items() if version is None]
    print(
        f"\n{RESTARTS} kube-apiserver kills under a manager, {ops[0]} successful writes, "
        f"{observer.reconciles} reconciles ({observer.failures} failed on the outage and retried), "
        f"{len(observer.seen)} names reconciled, {len(gone)} ending deleted; a change made then "
        f"reconciled after median {statistics.median(catch_up):.2f} s (max {max(catch_up):.2f}); "
        f"/readyz 200 again after median {statistics.median(ready_again):.2f} s (max {max(ready_again):.2f})"
    )
