"""kube-apiserver killed (SIGKILL) and started again, over and over, under an informer while a churn of
creates, updates and deletes goes on (issue 15's first scenario). Checked, each restart: readiness was
false while the watch was down (for every outage longer than NOT_READY_AFTER plus a margin) and true
again after; at the end: the cache, and the state the handlers were told, equal the server's, every
deletion included. Measured, each restart: how long after the apiserver was ready again a change made
then reached the cache, and when readiness came back. The figures are printed (`-s`) for
docs/reliability.md; no test asserts a timing. 1 restart in `make test`, 4 times IRC_CHAOS_CYCLES in
`make test-chaos` (20).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from functools import partial

import pytest

from e2e.chaos.informer_checks import churning, informed, is_ready, marker_cached
from e2e.support import eventually
from e2e.test_runtime_informer import healthy
from hack.testbed import cluster
from irc.runtime.client import Client
from irc.runtime.informer import NOT_READY_AFTER

pytestmark = pytest.mark.e2e

CYCLES = int(os.environ.get("IRC_CHAOS_CYCLES", "1"))
RESTARTS = 4 * CYCLES if CYCLES > 1 else 1
# Seconds the apiserver stays killed before it is started (≈3 s more); make test: one long outage.
HOLDS = [0.5, 5.0, 2.0, 5.0] if CYCLES > 1 else [5.0]


async def test_an_informer_through_apiserver_kills_misses_nothing_and_its_readiness_tells_the_truth(
    kube: cluster.Cluster, client: Client, namespace: str
) -> None:
    catch_up: list[float] = []  # seconds from the apiserver ready to a change made then in the cache
    ready_again: list[float] = []  # seconds from the apiserver ready to the informer ready
    down: list[float] = []  # seconds from the kill to the apiserver ready
    rng = random.Random(150)
    async with (
        informed(client, namespace) as (informer, told),
        churning(client, namespace, informer, told) as ops,
    ):
        for restart in range(RESTARTS):
            await asyncio.sleep(rng.uniform(1, 3))  # events flow between restarts
            killed = time.monotonic()
            await asyncio.to_thread(kube.stop_component, "kube-apiserver", kill=True)
            seen_not_ready = False
            hold = time.monotonic() + HOLDS[restart % len(HOLDS)]
            while time.monotonic() < hold:
                seen_not_ready |= not await is_ready(informer)
                await asyncio.sleep(0.1)
            starting = asyncio.create_task(asyncio.to_thread(kube.start_component, "kube-apiserver"))
            while not starting.done():
                seen_not_ready |= not await is_ready(informer)
                await asyncio.sleep(0.1)
            await starting
            ready = time.monotonic()
            down.append(ready - killed)
            if ready - killed > NOT_READY_AFTER + 2:
                assert seen_not_ready, f"restart {restart}: down {ready - killed:.1f} s, always ready"
            catch_up.append(await marker_cached(client, namespace, informer, f"marker-{restart}"))
            await eventually(partial(healthy, informer), within=120, what="the informer ready")
            ready_again.append(time.monotonic() - ready)
    deleted = [n for n, o in told.state.items() if o is None]
    print(
        f"\n{RESTARTS} kube-apiserver kills, {ops[0]} successful writes, {len(told.state)} objects told, "
        f"{len(deleted)} ending deleted; down (kill to ready) median {statistics.median(down):.1f} s "
        f"(max {max(down):.1f}); a change made at ready in the cache after median "
        f"{statistics.median(catch_up):.2f} s (max {max(catch_up):.2f}); readiness back after median "
        f"{statistics.median(ready_again):.2f} s (max {max(ready_again):.2f})"
    )
