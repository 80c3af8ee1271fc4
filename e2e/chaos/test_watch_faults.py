"""Network faults between one informer and kube-apiserver while a churn of creates, updates and
deletes goes on through another client: the parts of issue 15's first scenario a process kill
cannot make. The informer's client goes through `e2e.chaos.proxy.Proxy`.

- A frozen watch: the proxy black-holes the informer's connections (no FIN, no RST). The informer's
  watchdog (`inactivity_timeout`, 3 s here, 90 s by default: the apiserver sends a bookmark about
  every minute) must give the watch up and open a new one. Measured, each freeze: how long a
  change made at the freeze takes to reach the cache.
- Cut off while history is erased: the proxy resets the informer's connections and turns new ones
  away; meanwhile objects it has cached are deleted, etcd is compacted and kube-apiserver restarted,
  so its resourceVersion is gone from both etcd and the watch cache. On its return the watch must
  end in 410 Gone and the relist deliver every deletion it missed. Checked, each cut: readiness
  false while cut off, the deletions delivered as inferred ones, a 410 logged. Measured: how long
  after the proxy lets it through again a change made then reaches the cache.

At the end of each test the cache, and the state the handlers were told, equal the server's list.
Figures are printed (`-s`) for docs/reliability.md; no test asserts a timing. 1 fault of each kind
in `make test`, 2 times IRC_CHAOS_CYCLES in `make test-chaos` (10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import statistics
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from e2e.chaos.informer_checks import churning, informed, is_ready, marker_cached
from e2e.chaos.ledger import CYCLES
from e2e.chaos.proxy import Proxy
from e2e.support import eventually
from hack.testbed import cluster
from irc.runtime.client import Client
from irc.runtime.informer import Informer
from irc.runtime.transport import KubeTransport

pytestmark = pytest.mark.e2e

FAULTS = 2 * CYCLES if CYCLES > 1 else 1
INACTIVITY = 3.0


@contextlib.asynccontextmanager
async def through_proxy(kube: cluster.Cluster, directory: Path) -> AsyncIterator[tuple[Proxy, Client]]:
    """A proxy in front of kube-apiserver, and a client of the cluster that goes through it."""
    port = int(kube.server.rsplit(":", 1)[1])
    async with Proxy(port) as proxy:
        kubeconfig = directory / "kubeconfig-proxied"
        kubeconfig.write_text(
            kube.kubeconfig.read_text().replace(kube.server, f"https://127.0.0.1:{proxy.port}")
        )
        proxied = Client(await KubeTransport.from_config(str(kubeconfig)))
        try:
            yield proxy, proxied
        finally:
            await proxied.close()


async def test_a_frozen_watch_is_given_up_by_the_watchdog_and_nothing_is_missed(
    kube: cluster.Cluster, client: Client, namespace: str, tmp_path: Path
) -> None:
    lag: list[float] = []  # seconds from the freeze to a change made then in the cache
    frozen: list[int] = []  # connections each freeze black-holed
    rng = random.Random(151)
    async with (
        through_proxy(kube, tmp_path) as (proxy, proxied),
        informed(proxied, namespace, INACTIVITY) as (informer, told),
        churning(client, namespace, informer, told) as ops,
    ):
        for cycle in range(FAULTS):
            await asyncio.sleep(rng.uniform(1, 3))  # events flow between freezes
            frozen.append(proxy.freeze())
            lag.append(await marker_cached(client, namespace, informer, f"frozen-{cycle}"))
    assert all(frozen), "every freeze caught the watch's connection"
    print(
        f"\n{FAULTS} frozen watches ({INACTIVITY:.0f} s watchdog), {ops[0]} successful writes, "
        f"{sum(frozen)} connections black-holed, {proxy.accepted} opened through the proxy; a change made "
        f"at the freeze in the cache after median {statistics.median(lag):.2f} s (max {max(lag):.2f})"
    )


async def test_an_informer_cut_off_while_history_is_erased_relists_and_delivers_every_deletion(
    kube: cluster.Cluster, client: Client, namespace: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catch_up: list[float] = []  # seconds from the proxy letting the informer through to a change cached
    not_ready: list[float] = []  # seconds from the cut to readiness false
    caplog.set_level(logging.INFO, logger="irc.runtime.informer")
    async with (
        through_proxy(kube, tmp_path) as (proxy, proxied),
        informed(proxied, namespace) as (informer, told),
        churning(client, namespace, informer, told) as ops,
    ):
        for cycle in range(FAULTS):
            doomed = [f"doomed-{cycle}-{i}" for i in range(3)]
            for name in doomed:
                await marker_cached(client, namespace, informer, name)
            caplog.clear()
            proxy.cut()
            cut = time.monotonic()
            for name in doomed:
                await client.delete("v1", "ConfigMap", name, namespace)
            await eventually(partial(unready, informer), within=30, what="readiness false while cut off")
            not_ready.append(time.monotonic() - cut)
            await asyncio.to_thread(kube.compact_etcd)
            await asyncio.to_thread(kube.restart, "kube-apiserver")
            proxy.resume()  # the marker's time from here on is the catch-up
            catch_up.append(await marker_cached(client, namespace, informer, f"resumed-{cycle}"))
            assert set(doomed) <= told.inferred, "the deletions were delivered by the relist"
            assert any("too old" in r.getMessage() for r in caplog.records), "the watch met 410 Gone"
    print(
        f"\n{FAULTS} cuts with etcd compacted and kube-apiserver restarted, {ops[0]} successful writes, "
        f"{len(told.inferred)} deletions inferred by relists; readiness false after median "
        f"{statistics.median(not_ready):.2f} s of a cut (max {max(not_ready):.2f}); a change made when "
        f"let through again in the cache after median {statistics.median(catch_up):.2f} s "
        f"(max {max(catch_up):.2f})"
    )


async def unready(informer: Informer) -> bool | None:
    return None if await is_ready(informer) else True
