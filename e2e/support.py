"""Helpers shared by the e2e tests (and `running`, from irc.runtime.testing)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes_asyncio import client, config

from hack.testbed import cluster, registries
from irc.images.auth import RegistryOptions
from irc.runtime import errors
from irc.runtime.client import Client
from irc.runtime.testing import running
from irc.runtime.transport import KubeTransport

T = TypeVar("T")


async def kube_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 120, what: str) -> T:
    """Poll `check` until it returns a value that is not None; fail after `within` seconds.

    The bound only keeps a broken test bed from hanging the run; it is not a performance assertion.
    """
    try:
        async with asyncio.timeout(within):
            # Polling is right here: the state lives in a server, not in an event of this process.
            while (result := await check()) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            return result
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f} s: {what}") from None


@contextlib.asynccontextmanager
async def outage(kube: cluster.Cluster, component: str = "kube-apiserver") -> AsyncIterator[None]:
    """`component` is down for the body and started again (same flags and port) on the way out, even
    if the body failed. Stopping and starting run in a thread, so this process's event loop goes on
    meanwhile: its clients and informers meet the outage as it happens, not after it is over."""
    await asyncio.to_thread(kube.stop_component, component)
    try:
        yield
    finally:
        await asyncio.to_thread(kube.start_component, component)


def configmap(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


def render_overlay(kube: cluster.Cluster, overlay: str) -> list[dict[str, Any]]:
    """manifests/overlays/<overlay> as kustomize (kubectl's) renders it."""
    return [
        d for d in yaml.safe_load_all(kube.kubectl("kustomize", str(MANIFESTS / "overlays" / overlay))) if d
    ]


def manager_args(documents: list[dict[str, Any]], settings: dict[str, str]) -> list[str]:
    """The manager container's args with `$(VAR)` expanded as the kubelet does, its env taken from
    the rendered ConfigMap with `settings` merged over it."""
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (configmap,) = [d for d in documents if d["kind"] == "ConfigMap"]
    data = {**configmap["data"], **settings}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {
        e["name"]: data[e["valueFrom"]["configMapKeyRef"]["key"]]
        for e in container["env"]
        if "configMapKeyRef" in e.get("valueFrom", {})
    }
    return [re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), a) for a in container["args"]]


__all__ = [
    "MANIFESTS",
    "configmap",
    "eventually",
    "kube_client",
    "manager_args",
    "outage",
    "render_overlay",
    "running",
]


def dockerconfig_secret(name: str, namespace: str, host: str, username: str, password: str) -> dict[str, Any]:
    """A kubernetes.io/dockerconfigjson Secret with one registry's credentials."""
    auths = {"auths": {host: {"username": username, "password": password}}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(auths).encode()).decode()},
    }


def registry_options(bed: registries.Registries) -> dict[str, RegistryOptions]:
    """How irc reaches each test bed registry: its CA, or plain HTTP opted into, the token realm's
    host included."""
    options = {
        r.host: RegistryOptions(ca_file=str(r.ca_cert)) if r.tls else RegistryOptions(plain_http=True)
        for r in bed.by_name.values()
    }
    return {**options, bed.token_realm: RegistryOptions(plain_http=True)}


@contextlib.asynccontextmanager
async def temporary_namespace(api: Client, prefix: str) -> AsyncIterator[str]:
    """A fresh namespace `<prefix>-<random>` for the block, deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        await api.delete("v1", "Namespace", name)


def token_kubeconfig(kube: cluster.Cluster, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig at `path` holding only a fresh token of ServiceAccount `namespace/account` (an
    hour's TokenRequest), with the admin's server and CA."""
    token = kube.kubectl("create", "token", account, "-n", namespace, "--duration=1h").strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    ca = admin["clusters"][0]["cluster"]["certificate-authority-data"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "testbed", "cluster": {"server": kube.server, "certificate-authority-data": ca}}
                ],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": account, "context": {"cluster": "testbed", "user": account}}],
                "current-context": account,
            }
        )
    )
    return path


@contextlib.asynccontextmanager
async def user_with_role(
    kube: cluster.Cluster,
    admin: Client,
    namespace: str,
    role: str,
    directory: Path,
    *,
    cluster_wide: bool = False,
) -> AsyncIterator[Client]:
    """A client holding only the token of a fresh ServiceAccount of `namespace` bound to ClusterRole
    `role` (Kubernetes' `edit`, `admin`, ...): over the whole cluster (a ClusterRoleBinding, deleted
    after) or in `namespace` (a RoleBinding); yielded once the authorizer has the binding."""
    account = f"user-{uuid.uuid4().hex[:6]}"
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    if cluster_wide:
        binding |= {"kind": "ClusterRoleBinding", "metadata": {"name": account}}
    else:
        binding |= {"kind": "RoleBinding", "metadata": {"name": account, "namespace": namespace}}
    await admin.create(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}}
    )
    await admin.create(binding)
    kubeconfig = token_kubeconfig(kube, namespace, account, directory / f"{account}-kubeconfig")
    user = Client(await KubeTransport.from_config(str(kubeconfig)))
    try:

        async def bound() -> bool | None:
            try:
                await user.list("v1", "ConfigMap", namespace)
            except errors.Forbidden:
                return None
            return True

        await eventually(bound, within=60, what=f"{role} in force")
        yield user
    finally:
        await user.close()
        if cluster_wide:
            with contextlib.suppress(errors.NotFound):
                await admin.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", account)
