"""The policy reconciler against the test bed: valid policies become Ready, each kind of bad input
gets its reason, and a policy waiting for its ResourceTemplate turns Ready when it appears."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from e2e.support import eventually, running
from hack.testbed import cluster
from irc.api import API_VERSION
from irc.reconcilers import policy
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions
from irc.runtime.client import Client, Obj


@contextlib.asynccontextmanager
async def manager(kube: cluster.Cluster, namespace: str) -> AsyncIterator[Manager]:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            namespaces=(namespace,), metrics_bind_address="0", health_probe_bind_address="0"
        ),
    )
    policy.setup(mgr, Settings())
    async with running(mgr.start()):
        yield mgr
    await mgr.client.close()


def irp(namespace: str, name: str, selection: dict[str, Any], **spec: Any) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageResourcePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ecrRepository": {"region": "us-east-1", "repositoryPattern": "team-a/*"},
            "policy": selection,
            "templateRef": {"name": "tmpl"},
            **spec,
        },
    }


def template(namespace: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "ResourceTemplate",
        "metadata": {"name": "tmpl", "namespace": namespace},
        "spec": {"template": "kind: ConfigMap", "gitRepository": {"url": "https://git.invalid/x.git"}},
    }


async def ready(client: Client, namespace: str, name: str, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await client.get(API_VERSION, "ImageResourcePolicy", name, namespace)
        conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        found = conditions.get("Ready")
        return found if found and found["reason"] == reason else None

    return await eventually(check, what=f"{name} Ready reason {reason}")


async def test_policies_are_validated_with_precise_reasons(
    kube: cluster.Cluster, crds: None, client: Client, namespace: str
) -> None:
    async with manager(kube, namespace):
        for obj in [
            irp(namespace, "no-template-yet", {"semver": {"range": ">=1.0.0"}}),
            irp(namespace, "bad-range", {"semver": {"range": ">=1.0.0 <<2"}}),
            irp(namespace, "bad-regex", {"pattern": {"regex": "^(dev|prod", "extractPrefix": True}}),
            irp(namespace, "no-group", {"pattern": {"regex": "^dev-", "extractPrefix": True}}),
            irp(
                namespace,
                "bad-filter",
                {"alphabetical": {"order": "asc"}},
                filterTags={"pattern": "(unclosed"},
            ),
            irp(namespace, "no-secret", {"numerical": {}}, aws={"secretRef": {"name": "aws-missing"}}),
        ]:
            await client.create(obj)
        assert (await ready(client, namespace, "no-template-yet", "TemplateNotFound"))["status"] == "False"
        message = (await ready(client, namespace, "bad-range", "InvalidPolicy"))["message"]
        assert message.startswith("policy.semver.range")
        assert (
            "policy.pattern.regex"
            in (await ready(client, namespace, "bad-regex", "InvalidPolicy"))["message"]
        )
        assert "capture group" in (await ready(client, namespace, "no-group", "InvalidPolicy"))["message"]
        assert (
            "filterTags.pattern" in (await ready(client, namespace, "bad-filter", "InvalidPolicy"))["message"]
        )

        # The missing template appears: the waiting policy turns Ready through the mapped watch.
        await client.create(template(namespace))
        valid = await ready(client, namespace, "no-template-yet", "Valid")
        assert valid["status"] == "True" and valid["observedGeneration"] == 1
        await ready(client, namespace, "no-secret", "SecretNotFound")

        await client.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "aws-partial", "namespace": namespace},
                "stringData": {"accessKeyId": "AKIA..."},
            }
        )
        await client.patch(
            API_VERSION,
            "ImageResourcePolicy",
            "no-secret",
            {"spec": {"aws": {"secretRef": {"name": "aws-partial"}}}},
            namespace=namespace,
        )
        partial = await ready(client, namespace, "no-secret", "SecretInvalid")
        assert "secretAccessKey" in partial["message"] and partial["observedGeneration"] == 2

        await client.patch(
            API_VERSION,
            "ImageResourcePolicy",
            "no-template-yet",
            {"spec": {"suspend": True}},
            namespace=namespace,
        )

        async def suspended() -> bool | None:
            obj = await client.get(API_VERSION, "ImageResourcePolicy", "no-template-yet", namespace)
            conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
            return True if conditions.get("Suspended") == "True" else None

        await eventually(suspended, what="Suspended condition")
        await asyncio.sleep(0)
