"""The test side of e2e.chaos.ledger_writer: starting writer processes, reading the Lease and the
ledger, and the churn that gives the writers work. Fixtures are in e2e/chaos/conftest.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from e2e.chaos.ledger_writer import IDENTITY_LABEL
from e2e.support import configmap
from hack.testbed import cluster
from irc.runtime import errors
from irc.runtime.client import Client

REPO = Path(__file__).resolve().parents[2]
CYCLES = int(os.environ.get("IRC_CHAOS_CYCLES", "1"))
LEASE = ("coordination.k8s.io/v1", "Lease", "ledger")


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


async def churn(client: Client, namespace: str, prefix: str, created: list[str], every: float = 0.1) -> None:
    """A ConfigMap `every` seconds: by default 10 changes a second, close to what 4 workers of 0.3 s
    each keep up with."""
    while True:
        name = f"{prefix}-{len(created)}"
        await client.create(configmap(namespace, name))
        created.append(name)
        await asyncio.sleep(every)


async def synced(writers: Writers, identity: str) -> bool | None:
    return True if "caches synced" in writers.log(identity) else None


async def held_by(client: Client, ledger: str, identity: str) -> bool | None:
    seen = await holder(client, ledger)
    return True if seen and seen[0] == identity else None


async def has_entry(client: Client, ledger: str, identity: str, name: str) -> bool | None:
    return True if any(n == name for _, n in await entries(client, ledger, identity)) else None


async def covers(client: Client, ledger: str, identities: tuple[str, ...], names: list[str]) -> bool | None:
    written = {n for identity in identities for _, n in await entries(client, ledger, identity)}
    return True if set(names) <= written else None
