"""Manager, controllers and leader election end to end: the docs' example controller in-process,
reconciles resuming after an apiserver outage, conflicts retried, the `irc manager` binary's probes
and graceful stop, and two example processes electing a leader through kill -9 and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from e2e.support import configmap, eventually, outage, running
from examples import configmap_labeler
from hack.testbed import cluster, procs
from irc.runtime import Conflict, ControllerBuilder, Manager, ManagerOptions, Request, Result
from irc.runtime.client import Client
from irc.runtime.transport import KubeTransport

REPO = Path(__file__).resolve().parent.parent


def options(namespace: str) -> ManagerOptions:
    return ManagerOptions(namespaces=(namespace,), metrics_bind_address="0", health_probe_bind_address="0")


@contextlib.asynccontextmanager
async def started(mgr: Manager) -> AsyncIterator[None]:
    try:
        async with running(mgr.start()):
            yield
    finally:  # also when the test failed: a session left to the garbage collector fails the run
        await mgr.client.close()


async def labels_of(client: Client, namespace: str, name: str) -> dict[str, str]:
    return (await client.get("v1", "ConfigMap", name, namespace))["metadata"].get("labels") or {}


async def test_docs_example_keeps_the_label(kube: cluster.Cluster, namespace: str) -> None:
    mgr = await Manager.from_kubeconfig(str(kube.kubeconfig), options=options(namespace))
    configmap_labeler.setup(mgr)
    client = mgr.client
    await client.create(configmap(namespace, "before-start"))
    async with started(mgr):
        await client.create(configmap(namespace, "after-start"))

        async def labeled(name: str) -> bool | None:
            value = (await labels_of(client, namespace, name)).get(configmap_labeler.LABEL)
            return True if value == configmap_labeler.VALUE else None

        for name in ("before-start", "after-start"):
            await eventually(lambda n=name: labeled(n), what=f"{name} labeled")  # type: ignore[misc]
        # Someone removes the label: the controller puts it back.
        await client.patch(
            "v1", "ConfigMap", "after-start", {"metadata": {"labels": None}}, namespace=namespace
        )
        await eventually(lambda: labeled("after-start"), what="label restored")

        async def event_recorded() -> bool | None:
            events = await client.list("v1", "Event", namespace)
            reasons = {(e["involvedObject"]["name"], e["reason"]) for e in events.items}
            return True if ("before-start", "Labeled") in reasons else None

        await eventually(event_recorded, what="a Labeled Event")
        success = mgr.metrics.registry.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": "configmap-labeler", "result": "success"}
        )
        assert success is not None and success >= 3


async def test_reconciles_resume_after_an_apiserver_outage(
    kube: cluster.Cluster, namespace: str, http: aiohttp.ClientSession
) -> None:
    """The apiserver goes down under a running manager (this event loop runs on meanwhile): its
    readiness probe fails while the informer cannot reach the server, passes again once it has
    reconnected, and the controller reconciles what changed after the outage."""
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=replace(options(namespace), health_probe_bind_address="127.0.0.1:0"),
    )
    configmap_labeler.setup(mgr)
    client = mgr.client

    async def labeled(name: str) -> bool | None:
        value = (await labels_of(client, namespace, name)).get(configmap_labeler.LABEL)
        return True if value == configmap_labeler.VALUE else None

    async def readyz(ok: bool) -> bool | None:
        probes = next(s for s in mgr.http_servers if s.name == "health probe")
        async with http.get(f"{probes.url}/readyz") as resp:
            return True if (resp.status == 200) == ok else None

    await client.create(configmap(namespace, "before"))
    async with started(mgr):
        await eventually(lambda: labeled("before"), what="before labeled")
        await eventually(lambda: readyz(True), what="the manager is ready")
        async with outage(kube, "kube-apiserver"):
            await eventually(lambda: readyz(False), within=60, what="readyz fails during the outage")
        await client.create(configmap(namespace, "after"))
        await client.patch("v1", "ConfigMap", "before", {"metadata": {"labels": None}}, namespace=namespace)
        await eventually(lambda: labeled("after"), what="a ConfigMap created after the outage labeled")
        await eventually(lambda: labeled("before"), what="a label removed after the outage restored")
        await eventually(lambda: readyz(True), what="the manager is ready again")


class StaleUpdater:
    """Read-modify-write from the cache with a precondition: the first attempt is made stale on purpose."""

    def __init__(self, mgr: Manager, stale: asyncio.Event, proceed: asyncio.Event) -> None:
        self.mgr, self.stale, self.proceed = mgr, stale, proceed
        self.attempts = 0
        self.conflicts = 0

    async def reconcile(self, request: Request) -> Result | None:
        cached = self.mgr.cache.get("v1", "ConfigMap", request.name, request.namespace)
        if (cached.get("data") or {}).get("reconciled") == "yes":
            return None
        self.attempts += 1
        if self.attempts == 1:
            self.stale.set()
            await self.proceed.wait()  # the test changes the object now: our copy is out of date
        updated = copy.deepcopy(cached)
        updated.setdefault("data", {})["reconciled"] = "yes"
        try:
            await self.mgr.client.update(updated)
        except Conflict:
            self.conflicts += 1
            raise
        return None


async def test_conflicts_are_retried_until_the_write_lands(kube: cluster.Cluster, namespace: str) -> None:
    mgr = await Manager.from_kubeconfig(str(kube.kubeconfig), options=options(namespace))
    stale, proceed = asyncio.Event(), asyncio.Event()
    reconciler = StaleUpdater(mgr, stale, proceed)
    ControllerBuilder(mgr, "stale-updater").for_("v1", "ConfigMap").complete(reconciler)
    client = mgr.client
    async with started(mgr):
        await client.create(configmap(namespace, "contended", theirs="1"))
        await asyncio.wait_for(stale.wait(), 60)
        await client.patch("v1", "ConfigMap", "contended", {"data": {"theirs": "2"}}, namespace=namespace)
        proceed.set()

        async def converged() -> dict[str, str] | None:
            data = (await client.get("v1", "ConfigMap", "contended", namespace)).get("data") or {}
            return data if data.get("reconciled") == "yes" else None

        data = await eventually(converged, what="the reconciler's write lands after the conflict")
    assert data == {"theirs": "2", "reconciled": "yes"}  # nobody's change was lost
    assert reconciler.conflicts >= 1 and reconciler.attempts >= 2
    errors = mgr.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "stale-updater"}
    )
    assert errors is not None and errors >= 1


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_manager_binary_serves_probes_and_releases_its_lease_on_sigterm(
    kube: cluster.Cluster, namespace: str, tmp_path: Path
) -> None:
    metrics, health = procs.free_port(), procs.free_port()
    lease = f"irc-{uuid.uuid4().hex[:6]}"
    log = (tmp_path / "manager.log").open("w")
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
        [
            sys.executable,
            "-m",
            "irc",
            "manager",
            f"--kubeconfig={kube.kubeconfig}",
            "--leader-elect",
            f"--leader-election-id={lease}",
            f"--leader-election-namespace={namespace}",
            f"--metrics-bind-address=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
            "--log-format=json",
            "--controllers=",  # no controllers: this test is about the manager itself
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:

        async def holder() -> str | None:
            try:
                return (
                    await asyncio.to_thread(
                        kube.kubectl,
                        "get",
                        "lease",
                        lease,
                        "-n",
                        namespace,
                        "-o",
                        "jsonpath={.spec.holderIdentity}",
                    )
                    or None
                )
            except RuntimeError:  # not created yet
                return None

        assert await eventually(holder, what="the manager takes the lease")
        status, _ = await asyncio.to_thread(_get, f"http://127.0.0.1:{health}/readyz")
        assert status == 200
        status, body = await asyncio.to_thread(_get, f"http://127.0.0.1:{health}/healthz?verbose")
        assert status == 200 and "[+]leader-election ok" in body
        status, body = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics}/metrics")
        assert status == 200 and f'leader_election_master_status{{name="{lease}"}} 1.0' in body
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        released = kube.kubectl(
            "get",
            "lease",
            lease,
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.holderIdentity}/{.spec.leaseDurationSeconds}",
        )
        assert released == "/1"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


class Labelers:
    """examples/configmap_labeler.py processes with leader election on, in one namespace (their Lease
    too: POD_NAMESPACE names it)."""

    def __init__(self, kube: cluster.Cluster, namespace: str, logs: Path) -> None:
        self.kube, self.namespace, self.logs = kube, namespace, logs
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.log_paths: dict[int, Path] = {}

    def start(self) -> int:
        path = self.logs / f"labeler-{len(self.procs)}.log"
        log = path.open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "examples/configmap_labeler.py",
                f"--kubeconfig={self.kube.kubeconfig}",
                f"--namespace={self.namespace}",
                "--leader-elect",
                "--lease-duration=8",  # renew deadline 5.3 s: no lost lease on a loaded machine
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "POD_NAMESPACE": self.namespace},
        )
        log.close()
        self.procs[proc.pid] = proc
        self.log_paths[proc.pid] = path
        return proc.pid

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    async def contending(self, pid: int) -> None:
        """Wait until process `pid` has synced its cache: its leader elector starts right then."""

        async def synced() -> bool | None:
            log = await asyncio.to_thread(self.log_paths[pid].read_text)
            return True if "caches synced" in log else None

        await eventually(synced, within=60, what=f"labeler {pid} syncs its cache and starts electing")

    async def renewed(self, client: Client, times: int) -> None:
        """Wait until the holder has renewed the Lease `times` more times: a candidate already electing
        has meanwhile tried for it (every 1.1 s here) and found it held."""
        seen: set[str] = set()

        async def renewals() -> bool | None:
            lease = await client.get("coordination.k8s.io/v1", "Lease", "configmap-labeler", self.namespace)
            seen.add(lease["spec"]["renewTime"])
            return True if len(seen) > times else None

        await eventually(renewals, within=60, what=f"the Lease renewed {times} times")

    async def labeled_by(self, client: Client, name: str) -> int:
        """Create a ConfigMap and return the pid of the process that labels it."""
        await client.create(configmap(self.namespace, name))

        async def who() -> int | None:
            annotations = (await client.get("v1", "ConfigMap", name, self.namespace))["metadata"].get(
                "annotations"
            ) or {}
            by = annotations.get(configmap_labeler.LABELED_BY)
            return int(by.rsplit("-", 1)[1]) if by else None

        return await eventually(who, within=60, what=f"{name} labeled by some leader")


@pytest.fixture
def labelers(kube: cluster.Cluster, namespace: str, tmp_path: Path) -> Iterator[Labelers]:
    group = Labelers(kube, namespace, tmp_path)
    yield group
    group.stop_all()


async def test_one_leader_reconciles_and_standbys_take_over(
    kube: cluster.Cluster, namespace: str, labelers: Labelers
) -> None:
    first, second = labelers.start(), labelers.start()
    client = Client(await KubeTransport.from_config(str(kube.kubeconfig)))
    try:
        for pid in (first, second):  # both watch the ConfigMaps and compete for the Lease
            await labelers.contending(pid)
        leader = await labelers.labeled_by(client, "one")
        assert leader in (first, second)
        for i in range(5):  # while both run, only the leader ever writes
            assert await labelers.labeled_by(client, f"both-{i}") == leader
        standby = second if leader == first else first

        labelers.procs[leader].kill()  # kill -9: no release; the standby waits out the lease
        assert await labelers.labeled_by(client, "after-kill") == standby

        third = labelers.start()
        # The newcomer is electing, and has since found the Lease held: it takes over as a waiting
        # candidate, not as the first process to see a free Lease.
        await labelers.contending(third)
        await labelers.renewed(client, times=2)
        labelers.procs[standby].send_signal(signal.SIGTERM)  # graceful: releases the lease
        assert await asyncio.to_thread(labelers.procs[standby].wait, 30) == 0
        assert await labelers.labeled_by(client, "after-sigterm") == third
    finally:
        await client.close()
