"""The policy reconciler against the test bed: valid policies become Ready, each kind of bad input
gets its reason, and a policy waiting for its ResourceTemplate turns Ready when it appears; managed
ImageDetected objects are deleted when they expire or their policy goes, hand-made ones never."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from e2e.support import eventually, running
from hack.testbed import cluster
from irc.api import API_VERSION
from irc.api.conditions import rfc3339
from irc.api.imagepolicy import MANAGED_BY, POLICY_LABEL
from irc.reconcilers import policy
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions, errors
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
    try:
        async with running(mgr.start()):
            yield mgr
    finally:  # also when the test failed: a session left to the garbage collector fails the run
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


def image_detected(
    namespace: str, name: str, policy_name: str, age: float, *, managed: bool = True, owner_uid: str = ""
) -> Obj:
    """An ImageDetected as the detection controller writes it (`managed`: with its labels; `owner_uid`:
    with an owner reference to the policy), detected `age` seconds ago."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if managed:
        metadata["labels"] = {MANAGED_BY[0]: MANAGED_BY[1], POLICY_LABEL: policy_name}
    if owner_uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": "ImageResourcePolicy",
                "name": policy_name,
                "uid": owner_uid,
                "controller": True,
            }
        ]
    return {
        "apiVersion": API_VERSION,
        "kind": "ImageDetected",
        "metadata": metadata,
        "spec": {
            "imageName": "team-a/api",
            "imageTag": name,
            "fullImageName": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/api:{name}",
            "sourcePolicy": {"name": policy_name, "namespace": namespace},
            "detectedAt": rfc3339(time.time() - age),
        },
    }


async def deleted(client: Client, namespace: str, name: str) -> None:
    async def check() -> bool | None:
        try:
            await client.get(API_VERSION, "ImageDetected", name, namespace)
        except errors.NotFound:
            return True
        return None

    await eventually(check, what=f"ImageDetected {name} deleted")


async def names(client: Client, namespace: str) -> set[str]:
    return {o["metadata"]["name"] for o in (await client.list(API_VERSION, "ImageDetected", namespace)).items}


def deletions(mgr: Manager, reason: str) -> float | None:
    return mgr.metrics.registry.get_sample_value("irc_image_detected_deleted_total", {"reason": reason})


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
            irp(
                namespace,
                "foreign-secret",
                {"numerical": {}},
                aws={"secretRef": {"name": "aws", "namespace": "kube-system"}},
            ),
            irp(
                namespace,
                "unwatched-template",
                {"numerical": {}},
                templateRef={"name": "tmpl", "namespace": "default"},
            ),
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
        foreign = await ready(client, namespace, "foreign-secret", "CrossNamespaceSecretRef")
        assert "kube-system/aws is in another namespace" in foreign["message"]
        unwatched = await ready(client, namespace, "unwatched-template", "TemplateNotWatched")
        assert "irc manager --namespace" in unwatched["message"]

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
        # Completing the Secret revalidates the policy at once (a metadata-only Secret watch), well
        # before the periodic revalidation (policy.REVALIDATE, longer than `ready` waits).
        assert policy.REVALIDATE > 120
        await client.patch(
            "v1", "Secret", "aws-partial", {"stringData": {"secretAccessKey": "s3cr3t"}}, namespace=namespace
        )
        assert (await ready(client, namespace, "no-secret", "Valid"))["status"] == "True"

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


DAY = 86400.0


async def test_expired_image_detected_are_deleted_except_the_current_selection(
    kube: cluster.Cluster, crds: None, client: Client, namespace: str
) -> None:
    async with manager(kube, namespace) as mgr:
        await client.create(template(namespace))
        await client.create(irp(namespace, "ttl", {"semver": {"range": ">=1.0.0"}}, ttlDays=1))
        await ready(client, namespace, "ttl", "Valid")
        live = await client.get(API_VERSION, "ImageResourcePolicy", "ttl", namespace)
        # What the detection controller writes: the current selection and a condition of its own.
        scanned = {
            "type": "Scanned",
            "status": "True",
            "reason": "Scanned",
            "message": "1 image selected",
            "lastTransitionTime": rfc3339(time.time()),
        }
        latest = [{"repository": "team-a/api", "tag": "current", "imageDetected": "current"}]
        await client.patch(
            API_VERSION,
            "ImageResourcePolicy",
            "ttl",
            {
                "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
                "status": {"latestImages": latest, "conditions": [*live["status"]["conditions"], scanned]},
            },
            namespace=namespace,
            subresource="status",
        )

        async def cached() -> bool | None:
            obj = mgr.cache.get(API_VERSION, "ImageResourcePolicy", "ttl", namespace)
            return True if (obj.get("status") or {}).get("latestImages") else None

        await eventually(cached, what="the manager's cache sees status.latestImages")
        uid = live["metadata"]["uid"]
        for obj in [
            image_detected(namespace, "fresh", "ttl", 3600, owner_uid=uid),
            image_detected(namespace, "current", "ttl", 2 * DAY, owner_uid=uid),
            image_detected(namespace, "by-hand", "ttl", 2 * DAY, managed=False),
            image_detected(namespace, "expired", "ttl", 2 * DAY, owner_uid=uid),
        ]:
            await client.create(obj)

        await deleted(client, namespace, "expired")
        assert await names(client, namespace) == {"fresh", "current", "by-hand"}
        assert deletions(mgr, "expired") == 1 and deletions(mgr, "policy_deleted") == 0

        async def event() -> Obj | None:
            events = await client.list("v1", "Event", namespace)
            found = [
                e for e in events.items if e["reason"] == "Expired" and e["involvedObject"]["name"] == "ttl"
            ]
            return found[0] if found else None

        message = (await eventually(event, what="an Expired Event on the policy"))["message"]
        assert message == "ttlDays 1: deleted 1 expired ImageDetected: expired"

        # A spec change makes the reconciler write status again: the detection controller's fields stay.
        await client.patch(
            API_VERSION, "ImageResourcePolicy", "ttl", {"spec": {"suspend": True}}, namespace=namespace
        )

        async def rewritten() -> dict[str, Any] | None:
            obj = await client.get(API_VERSION, "ImageResourcePolicy", "ttl", namespace)
            return obj["status"] if obj["status"].get("observedGeneration") == 2 else None

        status = await eventually(rewritten, what="status written for generation 2")
        assert status["latestImages"] == latest
        assert {c["type"] for c in status["conditions"]} == {"Ready", "Suspended", "Scanned"}


async def test_deleting_a_policy_deletes_its_managed_image_detected(
    kube: cluster.Cluster, crds: None, client: Client, namespace: str
) -> None:
    async with manager(kube, namespace) as mgr:
        await client.create(template(namespace))
        await client.create(irp(namespace, "doomed", {"numerical": {}}))
        await ready(client, namespace, "doomed", "Valid")
        uid = (await client.get(API_VERSION, "ImageResourcePolicy", "doomed", namespace))["metadata"]["uid"]
        for obj in [
            image_detected(namespace, "owned", "doomed", 60, owner_uid=uid),
            # KCM's garbage collector ignores this one: only the policy controller can delete it.
            image_detected(namespace, "stripped", "doomed", 60),
            image_detected(namespace, "by-hand", "doomed", 60, managed=False),
        ]:
            await client.create(obj)

        await client.delete(API_VERSION, "ImageResourcePolicy", "doomed", namespace)
        await deleted(client, namespace, "owned")
        await deleted(client, namespace, "stripped")
        assert await names(client, namespace) == {"by-hand"}
        assert (deletions(mgr, "policy_deleted") or 0) >= 1


async def test_orphans_present_at_startup_are_deleted(
    kube: cluster.Cluster, crds: None, client: Client, namespace: str
) -> None:
    await client.create(image_detected(namespace, "orphan", "gone", 60))
    await client.create(image_detected(namespace, "by-hand", "gone", 60, managed=False))
    async with manager(kube, namespace) as mgr:
        await deleted(client, namespace, "orphan")
        assert await names(client, namespace) == {"by-hand"}
        assert deletions(mgr, "policy_deleted") == 1
