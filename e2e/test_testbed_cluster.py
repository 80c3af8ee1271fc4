"""The local control plane behaves like a real cluster: workloads become Ready on their own."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from e2e.support import eventually, kube_client
from hack.testbed import cluster, procs
from hack.testbed.binaries import Binaries, versions

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def api(kube: cluster.Cluster) -> AsyncIterator[client.ApiClient]:
    async with await kube_client(kube.kubeconfig) as api_client:
        yield api_client


@pytest.fixture
async def namespace(api: client.ApiClient) -> AsyncIterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods are admitted only once the ServiceAccount controller has made the namespace's default account.
    await eventually(lambda: _default_sa(core, name), what="default ServiceAccount")
    yield name
    await core.delete_namespace(name)


async def _default_sa(core: client.CoreV1Api, namespace: str) -> bool | None:
    accounts = await core.list_namespaced_service_account(namespace)
    return True if any(sa.metadata.name == "default" for sa in accounts.items) else None


def _workload(app: str, **spec: Any) -> Any:
    """A workload body (the API accepts plain dicts) whose Pods carry app=<app> and an image never pulled."""
    template = {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/never-pulled:1.0"}]},
    }
    return {
        "metadata": {"name": app},
        "spec": {"selector": {"matchLabels": {"app": app}}, "template": template, **spec},
    }


async def test_version_is_the_pinned_release(api: client.ApiClient) -> None:
    info = await client.VersionApi(api).get_code()
    assert info.git_version == versions()["K8S_VERSION"]


async def test_deployment_becomes_available(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(namespace, _workload("web", replicas=3))

    async def available() -> Any:
        d = await apps.read_namespaced_deployment("web", namespace)
        conditions = {c.type: c.status for c in d.status.conditions or []}
        return d if conditions.get("Available") == "True" and d.status.ready_replicas == 3 else None

    deployment = await eventually(available, what="Deployment Available")
    assert deployment.status.available_replicas == deployment.spec.replicas == 3
    pods = await client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=web")
    assert {p.spec.node_name for p in pods.items} <= {f"kwok-node-{i}" for i in range(cluster.NODE_COUNT)}
    assert all(p.status.phase == "Running" for p in pods.items)


async def test_daemonset_runs_on_every_node(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_daemon_set(namespace, _workload("agent"))

    async def ready() -> Any:
        ds = await apps.read_namespaced_daemon_set("agent", namespace)
        s = ds.status
        return ds if s.desired_number_scheduled and s.number_ready == s.desired_number_scheduled else None

    daemonset = await eventually(ready, what="DaemonSet ready")
    assert daemonset.status.desired_number_scheduled == cluster.NODE_COUNT


async def test_statefulset_becomes_ready(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_stateful_set(namespace, _workload("db", replicas=2, serviceName="db"))

    async def ready() -> Any:
        sts = await apps.read_namespaced_stateful_set("db", namespace)
        return sts if sts.status.ready_replicas == 2 and sts.status.current_replicas == 2 else None

    await eventually(ready, what="StatefulSet ready")
    pods = await client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=db")
    assert sorted(p.metadata.name for p in pods.items) == ["db-0", "db-1"]


def test_cluster_script_up_down_twice_builds_nothing(tmp_path: Path) -> None:
    """`hack/cluster.sh up` then `down`, twice: the binaries come from the cache, nothing is left running."""
    env = {**os.environ, "IRC_TESTBED_DIR": str(tmp_path)}

    def script(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REPO / "hack" / "cluster.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )

    for _ in range(2):
        stopped = False
        try:
            up = script("up")
            assert "compiling" not in up.stderr and "cached in" in up.stderr
            exported = script("env").stdout
            kubeconfig = tmp_path / "cluster" / "kubeconfig"
            assert f"export KUBECONFIG={kubeconfig}" in exported
            nodes = subprocess.run(
                [
                    str(Binaries.locate().kubectl),
                    f"--kubeconfig={kubeconfig}",
                    "get",
                    "nodes",
                    "-o",
                    "name",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert len(nodes) == cluster.NODE_COUNT
            status = script("status").stdout
            pids = [int(pid) for pid in re.findall(r" pid (\d+) running", status)]
            assert len(pids) == 5, status  # etcd, apiserver, controller-manager, scheduler, kwok
            script("down")
            stopped = True
            assert not any(procs.running(pid) for pid in pids)
            assert script("status").stdout.strip() == "cluster: down"
            assert not (tmp_path / "cluster").exists()
        finally:
            if not stopped:  # a failed test must not leave a second control plane running
                subprocess.run(
                    [str(REPO / "hack" / "cluster.sh"), "down"], env=env, capture_output=True, timeout=120
                )
