"""429 Too Many Requests from the real kube-apiserver's API priority and fairness (issue 15's first
scenario): a PriorityLevelConfiguration of one share that rejects instead of queueing, and a
FlowSchema that puts one ServiceAccount in it, so the apiserver answers that account's requests
beyond the level's few seats with 429 and Retry-After, as a loaded cluster sheds load.

Through that account: a burst of concurrent LISTs must each return the server's list (the client
waits out each Retry-After and tries again, up to 10 times, as client-go does), and an informer must
sync and stay current through bursts that saturate its level: a change made during a burst reaches
its cache, and the informer is ready at the end. The apiserver's own counter of rejections for the
level shows it did reject. Figures are printed (`-s`) for docs/reliability.md; no test asserts a
timing. One round in `make test`, IRC_CHAOS_CYCLES rounds in `make test-chaos`.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from e2e.chaos.informer_checks import is_ready, marker_cached
from e2e.chaos.ledger import CYCLES
from e2e.support import configmap, eventually, token_kubeconfig
from hack.testbed import cluster
from irc.runtime.client import Client
from irc.runtime.informer import Informer
from irc.runtime.testing import running
from irc.runtime.transport import KubeTransport, Request

pytestmark = pytest.mark.e2e

BURST = 60  # concurrent LISTs; the level has about 3 seats (1 share of the server's 600)
OBJECTS = 100


def throttled_account(namespace: str, name: str) -> list[dict[str, object]]:
    """A ServiceAccount that may read the namespace, and the flow control that squeezes it."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 1,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": name},
            "spec": {
                "priorityLevelConfiguration": {"name": name},
                "matchingPrecedence": 500,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [
                            {
                                "kind": "ServiceAccount",
                                "serviceAccount": {"name": name, "namespace": namespace},
                            }
                        ],
                        "resourceRules": [
                            {
                                "verbs": ["*"],
                                "apiGroups": ["*"],
                                "resources": ["*"],
                                "namespaces": ["*"],
                                "clusterScope": True,
                            }
                        ],
                    }
                ],
            },
        },
    ]


@contextlib.asynccontextmanager
async def throttled(
    kube: cluster.Cluster, namespace: str, directory: Path
) -> AsyncIterator[tuple[str, Client]]:
    name = f"irc-throttled-{uuid.uuid4().hex[:6]}"
    manifest = directory / "throttled.yaml"
    manifest.write_text(yaml.safe_dump_all(throttled_account(namespace, name)))
    await asyncio.to_thread(kube.kubectl, "apply", "-f", str(manifest))
    try:
        kubeconfig = await asyncio.to_thread(
            token_kubeconfig, kube, namespace, name, directory / "kubeconfig"
        )
        squeezed = Client(await KubeTransport.from_config(str(kubeconfig)))
        try:
            yield name, squeezed
        finally:
            await squeezed.close()
    finally:
        await asyncio.to_thread(kube.kubectl, "delete", "--ignore-not-found", "-f", str(manifest))


async def rejected(admin: Client, level: str) -> int:
    """The apiserver's count of requests it rejected at priority level `level`."""
    text = (await admin.transport.send(Request("GET", "/metrics", accept="text/plain"))).body.decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("apiserver_flowcontrol_rejected_requests_total{")
        and f'priority_level="{level}"' in line
    )


async def burst(squeezed: Client, namespace: str) -> list[float]:
    """BURST concurrent LISTs; each one's seconds. Every one must return the whole list."""

    async def one() -> float:
        started = time.monotonic()
        listed = await squeezed.list("v1", "ConfigMap", namespace)
        assert len([o for o in listed.items if o["metadata"]["name"].startswith("load-")]) == OBJECTS
        return time.monotonic() - started

    return list(await asyncio.gather(*(one() for _ in range(BURST))))


async def test_a_client_and_an_informer_squeezed_by_priority_and_fairness_get_everything(
    kube: cluster.Cluster, client: Client, namespace: str, tmp_path: Path
) -> None:
    await asyncio.gather(*(client.create(configmap(namespace, f"load-{i:03}")) for i in range(OBJECTS)))
    async with throttled(kube, namespace, tmp_path) as (level, squeezed):
        before = await rejected(client, level)

        async def in_force() -> bool | None:  # the apiserver's flow-control controller has taken it
            schema = await client.get("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", level)
            conditions = (schema.get("status") or {}).get("conditions") or []
            return True if {"type": "Dangling", "status": "False"}.items() <= conditions[0].items() else None

        await eventually(in_force, within=60, what="the FlowSchema in force")
        await burst(squeezed, namespace)
        assert await rejected(client, level) > before, "the apiserver rejected some of the account's LISTs"
        start = await rejected(client, level)
        informer = Informer(squeezed, "v1", "ConfigMap", namespace=namespace)
        slowest: list[float] = []
        marker_delay: list[float] = []
        async with running(informer.run()):
            for cycle in range(CYCLES):
                loads = [asyncio.create_task(burst(squeezed, namespace)) for _ in range(2)]
                if cycle == 0:
                    await informer.wait_for_sync(within=120)  # its list and watch in the same squeeze
                marker_delay.append(await marker_cached(client, namespace, informer, f"marker-{cycle}"))
                slowest.append(max(t for load in await asyncio.gather(*loads) for t in load))
            assert await is_ready(informer)
        rejections = await rejected(client, level) - start
    print(
        f"\n{CYCLES} rounds of {2 * BURST} concurrent LISTs of {OBJECTS} ConfigMaps through a level of 1 "
        f"share: {rejections} answered 429 by the apiserver, every LIST complete, the slowest after "
        f"{max(slowest):.1f} s; the informer synced and stayed ready, a change made during a burst in "
        f"its cache after median {statistics.median(marker_delay):.2f} s (max {max(marker_delay):.2f})"
    )
