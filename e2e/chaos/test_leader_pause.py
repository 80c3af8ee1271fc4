"""A leader paused (SIGSTOP) for longer than its lease, then resumed: the standby has taken the Lease
meanwhile, and the old leader must not write anything once resumed, though its socket holds the watch
events of the pause and its queue the work they bring (issue 15's paused-leader case).

Two e2e.chaos.ledger_writer processes share a Lease; every reconcile of theirs creates a ledger entry (a
ConfigMap labelled with the writer's identity) in a namespace of its own. The server orders every write:
resourceVersions of one etcd are its revisions, so an entry of the paused leader's with a higher one
than the Lease had when the standby was seen holding it is a write by two leaders at once.
IRC_CHAOS_CYCLES (default 1) repeats the pause with the roles swapped; `make test-chaos` runs 5.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest

from e2e.chaos.ledger_writer import IDENTITY_LABEL, LEASE_SECONDS
from e2e.support import configmap, eventually
from hack.testbed import cluster
from irc.runtime import errors
from irc.runtime.client import Client

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CYCLES = int(os.environ.get("IRC_CHAOS_CYCLES", "1"))
LEASE = ("coordination.k8s.io/v1", "Lease", "ledger")


@pytest.fixture
async def ledger(client: Client) -> AsyncIterator[str]:
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await client.delete("v1", "Namespace", name)


class Writers:
    def __init__(self, kube: cluster.Cluster, watch: str, ledger: str, logs: Path) -> None:
        self.kube, self.watch, self.ledger, self.logs = kube, watch, ledger, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, identity: str) -> None:
        log = (self.logs / f"{identity}.log").open("ab")
        self.procs[identity] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "e2e.chaos.ledger_writer",
                f"--kubeconfig={self.kube.kubeconfig}",
                f"--watch={self.watch}",
                f"--ledger={self.ledger}",
                "--lease=ledger",
                f"--identity={identity}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        log.close()

    def log(self, identity: str) -> str:
        return (self.logs / f"{identity}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait()


@pytest.fixture
def writers(kube: cluster.Cluster, namespace: str, ledger: str, tmp_path: Path) -> Iterator[Writers]:
    group = Writers(kube, namespace, ledger, tmp_path)
    yield group
    group.stop_all()


async def holder(client: Client, ledger: str) -> tuple[str, int] | None:
    try:
        lease = await client.get(LEASE[0], LEASE[1], LEASE[2], ledger)
    except errors.NotFound:
        return None
    return lease["spec"].get("holderIdentity") or "", int(lease["metadata"]["resourceVersion"])


async def entries(client: Client, ledger: str, identity: str) -> list[tuple[int, str]]:
    """(resourceVersion, the ConfigMap it was written for) of `identity`'s ledger entries."""
    selector = f"{IDENTITY_LABEL}={identity}"
    listed = await client.list("v1", "ConfigMap", namespace=ledger, label_selector=selector)
    return sorted((int(e["metadata"]["resourceVersion"]), e["data"]["for"]) for e in listed.items)


async def test_a_leader_paused_past_its_lease_writes_nothing_once_the_standby_has_taken_over(
    client: Client, namespace: str, ledger: str, writers: Writers
) -> None:
    identities = [f"w{i}" for i in range(CYCLES + 1)]
    writers.start(identities[0])
    await eventually(partial(_held_by, client, ledger, identities[0]), within=60, what="the Lease taken")
    for cycle in range(CYCLES):
        leader, standby = identities[cycle], identities[cycle + 1]
        writers.start(standby)
        await eventually(partial(_synced, writers, standby), within=60, what=f"{standby} starts electing")
        warm = f"warm-{cycle}"
        await client.create(configmap(namespace, warm))
        await eventually(partial(_has_entry, client, ledger, leader, warm), within=60, what=f"{leader} acts")

        created: list[str] = []
        churn = asyncio.create_task(_churn(client, namespace, f"c{cycle}", created))
        await asyncio.sleep(2)  # the leader's workers are busy when it stops
        writers.procs[leader].send_signal(signal.SIGSTOP)
        paused_at, taken_at_rv = time.monotonic(), None
        # Its socket fills with the events of the pause; stay stopped past the hand-over and the lease.
        while taken_at_rv is None or time.monotonic() - paused_at < LEASE_SECONDS + 2:
            if taken_at_rv is None and (seen := await holder(client, ledger)) and seen[0] == standby:
                taken_at_rv = seen[1]
            assert time.monotonic() - paused_at < 60, "the standby never took the Lease"
            await asyncio.sleep(0.2)
        writers.procs[leader].send_signal(signal.SIGCONT)

        code = await asyncio.to_thread(writers.procs[leader].wait, 60)
        churn.cancel()
        await asyncio.gather(churn, return_exceptions=True)
        assert code == 1, f"{leader} exited {code}, not 1 for a lost lease:\n{writers.log(leader)[-3000:]}"
        assert "lost lease" in writers.log(leader)
        late = [(rv, name) for rv, name in await entries(client, ledger, leader) if rv > taken_at_rv]
        assert late == [], f"{leader} wrote after {standby} took the Lease (at resourceVersion {taken_at_rv})"
        # Nothing was lost: every ConfigMap of the cycle has an entry, the old leader's or the new one's.
        covered = partial(_covers, client, ledger, (leader, standby), created)
        await eventually(covered, within=60, what="every change reconciled")


async def _churn(client: Client, namespace: str, prefix: str, created: list[str]) -> None:
    """A ConfigMap every 0.1 s: 10 changes a second, close to what 4 workers of 0.3 s each keep up with."""
    while True:
        name = f"{prefix}-{len(created)}"
        await client.create(configmap(namespace, name))
        created.append(name)
        await asyncio.sleep(0.1)


async def _synced(writers: Writers, identity: str) -> bool | None:
    return True if "caches synced" in writers.log(identity) else None


async def _held_by(client: Client, ledger: str, identity: str) -> bool | None:
    seen = await holder(client, ledger)
    return True if seen and seen[0] == identity else None


async def _has_entry(client: Client, ledger: str, identity: str, name: str) -> bool | None:
    return True if any(n == name for _, n in await entries(client, ledger, identity)) else None


async def _covers(client: Client, ledger: str, identities: tuple[str, ...], names: list[str]) -> bool | None:
    written = {n for identity in identities for _, n in await entries(client, ledger, identity)}
    return True if set(names) <= written else None
