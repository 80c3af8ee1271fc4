"""The generated RBAC is enough: a manager running some controllers with leader election, as a fresh
ServiceAccount bound to exactly what `irc rbac --controllers=<them>` prints, does all of its work on a
real kube-apiserver (RBAC authorizer) without one request being refused.

Each controller is proven alone, so a rule it forgets is caught even when another controller declares
it (their union would hide the gap), and all of them together (e2e/test_incluster.py runs the shipped
overlay's RBAC from inside a pod's view). The flows are e2e/flows.py."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from e2e.flows import FLOWS, Run, settings
from e2e.support import dockerconfig_secret, eventually, running, token_kubeconfig, user_with_role
from hack.testbed import cluster, ecr, images, registries
from irc.api.secrets import SecretRef
from irc.cli import main as irc
from irc.reconcilers import CONTROLLERS
from irc.runtime import LeaderElectionOptions, Manager, ManagerOptions, errors
from irc.runtime.client import Client, Obj
from irc.runtime.transport import KubeTransport


@contextlib.asynccontextmanager
async def service_account(
    kube: cluster.Cluster, namespace: str, controllers: Sequence[str], directory: Path
) -> AsyncIterator[Path]:
    """Apply `irc rbac --controllers=<controllers>` with a fresh ServiceAccount in `namespace` and a
    fresh ClusterRole(Binding); once the role is in force, yield a kubeconfig holding only that
    account's token (TokenRequest), the admin's server and CA."""
    suffix = uuid.uuid4().hex[:8]
    account, role = f"irc-{suffix}", f"e2e-irc-manager-{suffix}"
    manifest = directory / "rbac.yaml"
    args = ["--namespace", namespace, "--service-account", account, "--name", role, "--output", str(manifest)]
    assert irc(["rbac", f"--controllers={','.join(controllers)}", *args]) == 0
    kube.kubectl("apply", "-f", str(manifest))
    try:
        kubeconfig = token_kubeconfig(kube, namespace, account, directory / "kubeconfig")
        await in_force(kubeconfig, namespace)
        yield kubeconfig
    finally:
        kube.kubectl("delete", "--ignore-not-found", "-f", str(manifest))


async def in_force(kubeconfig: Path, namespace: str) -> None:
    """Wait until the authorizer's cache has both bindings and their roles (each one object: all of
    its rules): the leader-election Role, which may get Leases, and the ClusterRole, which may patch
    Events (MANAGER_RULES). A probe of an object that does not exist answers 404 once allowed."""
    restricted = Client(await KubeTransport.from_config(str(kubeconfig)))
    try:
        # The token is the ServiceAccount's, not an admin's: what the role lacks is refused.
        with pytest.raises(errors.Forbidden):
            await restricted.list("v1", "ConfigMap", namespace)

        async def authorized() -> bool | None:
            try:
                await restricted.get("coordination.k8s.io/v1", "Lease", "no-such-lease", namespace)
            except errors.NotFound:
                pass
            except errors.Forbidden:
                return None
            try:
                await restricted.patch("v1", "Event", "no-such-event", {"count": 2}, namespace=namespace)
            except errors.NotFound:
                return True
            except errors.Forbidden:
                return None
            raise AssertionError("a probed object exists")

        await eventually(authorized, what="the roles are in force")
        with pytest.raises(errors.Forbidden):  # Leases in the Lease namespace only
            await restricted.get("coordination.k8s.io/v1", "Lease", "no-such-lease", "default")
    finally:
        await restricted.close()


def refused(mgr: Manager) -> float:
    """The manager's requests the API server answered 403 (client-go's rest_client_requests_total)."""
    return sum(
        s.value
        for family in mgr.metrics.registry.collect()
        if family.name == "rest_client_requests"
        for s in family.samples
        if s.name.endswith("_total") and s.labels["code"] == "403"
    )


def refusals(mgr: Manager, caplog: pytest.LogCaptureFixture) -> str:
    """Empty while no request was refused; else what the log says was, naming verb and resource."""
    if not refused(mgr):
        return ""
    logged = [m for r in caplog.records if "forbidden" in (m := r.getMessage()).lower()]
    return "\n".join(logged) or f"{refused(mgr):.0f} requests answered 403"


@pytest.mark.parametrize(
    "controllers",
    [*([name] for name in sorted(CONTROLLERS)), sorted(CONTROLLERS)],
    ids=[*sorted(CONTROLLERS), "all"],
)
async def test_generated_rbac_is_enough(
    controllers: list[str],
    kube: cluster.Cluster,
    crds: None,
    client: Client,
    namespace: str,
    ecr_server: ecr.ECR,
    ecr_images: dict[str, dict[str, str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert FLOWS.keys() == CONTROLLERS.keys(), "every controller has its flow here"
    caplog.set_level(logging.WARNING)
    ns, lease = namespace, f"irc-{uuid.uuid4().hex[:8]}"
    backup = registry_bed["backup-basic"]
    assert backup.username is not None and backup.password is not None
    await client.create(dockerconfig_secret("backup-push", ns, backup.host, backup.username, backup.password))

    async with service_account(kube, ns, controllers, tmp_path) as kubeconfig:
        mgr = await Manager.from_kubeconfig(
            str(kubeconfig),
            options=ManagerOptions(
                namespaces=(ns,),
                metrics_bind_address="0",
                health_probe_bind_address="0",
                leader_election=LeaderElectionOptions(enabled=True, id=lease, namespace=ns),
            ),
        )
        configured = settings(registry_bed, ecr_server, SecretRef("backup-push", ns))
        for name in controllers:
            CONTROLLERS[name].setup(mgr, configured)
        run = Run(
            client,
            ns,
            controllers,
            lambda: refusals(mgr, caplog),
            registry_bed,
            source_images,
            ecr_images,
            configured,
        )
        try:
            async with running(mgr.start()):
                await run.until(lambda: held(client, ns, lease), "the manager holds the Lease")
                for name, flow in FLOWS.items():
                    if name in controllers:
                        await flow(run)
        finally:
            await mgr.client.close()

    # Shutdown wrote too (the Lease's release, the last Events).
    assert not refusals(mgr, caplog), refusals(mgr, caplog)
    released = await client.get("coordination.k8s.io/v1", "Lease", lease, ns)
    assert not released["spec"].get("holderIdentity"), "the Lease is released on shutdown"


async def held(client: Client, namespace: str, name: str) -> Obj | None:
    with contextlib.suppress(errors.NotFound):
        lease = await client.get("coordination.k8s.io/v1", "Lease", name, namespace)
        return lease if lease["spec"].get("holderIdentity") else None
    return None


@pytest.mark.parametrize("role", ["edit", "admin"])
async def test_the_built_in_user_roles_cannot_create_an_image_backup(
    kube: cluster.Cluster, client: Client, crds: None, namespace: str, tmp_path: Path, role: str
) -> None:
    """An ImageBackup may name Secrets of any namespace (`sourceCredentials`, `targetCredentials`),
    which the manager reads with its own rights: whoever creates one borrows them. So it is
    cluster-scoped and no shipped role grants it, and Kubernetes' user-facing roles do not aggregate
    it: a user with `edit` over the whole cluster, or `admin` of a namespace, is refused."""
    async with user_with_role(kube, client, namespace, role, tmp_path, cluster_wide=role == "edit") as user:
        backup: Obj = {
            "apiVersion": "automation.gitops.io/v1beta1",
            "kind": "ImageBackup",
            "metadata": {"name": f"borrowed-{role}"},
            "spec": {
                "source": "registry.example/private/app:v1",
                "sourceCredentials": [{"name": "someone-elses", "namespace": "kube-system"}],
            },
        }
        with pytest.raises(errors.Forbidden):
            await user.create(backup, dry_run=True)
        with pytest.raises(errors.Forbidden):
            await user.list("automation.gitops.io/v1beta1", "ImageBackup")
