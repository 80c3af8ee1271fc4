"""The controllers' flows for the RBAC tests (e2e/test_rbac.py, e2e/test_incluster.py): each drives
one controller's work through the admin client and waits for its outcome, failing at once when the
API server refused the manager a request."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence, Set
from dataclasses import dataclass
from typing import TypeVar

from e2e.support import eventually
from hack.testbed import ecr, images, registries
from irc.api import API_VERSION
from irc.api.conditions import get_condition, rfc3339, set_condition
from irc.api.imagepolicy import MANAGED_BY
from irc.api.secrets import SecretRef
from irc.cli import build_parser, build_settings
from irc.images import backup_object_name, parse_reference
from irc.reconcilers import creation, detection, imagebackup, policy, workloadrewrite
from irc.reconcilers.settings import Settings
from irc.runtime import errors
from irc.runtime.client import Client, Obj

T = TypeVar("T")
IRP = "ImageResourcePolicy"
REGISTRY = f"{ecr.ACCOUNT_ID}.dkr.ecr.{ecr.REGION}.amazonaws.com"


def manager_flags(bed: registries.Registries, ecr_server: ecr.ECR, credentials: SecretRef) -> list[str]:
    """`irc manager` flags for the test bed: its backup registry under a fresh prefix, push credentials
    from a Secret (so image-backup reads one too), each registry's CA or plain HTTP, the ECR emulator."""
    flags = [
        f"--backup-registry={bed['backup-basic'].host}/e2e-{uuid.uuid4().hex[:6]}",
        f"--backup-credentials={credentials.namespace}/{credentials.name}",
        f"--aws-endpoint-url={ecr_server.endpoint}",
        "--backup-recheck-interval=500ms",  # retention is checked then: the flow waits for it
    ]
    for r in bed.by_name.values():
        flags.append(f"--registry-ca={r.host}={r.ca_cert}" if r.tls else f"--registry-plain-http={r.host}")
    flags.append(f"--registry-plain-http={bed.token_realm}")  # where backup-token sends clients
    return flags


def settings(bed: registries.Registries, ecr_server: ecr.ECR, credentials: SecretRef) -> Settings:
    """What `manager_flags` configure, with copy progress reported faster for an in-process manager."""
    configured = build_settings(
        build_parser().parse_args(["manager", *manager_flags(bed, ecr_server, credentials)])
    )
    return dataclasses.replace(configured, progress_interval=0.2)


@dataclass
class Run:
    """A manager running `controllers` as a restricted ServiceAccount, the admin client that drives
    its flows, the test bed they use, and `refusals`: what the API server refused the manager so far
    (empty when nothing), from its metrics and log."""

    client: Client
    namespace: str
    controllers: Sequence[str]
    refusals: Callable[[], str]
    registry_bed: registries.Registries
    source_images: dict[str, images.Built]
    ecr_images: dict[str, dict[str, str]]
    settings: Settings

    async def until(self, check: Callable[[], Awaitable[T | None]], what: str) -> T:
        """`eventually`, failing at once, with the refusals logged, when a request was refused."""

        async def checked() -> T | None:
            refusals = self.refusals()
            assert not refusals, f"requests refused:\n{refusals}"
            return await check()

        return await eventually(checked, what=what)

    async def ready(self, name: str, reason: str) -> Obj | None:
        obj = await self.client.get(API_VERSION, IRP, name, self.namespace)
        condition = get_condition(obj.get("status") or {}, "Ready")
        return obj if condition and condition["reason"] == reason else None


def aws_secret(namespace: str, **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "aws", "namespace": namespace},
        "stringData": data,
    }


def api_policy(namespace: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": IRP,
        "metadata": {"name": "api", "namespace": namespace},
        "spec": {
            "ecrRepository": {"region": ecr.REGION, "repositoryPattern": "team-a/api"},
            "policy": {"semver": {"range": ">=1.0.0"}},
            "templateRef": {"name": "tmpl"},
            "aws": {"secretRef": {"name": "aws"}},
        },
    }


async def policy_flow(run: Run) -> None:
    """Validation; a Secret change revalidates (the metadata-only Secret watch); garbage collection of
    an expired ImageDetected of the policy."""
    client, ns = run.client, run.namespace
    await client.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceTemplate",
            "metadata": {"name": "tmpl", "namespace": ns},
            "spec": {"template": "kind: ConfigMap", "gitRepository": {"url": "https://git.invalid/x.git"}},
        }
    )
    # Lacking secretAccessKey: the policy is invalid until the Secret is completed.
    await client.create(aws_secret(ns, accessKeyId="testbed"))
    await client.create(api_policy(ns))
    await run.until(lambda: run.ready("api", "SecretInvalid"), "the policy is SecretInvalid")
    await client.patch("v1", "Secret", "aws", {"stringData": {"secretAccessKey": "s3cr3t"}}, namespace=ns)
    await run.until(lambda: run.ready("api", "Valid"), "the completed Secret revalidates the policy")

    await client.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageDetected",
            "metadata": {"name": "stale", "namespace": ns, "labels": {MANAGED_BY[0]: MANAGED_BY[1]}},
            "spec": {
                "imageName": "team-a-api",
                "imageTag": "0.1.0",
                "fullImageName": f"{REGISTRY}/team-a/api:0.1.0",
                "sourcePolicy": {"name": "api", "namespace": ns},
                "detectedAt": rfc3339(time.time() - 30 * 86400),
            },
        }
    )
    await run.until(
        lambda: gone(client, "ImageDetected", "stale", ns), "the expired ImageDetected is deleted"
    )
    await run.until(lambda: events(client, ns, "api", {"SecretInvalid", "Expired"}), "the policy's Events")


async def detection_flow(run: Run) -> None:
    """A Ready policy is scanned (reading its Secret) into an ImageDetected it owns."""
    client, ns = run.client, run.namespace
    if policy.NAME not in run.controllers:
        # Without the policy controller, validate the policy the way it would: Ready for this generation.
        await client.create(aws_secret(ns, accessKeyId="testbed", secretAccessKey="s3cr3t"))
        created = await client.create(api_policy(ns))
        status: dict[str, object] = {}
        set_condition(
            status,
            "Ready",
            "True",
            "Valid",
            "validated by the test",
            observed_generation=created["metadata"]["generation"],
            now=time.time(),
        )
        await client.patch(API_VERSION, IRP, "api", {"status": status}, namespace=ns, subresource="status")
    owner = await run.until(lambda: run.ready("api", "Valid"), "the policy is Ready")

    async def scanned() -> Obj | None:
        obj = await client.get(API_VERSION, IRP, "api", ns)
        condition = get_condition(obj.get("status") or {}, "Scanned") or {}
        return obj if condition.get("reason") == "Succeeded" else None

    await run.until(scanned, "the policy is Scanned")
    # Its ImageDetected were created before the Scanned condition was written.
    (detected,) = (await client.list(API_VERSION, "ImageDetected", ns)).items
    assert detected["spec"]["imageTag"] == "2.0.0"
    assert detected["spec"]["imageDigest"] == run.ecr_images["team-a/api"]["2.0.0"]
    assert detected["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    await run.until(lambda: events(client, ns, "api", {"Detected"}), "the scan's Event")


async def imagebackup_flow(run: Run) -> None:
    """A copy with push credentials from a Secret; a failure retried (its Warning Event patched);
    retention deletes an unused backup."""
    client = run.client
    source, backup = run.registry_bed["source"], run.registry_bed["backup-basic"]
    copied, missing = f"e2e-{uuid.uuid4().hex[:8]}", f"e2e-{uuid.uuid4().hex[:8]}"
    for name, image in [
        (copied, run.source_images["testbed/oci-single:1.0.0"].reference(source)),
        (missing, f"{source.host}/testbed/does-not-exist:1.0.0"),
    ]:
        await client.create(
            {
                "apiVersion": API_VERSION,
                "kind": "ImageBackup",
                "metadata": {"name": name},
                "spec": {"source": image},
            }
        )
    try:

        async def completed() -> Obj | None:
            obj = await client.get(API_VERSION, "ImageBackup", copied)
            return obj if (obj.get("status") or {}).get("phase") == "Completed" else None

        done = await run.until(completed, "the backup completes")
        assert done["status"]["target"].startswith(backup.host)

        # The same Warning again: the recorder patches the Event's count.
        async def repeated() -> Obj | None:
            found = await events(client, "default", missing, {"SourceNotFound"})
            return found if found and found["SourceNotFound"]["count"] >= 2 else None

        await run.until(repeated, "a repeated Event")
        await client.patch(
            API_VERSION,
            "ImageBackup",
            copied,
            {"status": {"lastReferencedAt": "2000-01-01T00:00:00Z"}},
            subresource="status",
        )
        await run.until(lambda: gone(client, "ImageBackup", copied), "the unused ImageBackup is deleted")
        # Events are written asynchronously: the Expired one may land just after the deletion.
        await run.until(
            lambda: events(client, "default", copied, {"Copying", "Copied", "Expired"}), "the backup's Events"
        )
    finally:  # cluster-scoped: the namespace's deletion does not take them
        for name in (copied, missing):
            with contextlib.suppress(errors.NotFound):
                await client.delete(API_VERSION, "ImageBackup", name)


async def workloadrewrite_flow(run: Run) -> None:
    """A Deployment's external image gets an ImageBackup (completed by image-backup, or by the test
    when that controller does not run), then the Deployment is switched to the copy."""
    client, ns = run.client, run.namespace
    built = run.source_images["testbed/docker-single:1.0.0"]
    image = built.reference(run.registry_bed["source"])
    source = parse_reference(image)
    name = backup_object_name(source)
    await client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
            },
        }
    )
    try:

        async def requested() -> Obj | None:
            with contextlib.suppress(errors.NotFound):
                return await client.get(API_VERSION, "ImageBackup", name)
            return None

        await run.until(requested, "the Deployment's ImageBackup is created")
        assert run.settings.backup is not None
        target = run.settings.backup.target(source)
        if imagebackup.NAME not in run.controllers:  # complete it the way image-backup would
            status = {"phase": "Completed", "target": str(target), "sourceDigest": built.digest}
            status["targetDigest"] = built.digest
            await client.patch(API_VERSION, "ImageBackup", name, {"status": status}, subresource="status")

        async def switched() -> Obj | None:
            deployment = await client.get("apps/v1", "Deployment", "web", ns)
            running = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            return deployment if running == str(target) else None

        await run.until(switched, "the Deployment runs the copy")
        await run.until(
            lambda: events(client, ns, "web", {"BackupRequested", "ImagesRewritten"}), "the workload's Events"
        )
    finally:  # cluster-scoped: the namespace's deletion does not take it
        with contextlib.suppress(errors.NotFound):
            await client.delete(API_VERSION, "ImageBackup", name)


async def creation_flow(run: Run) -> None:
    """An ImageDetected whose image a Deployment runs is Skipped (workload informers, status patch);
    one whose template names a missing Git Secret fails SecretNotFound (the Secret read allowed)."""
    client, ns = run.client, run.namespace
    image = f"{REGISTRY}/team-c/web:1.0.0"
    await client.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceTemplate",
            "metadata": {"name": "cre-tmpl", "namespace": ns},
            "spec": {
                "template": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                "gitRepository": {"url": "https://git.invalid/x.git", "secretRef": {"name": "no-such-git"}},
            },
        }
    )
    await client.create(
        {
            "apiVersion": API_VERSION,
            "kind": IRP,
            "metadata": {"name": "cre", "namespace": ns},
            "spec": {
                "ecrRepository": {"region": ecr.REGION, "repositoryPattern": "team-c/*"},
                "policy": {"semver": {"range": ">=1.0.0"}},
                "templateRef": {"name": "cre-tmpl"},
                "suspend": True,  # no scan: the detection flow counts the ImageDetected it makes
            },
        }
    )
    await client.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "cre-web", "namespace": ns},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "cre-web"}},
                "template": {
                    "metadata": {"labels": {"app": "cre-web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]},
                },
            },
        }
    )
    for name, tag in (("cre-deployed", "1.0.0"), ("cre-new", "2.0.0")):
        await client.create(
            {
                "apiVersion": API_VERSION,
                "kind": "ImageDetected",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "imageName": "team-c-web",
                    "imageTag": tag,
                    "fullImageName": f"{REGISTRY}/team-c/web:{tag}",
                    "sourcePolicy": {"name": "cre", "namespace": ns},
                },
            }
        )

    def phase(name: str, reason: str) -> Callable[[], Awaitable[Obj | None]]:
        async def check() -> Obj | None:
            obj = await client.get(API_VERSION, "ImageDetected", name, ns)
            ready = get_condition(obj.get("status") or {}, "Ready") or {}
            return obj if ready.get("reason") == reason else None

        return check

    await run.until(phase("cre-deployed", "AlreadyDeployed"), "the deployed image is Skipped")
    await run.until(phase("cre-new", "SecretNotFound"), "the Git Secret is looked for")


FLOWS: dict[str, Callable[[Run], Awaitable[None]]] = {
    # In this order: detection, when policy runs too, scans the policy the policy flow validated.
    policy.NAME: policy_flow,
    detection.NAME: detection_flow,
    imagebackup.NAME: imagebackup_flow,
    workloadrewrite.NAME: workloadrewrite_flow,
    creation.NAME: creation_flow,
}


async def gone(client: Client, kind: str, name: str, namespace: str | None = None) -> bool | None:
    try:
        await client.get(API_VERSION, kind, name, namespace)
    except errors.NotFound:
        return True
    return None


async def events(client: Client, namespace: str, name: str, reasons: Set[str]) -> dict[str, Obj] | None:
    """The Events about object `name` by reason, once they include `reasons`."""
    found = {
        e["reason"]: e
        for e in (await client.list("v1", "Event", namespace)).items
        if e["involvedObject"]["name"] == name
    }
    return found if reasons <= found.keys() else None
