"""The workload-rewrite reconciler with image-backup in a manager against the test bed: workloads on
source-registry images are backed up byte for byte and switched to the copies once the copies are
complete and KWOK has made the workload healthy; excluded workloads are left alone; one ImageBackup
and one copy per image however many workloads and managers; a private copy is only used by the
namespaces that can pull the source themselves; restore; the flapping detector.

Each test runs its managers in-process (as e2e/test_imagebackup.py does), watching only its own
namespaces, with a fresh backup prefix; ImageBackups are cluster-scoped and named after the source
alone, so every test starts and ends without any (`no_backups`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from e2e.support import dockerconfig_secret, eventually, registry_options, running, user_with_role
from hack.testbed import cluster, images, procs, registries
from irc.api import API_VERSION
from irc.api.conditions import get_condition, rfc3339
from irc.api.imagepolicy import MANAGED_BY
from irc.api.workloads import (
    CRONJOB,
    DAEMONSET,
    DEFAULT_KINDS,
    DEPLOYMENT,
    STATEFULSET,
    WorkloadKind,
    containers,
)
from irc.images import TargetNaming, backup_object_name, parse_reference
from irc.reconcilers import imagebackup, workloadrewrite
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions, errors
from irc.runtime.client import Client, Obj

IB = "ImageBackup"
ORIGINAL = workloadrewrite.ORIGINAL_IMAGES
STOPPED = workloadrewrite.STOPPED
REVERTS = workloadrewrite.REVERTS
OPT = workloadrewrite.BACKUP_ANNOTATION
FLEET = tuple(images.Spec(f"testbed/fleet-{i}", "1.0.0", layer_sizes=(200_000 + i,)) for i in range(10))
PRIVATE = images.Spec("private/app", "1.0.0", layer_sizes=(3000,))


# ---- the test bed


def settings_for(bed: registries.Registries, **changes: Any) -> Settings:
    """Backups go to the anonymous plain-HTTP `backup` registry under a fresh prefix."""
    options = registry_options(bed)
    return Settings(
        backup=TargetNaming(bed["backup"].host, f"e2e-{uuid.uuid4().hex[:6]}"),
        registries=options,
        progress_interval=0.2,
        **changes,
    )


async def build(
    kube: cluster.Cluster,
    settings: Settings,
    namespaces: Sequence[str],
    workers: Mapping[str, int] | None = None,
) -> Manager:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            namespaces=tuple(namespaces),
            metrics_bind_address="0",
            health_probe_bind_address="0",
            max_concurrent_reconciles=dict(workers or {}),
        ),
    )
    imagebackup.setup(mgr, settings)
    workloadrewrite.setup(mgr, settings)
    return mgr


@contextlib.asynccontextmanager
async def manager(
    kube: cluster.Cluster,
    settings: Settings,
    namespaces: Sequence[str],
    workers: Mapping[str, int] | None = None,
    before_start: Callable[[Manager], None] | None = None,
) -> AsyncIterator[Manager]:
    """image-backup and workload-rewrite in one manager, watching `namespaces`, for the block."""
    mgr = await build(kube, settings, namespaces, workers)
    if before_start is not None:
        before_start(mgr)
    try:
        async with running(mgr.start()):
            yield mgr
    finally:
        await mgr.client.close()


async def delete_backups(client: Client) -> None:
    for obj in (await client.list(API_VERSION, IB)).items:
        with contextlib.suppress(errors.NotFound):
            await client.delete(API_VERSION, IB, obj["metadata"]["name"])


@pytest.fixture(autouse=True)
async def no_backups(crds: None, client: Client) -> AsyncIterator[None]:
    """No ImageBackup before or after: they are named after the source image, so one left behind
    (Completed, with another test's target) would be taken for this test's."""
    await delete_backups(client)
    yield
    await delete_backups(client)


@pytest.fixture
async def namespaces(client: Client) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Makes fresh namespaces (with labels), deleted after the test."""
    made: list[str] = []

    async def make(labels: Mapping[str, str] | None = None) -> str:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(errors.NotFound):
            await client.delete("v1", "Namespace", name)


@pytest.fixture(scope="module")
def fleet_images(registry_bed: registries.Registries, testbed_dir: Path) -> list[str]:
    """Ten more images in the source registry (about 200 KB each), for the scale tests."""
    built = images.push(FLEET, registry_bed["source"], testbed_dir / "fleet-build")
    return [built[f"{s.repository}:{s.tag}"].reference(registry_bed["source"]) for s in FLEET]


@pytest.fixture(scope="module")
def private_images(registry_bed: registries.Registries, testbed_dir: Path) -> dict[str, images.Built]:
    """`private/app:1.0.0` in the two registries that need credentials to pull it."""
    return {
        name: images.push((PRIVATE,), registry_bed[name], testbed_dir / f"private-{name}")[
            "private/app:1.0.0"
        ]
        for name in ("backup-token", "backup-basic")
    }


def source(bed: registries.Registries, built: Mapping[str, images.Built], name: str) -> str:
    return built[name].reference(bed["source"])


def backup_of(settings: Settings, image: str) -> str:
    assert settings.backup is not None
    return str(settings.backup.target(parse_reference(image).with_default_tag()))


def raw_digest(registry: registries.Registry, reference: str) -> str:
    raw = procs.run(["skopeo", "inspect", "--raw", *registry.skopeo_flags(), f"docker://{reference}"])
    return f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def dockerconfig(namespace: str, name: str, registry: registries.Registry) -> Obj:
    assert registry.username is not None and registry.password is not None
    return dockerconfig_secret(name, namespace, registry.host, registry.username, registry.password)


# ---- workloads


def pod(*images_: str, init: Sequence[str] = (), **extra: Any) -> Obj:
    """A pod spec running `images_` as containers c0, c1, ... and `init` as i0, i1, ..."""
    spec: Obj = {
        "containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images_)],
        **extra,
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return spec


def workload(
    kind: WorkloadKind,
    namespace: str,
    name: str,
    spec: Obj,
    *,
    replicas: int = 1,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": spec}
    body: Obj
    if kind is CRONJOB:
        job = {"template": {"spec": {**spec, "restartPolicy": "Never"}}}
        body = {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": job}}
    else:
        body = {"selector": {"matchLabels": labels}, "template": template}
        if kind is not DAEMONSET:
            body["replicas"] = replicas
        if kind is STATEFULSET:
            body["serviceName"] = name
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": dict(annotations or {})},
        "spec": body,
    }


def images_of(kind: WorkloadKind, obj: Obj) -> dict[str, str]:
    """container key (containers/c0, initContainers/i0) → image."""
    return {c.key: c.image for c in containers(kind, obj)}


async def get(client: Client, kind: WorkloadKind, namespace: str, name: str) -> Obj:
    return await client.get(kind.api_version, kind.kind, name, namespace)


async def switched(
    client: Client,
    kind: WorkloadKind,
    namespace: str,
    name: str,
    expected: Mapping[str, str],
    within: float = 120,
) -> Obj:
    """Wait until the workload runs exactly `expected` (container key → image)."""

    async def check() -> Obj | None:
        obj = await get(client, kind, namespace, name)
        return obj if images_of(kind, obj) == dict(expected) else None

    return await eventually(
        check, within=within, what=f"{kind.kind} {namespace}/{name} runs {dict(expected)}"
    )


async def rolled_out(client: Client, kind: WorkloadKind, namespace: str, name: str) -> Obj:
    """Wait until the workload's controller has rolled its current template out and KWOK made every
    pod of it ready (for a Deployment: its newest ReplicaSet is available)."""

    async def check() -> Obj | None:
        obj = await get(client, kind, namespace, name)
        spec, status = obj["spec"], obj.get("status") or {}
        if status.get("observedGeneration", 0) < obj["metadata"]["generation"]:
            return None
        if kind is DEPLOYMENT:
            want = spec["replicas"]
            counts = [
                status.get(f, 0)
                for f in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
            ]
            if counts != [want] * 4:
                return None
            uid = obj["metadata"]["uid"]
            sets = (await client.list("apps/v1", "ReplicaSet", namespace)).items
            ours = [
                r for r in sets if any(o["uid"] == uid for o in r["metadata"].get("ownerReferences") or [])
            ]
            current = [r for r in ours if images_of(DEPLOYMENT, r) == images_of(DEPLOYMENT, obj)]
            if len(current) != 1 or (current[0].get("status") or {}).get("availableReplicas", 0) != want:
                return None
        elif kind is DAEMONSET:
            want = status.get("desiredNumberScheduled", 0)
            got = [status.get(f, 0) for f in ("updatedNumberScheduled", "numberReady", "numberAvailable")]
            if want < 1 or got != [want] * 3:
                return None
        elif kind is STATEFULSET:
            if (
                status.get("readyReplicas", 0) != spec["replicas"]
                or status.get("updatedReplicas", 0) != spec["replicas"]
            ):
                return None
            if status.get("currentRevision") != status.get("updateRevision"):
                return None
        return obj

    return await eventually(check, what=f"{kind.kind} {namespace}/{name} rolled out and ready")


async def image_history(client: Client, kind: WorkloadKind, since: Obj) -> list[dict[str, str]]:
    """The images the workload ran from `since` (an earlier read of it) until now, each change once,
    in order: a watch from `since`'s resourceVersion replays every write after it."""
    namespace, name = since["metadata"]["namespace"], since["metadata"]["name"]
    now = (await get(client, kind, namespace, name))["metadata"]["resourceVersion"]
    version = since["metadata"]["resourceVersion"]
    history = [images_of(kind, since)]
    async with asyncio.timeout(60):
        while version != now:
            changes = client.watch(
                kind.api_version,
                kind.kind,
                namespace,
                resource_version=version,
                field_selector=f"metadata.name={name}",
                timeout_seconds=30,
            )
            async with contextlib.aclosing(changes):
                async for change in changes:
                    if change.type == "BOOKMARK":
                        continue
                    version = change.object["metadata"]["resourceVersion"]
                    if images_of(kind, change.object) != history[-1]:
                        history.append(images_of(kind, change.object))
                    if version == now:
                        break
    return history


async def backup_named(client: Client, image: str) -> Obj | None:
    with contextlib.suppress(errors.NotFound):
        return await client.get(API_VERSION, IB, backup_object_name(parse_reference(image)))
    return None


def is_completed(backup: Obj) -> bool:
    return (backup.get("status") or {}).get("phase") == "Completed"


async def completed(client: Client, image: str) -> Obj:
    async def check() -> Obj | None:
        obj = await backup_named(client, image)
        return obj if obj and is_completed(obj) else None

    return await eventually(check, what=f"the ImageBackup of {image} is Completed")


async def events_about(client: Client, namespace: str, name: str, reason: str | None = None) -> list[Obj]:
    """workload-rewrite's Events about `name` (with `reason`)."""
    return [
        e
        for e in (await client.list("v1", "Event", namespace)).items
        if e["involvedObject"]["name"] == name
        and e["source"].get("component") == workloadrewrite.NAME
        and (reason is None or e["reason"] == reason)
    ]


async def times(client: Client, namespace: str, name: str, reason: str) -> int:
    """How often workload-rewrite recorded `reason` about `name` (a repeat counts up one Event)."""
    return sum(e.get("count") or 1 for e in await events_about(client, namespace, name, reason))


async def event(client: Client, namespace: str, name: str, reason: str, containing: str = "") -> Obj:
    async def check() -> Obj | None:
        found = [e for e in await events_about(client, namespace, name, reason) if containing in e["message"]]
        return found[0] if found else None

    return await eventually(check, what=f"a {reason} Event ({containing!r}) about {namespace}/{name}")


def copies(mgr: Manager) -> float:
    return (
        mgr.metrics.registry.get_sample_value("irc_image_backup_copies_total", {"result": "success"}) or 0.0
    )


def reconciles(mgr: Manager, controller: str) -> float:
    return sum(
        s.value
        for family in mgr.metrics.registry.collect()
        if family.name == "controller_runtime_reconcile"
        for s in family.samples
        if s.name.endswith("_total") and s.labels.get("controller") == controller
    )


async def later_one_switched(client: Client, settings: Settings, namespace: str, image: str) -> None:
    """The positive signal that the manager has reconciled what came before: a Deployment created now
    (so queued after everything already there) is switched."""
    name = f"later-{uuid.uuid4().hex[:6]}"
    await client.create(workload(DEPLOYMENT, namespace, name, pod(image)))
    await switched(client, DEPLOYMENT, namespace, name, {"containers/c0": backup_of(settings, image)})


# ---- 1, 2: every kind is backed up byte for byte and switched once healthy


async def test_a_deployment_is_switched_to_a_byte_exact_copy(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    ns = await namespaces()
    built = source_images["testbed/oci-multiarch:1.0.0"]
    image = built.reference(registry_bed["source"])
    settings = settings_for(registry_bed)
    target = backup_of(settings, image)
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image), replicas=2))
    await rolled_out(client, DEPLOYMENT, ns, "web")
    async with manager(kube, settings, [ns]) as mgr:
        backup = await completed(client, image)
        obj = await switched(client, DEPLOYMENT, ns, "web", {"containers/c0": target})
        await rolled_out(client, DEPLOYMENT, ns, "web")
        await event(client, ns, "web", "ImagesRewritten")
        await event(client, ns, "web", "BackupRequested")
        assert copies(mgr) == 1

    assert backup["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    assert backup["spec"] == {"source": image, "sourceCredentials": []}
    status = backup["status"]
    assert status["target"] == target
    assert status["sourceDigest"] == status["targetDigest"] == built.digest
    assert (
        raw_digest(registry_bed["backup"], target)
        == raw_digest(registry_bed["source"], image)
        == built.digest
    )
    assert obj["metadata"]["generation"] == 2, "one rollout"
    annotations = obj["metadata"]["annotations"]
    assert json.loads(annotations[ORIGINAL]) == {"containers/c0": image}
    assert annotations["kubernetes.io/change-cause"].startswith("irc: switched to backup images")
    assert status["lastReferencedAt"]


@pytest.mark.parametrize("kind", [DAEMONSET, STATEFULSET, CRONJOB], ids=lambda k: k.kind)
async def test_other_kinds_are_switched(
    kind: WorkloadKind,
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    ns = await namespaces()
    built = source_images["testbed/docker-single:1.0.0"]
    image = built.reference(registry_bed["source"])
    settings = settings_for(registry_bed, rewrite_kinds=(*DEFAULT_KINDS, "CronJob"))
    target = backup_of(settings, image)
    await client.create(workload(kind, ns, "app", pod(image)))
    async with manager(kube, settings, [ns]):
        obj = await switched(client, kind, ns, "app", {"containers/c0": target})
        if kind is not CRONJOB:  # a CronJob has no rollout: its next Job starts from the template
            await rolled_out(client, kind, ns, "app")
    status = (await completed(client, image))["status"]
    assert status["targetDigest"] == built.digest
    assert raw_digest(registry_bed["backup"], target) == built.digest
    assert json.loads(obj["metadata"]["annotations"][ORIGINAL]) == {"containers/c0": image}
    assert obj["metadata"]["generation"] == 2


async def test_a_copy_of_some_platforms_only_is_not_switched_to(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """Someone made the ImageBackup of a multi-arch image by hand for linux/arm64 only: the copy's
    digest is not the source's, so the Deployment on that image is deferred, not switched."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    built = source_images["testbed/oci-multiarch:1.0.0"]
    image = built.reference(registry_bed["source"])
    name = backup_object_name(parse_reference(image))
    partial = {"source": image, "platforms": ["linux/arm64"]}
    await client.create({"apiVersion": API_VERSION, "kind": IB, "metadata": {"name": name}, "spec": partial})
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image)))
    async with manager(kube, settings, [ns]):
        status = (await completed(client, image))["status"]
        assert status["sourceDigest"] == built.digest != status["targetDigest"]
        await event(client, ns, "web", "RewriteDeferred", "BackupDigestMismatch")
        assert images_of(DEPLOYMENT, await get(client, DEPLOYMENT, ns, "web")) == {"containers/c0": image}


# ---- 3: init containers; an image already in the backup registry


async def test_init_containers_and_an_image_already_backed_up(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    ns = await namespaces()
    settings = settings_for(registry_bed)
    init, app, kept = (
        source(registry_bed, source_images, n)
        for n in ("testbed/docker-single:1.0.0", "testbed/oci-single:1.0.0", "testbed/multilayer:1.0.0")
    )
    already = backup_of(settings, kept)  # copied there before irc runs: irc must not copy it again
    src, dst = registry_bed["source"], registry_bed["backup"]
    await asyncio.to_thread(
        procs.run,
        [
            "skopeo",
            "copy",
            "--quiet",
            "--all",
            *src.skopeo_flags("src"),
            *dst.skopeo_flags("dest"),
            f"docker://{kept}",
            f"docker://{already}",
        ],
    )
    await client.create(workload(DEPLOYMENT, ns, "web", pod(app, already, init=[init])))
    async with manager(kube, settings, [ns]) as mgr:
        expected = {
            "initContainers/i0": backup_of(settings, init),
            "containers/c0": backup_of(settings, app),
            "containers/c1": already,
        }
        obj = await switched(client, DEPLOYMENT, ns, "web", expected)
        await rolled_out(client, DEPLOYMENT, ns, "web")
        assert copies(mgr) == 2
    assert obj["metadata"]["generation"] == 2, "every container in one patch: one rollout"
    assert json.loads(obj["metadata"]["annotations"][ORIGINAL]) == {
        "initContainers/i0": init,
        "containers/c0": app,
    }
    backups = (await client.list(API_VERSION, IB)).items
    assert sorted(b["spec"]["source"] for b in backups) == sorted([init, app])


# ---- 4: excluded workloads are left alone


async def test_excluded_workloads_are_untouched(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    ns, excluded = await namespaces(), await namespaces()
    selected = await namespaces({"e2e-irc-backup": "off"})
    settings = settings_for(
        registry_bed, exclude_namespaces=(excluded,), exclude_namespace_selector="e2e-irc-backup=off"
    )
    untouched = source(registry_bed, source_images, "testbed/docker-single:1.0.0")
    system = f"e2e-{uuid.uuid4().hex[:8]}"
    left_alone = [
        ("kube-system", system, {}),
        (excluded, "web", {}),
        (selected, "web", {}),
        (ns, "opted-out", {OPT: "false"}),
    ]
    try:
        for namespace, name, annotations in left_alone:
            await client.create(
                workload(DEPLOYMENT, namespace, name, pod(untouched), annotations=annotations)
            )
        async with manager(kube, settings, [ns, excluded, selected, "kube-system"]) as mgr:
            await later_one_switched(
                client, settings, ns, source(registry_bed, source_images, "testbed/oci-single:1.0.0")
            )
            assert reconciles(mgr, "workload-rewrite-deployment") >= len(left_alone) + 1
            for namespace, name, _ in left_alone:
                obj = await get(client, DEPLOYMENT, namespace, name)
                assert images_of(DEPLOYMENT, obj) == {"containers/c0": untouched}, (namespace, name)
                assert obj["metadata"]["generation"] == 1
                assert ORIGINAL not in (obj["metadata"].get("annotations") or {})
                assert not await events_about(client, namespace, name), (namespace, name)
            assert await backup_named(client, untouched) is None
    finally:
        with contextlib.suppress(errors.NotFound):
            await client.delete("apps/v1", "Deployment", system, "kube-system")


# ---- 5: an unhealthy workload waits


async def test_an_unhealthy_deployment_waits_until_it_is_healthy(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """Its pods need a Node label no Node has: Pending, never ready, until a Node gets the label."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    image = source(registry_bed, source_images, "testbed/oci-single:1.0.0")
    label = f"e2e-pool-{uuid.uuid4().hex[:6]}"
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image, nodeSelector={label: "yes"})))
    try:
        async with manager(kube, settings, [ns]):
            await completed(client, image)
            # Its controller has observed it, and the pod is not ready.
            await event(
                client,
                ns,
                "web",
                "RewriteDeferred",
                "WorkloadUnhealthy: waiting for the workload: 1 replicas",
            )
            obj = await get(client, DEPLOYMENT, ns, "web")
            assert images_of(DEPLOYMENT, obj) == {"containers/c0": image}
            assert (obj.get("status") or {}).get("availableReplicas", 0) == 0

            await client.patch("v1", "Node", "kwok-node-0", {"metadata": {"labels": {label: "yes"}}})
            obj = await switched(client, DEPLOYMENT, ns, "web", {"containers/c0": backup_of(settings, image)})
            await rolled_out(client, DEPLOYMENT, ns, "web")
    finally:
        await client.patch("v1", "Node", "kwok-node-0", {"metadata": {"labels": {label: None}}})
    assert obj["metadata"]["generation"] == 2


# ---- 6: a conflicting concurrent update


async def test_a_concurrent_update_is_kept(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another writer changes the Deployment between irc's read and its switch (made certain by
    writing just before irc's first switch goes out): the switch meets 409 Conflict, and the end
    state has both the other writer's change and the backup images."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    image = source(registry_bed, source_images, "testbed/oci-single:1.0.0")
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image)))
    conflicts: list[errors.ApiError] = []
    other = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"other-writer": "was-here"}},
                "spec": {"containers": [{"name": "c0", "env": [{"name": "OTHER", "value": "1"}]}]},
            }
        }
    }

    def intercept(mgr: Manager) -> None:
        patch = mgr.client.patch

        async def patch_after_another_writer(
            api_version: str, kind: str, name: str, body: Any, **kw: Any
        ) -> Obj:
            if kind == "Deployment" and kw.get("patch_type") == "strategic" and not conflicts:
                await client.patch(
                    "apps/v1", "Deployment", "web", other, namespace=ns, patch_type="strategic"
                )
                try:
                    return await patch(api_version, kind, name, body, **kw)
                except errors.Conflict as e:
                    conflicts.append(e)
                    raise
            return await patch(api_version, kind, name, body, **kw)

        monkeypatch.setattr(mgr.client, "patch", patch_after_another_writer)

    async with manager(kube, settings, [ns], before_start=intercept):
        await switched(client, DEPLOYMENT, ns, "web", {"containers/c0": backup_of(settings, image)})
        obj = await rolled_out(client, DEPLOYMENT, ns, "web")
    assert len(conflicts) == 1
    template = obj["spec"]["template"]
    assert template["metadata"]["annotations"]["other-writer"] == "was-here"
    assert template["spec"]["containers"][0]["env"] == [{"name": "OTHER", "value": "1"}]
    assert json.loads(obj["metadata"]["annotations"][ORIGINAL]) == {"containers/c0": image}


# ---- 7: one ImageBackup and one copy per image, however many workloads and managers

FLEET_SIZE = 100


async def fleet(
    client: Client, namespace: str, sources: Sequence[str], size: int = FLEET_SIZE
) -> dict[str, str]:
    """`size` Deployments, round-robin over `sources`, scaled to zero (healthy without pods: what
    bounds these tests is kube-controller-manager observing 100 new Deployments at its client's
    20 requests a second, not irc); deployment name → image."""
    wanted = {f"d{i:03d}": sources[i % len(sources)] for i in range(size)}
    semaphore = asyncio.Semaphore(20)

    async def create(name: str, image: str) -> None:
        async with semaphore:
            await client.create(workload(DEPLOYMENT, namespace, name, pod(image), replicas=0))

    await asyncio.gather(*(create(n, i) for n, i in wanted.items()))
    return wanted


async def fleet_switched(
    client: Client, settings: Settings, namespace: str, wanted: Mapping[str, str]
) -> None:
    targets = {name: backup_of(settings, image) for name, image in wanted.items()}

    async def check() -> bool | None:
        items = (await client.list("apps/v1", "Deployment", namespace)).items
        current = {o["metadata"]["name"]: images_of(DEPLOYMENT, o)["containers/c0"] for o in items}
        return True if current == targets else None

    try:
        await eventually(check, what=f"all {len(wanted)} Deployments switched")
    except AssertionError as e:
        items = (await client.list("apps/v1", "Deployment", namespace)).items
        waiting = [
            (o["metadata"]["name"], o["metadata"]["generation"], o.get("status"))
            for o in items
            if images_of(DEPLOYMENT, o)["containers/c0"] != targets[o["metadata"]["name"]]
        ]
        raise AssertionError(f"{e}; {len(waiting)} not switched: {waiting[:3]}") from None


async def fleet_backups(client: Client, sources: Sequence[str]) -> list[Obj]:
    backups = (await client.list(API_VERSION, IB)).items
    assert sorted(b["spec"]["source"] for b in backups) == sorted(sources)
    assert {b["metadata"]["name"] for b in backups} == {
        backup_object_name(parse_reference(s)) for s in sources
    }
    assert all(b["status"]["phase"] == "Completed" for b in backups)
    return backups


async def test_a_hundred_deployments_on_ten_images_make_ten_backups(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    fleet_images: list[str],
) -> None:
    ns = await namespaces()
    settings = settings_for(registry_bed)
    async with manager(kube, settings, [ns]) as mgr:
        wanted = await fleet(client, ns, fleet_images)
        await fleet_switched(client, settings, ns, wanted)
        assert copies(mgr) == len(fleet_images)
    backups = await fleet_backups(client, fleet_images)
    assert all(b["status"]["attempts"] == 1 for b in backups)
    assert await backups_requested(client, ns) == len(fleet_images)


async def backups_requested(client: Client, namespace: str) -> int:
    events = (await client.list("v1", "Event", namespace)).items
    return sum(e.get("count") or 1 for e in events if e["reason"] == "BackupRequested")


async def test_two_managers_racing_still_make_ten_backups(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    fleet_images: list[str],
) -> None:
    """Leader election off: both managers reconcile every Deployment. Each ImageBackup is created
    once (the other's create meets AlreadyExists), every Deployment is switched (the loser of each
    switch meets 409 Conflict, re-reads and finds nothing left to do), and neither manager copies
    any image twice."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    async with manager(kube, settings, [ns]) as first, manager(kube, settings, [ns]) as second:
        wanted = await fleet(client, ns, fleet_images)
        await fleet_switched(client, settings, ns, wanted)
        assert copies(first) <= len(fleet_images) and copies(second) <= len(fleet_images)
    await fleet_backups(client, fleet_images)
    assert await backups_requested(client, ns) == len(fleet_images)
    rewritten: dict[str, int] = dict.fromkeys(wanted, 0)
    for e in (await client.list("v1", "Event", ns)).items:
        if e["reason"] == "ImagesRewritten":
            rewritten[e["involvedObject"]["name"]] += e.get("count") or 1
    assert set(rewritten.values()) == {1}, rewritten


async def test_two_managers_racing_copy_each_image_once(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    fleet_images: list[str],
) -> None:
    """The same race over ten Deployments, one per image: ten copies in all. Both managers claim
    each new ImageBackup on the resourceVersion they saw; the API server lets one claim through and
    the other manager, answered 409, finds the claim and waits instead of copying."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    async with manager(kube, settings, [ns]) as first, manager(kube, settings, [ns]) as second:
        wanted = await fleet(client, ns, fleet_images, size=len(fleet_images))
        await fleet_switched(client, settings, ns, wanted)
        made = copies(first) + copies(second)
    await fleet_backups(client, fleet_images)
    assert made == len(fleet_images)


async def test_a_manager_stopped_midway_is_finished_by_the_next_without_copying_twice(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    fleet_images: list[str],
) -> None:
    """The first manager copies one image at a time and is cancelled as soon as the third copy is
    Completed (seen through a watch); a second manager finishes the rest and copies nothing that
    was Completed."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    wanted = await fleet(client, ns, fleet_images)
    first = await build(kube, settings, [ns], {"image-backup": 1})
    try:
        async with running(first.start()):

            async def third_completed() -> None:
                listed = await client.list(API_VERSION, IB)
                done = {o["metadata"]["name"] for o in listed.items if is_completed(o)}
                if len(done) >= 3:
                    return
                changes = client.watch(API_VERSION, IB, resource_version=listed.resource_version)
                async with contextlib.aclosing(changes):
                    async for change in changes:
                        if is_completed(change.object):
                            done.add(change.object["metadata"]["name"])
                        if len(done) >= 3:
                            return

            await asyncio.wait_for(third_completed(), 120)
    finally:
        await first.client.close()
    at_stop = {b["metadata"]["name"]: b for b in (await client.list(API_VERSION, IB)).items}
    done = {n: b for n, b in at_stop.items() if (b.get("status") or {}).get("phase") == "Completed"}
    assert 3 <= len(done) < len(fleet_images), "stopped mid-way"
    # The copy in flight gave its claim up as the manager stopped: the next need not wait out the lease.
    assert not [n for n, b in at_stop.items() if "claim" in (b.get("status") or {})]

    async with manager(kube, settings, [ns]) as second:
        await fleet_switched(client, settings, ns, wanted)
        assert copies(second) == len(fleet_images) - len(done)
    backups = {b["metadata"]["name"]: b for b in await fleet_backups(client, fleet_images)}
    for name, before in done.items():
        after = backups[name]["status"]
        assert (after["attempts"], after["completedAt"]) == (
            before["status"]["attempts"],
            before["status"]["completedAt"],
        )


async def test_a_claim_left_by_a_killed_manager_is_taken_over_after_the_lease(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    fleet_images: list[str],
) -> None:
    """A manager killed mid-copy had no chance to give its claim up: its ImageBackup stays Copying
    under its claim. The next manager honours the claim for the lease (2 s here), then takes it
    over (Warning CopyTakenOver) and copies the image once."""
    ns = await namespaces()
    settings = settings_for(registry_bed, copy_lease=2.0)
    source = fleet_images[0]
    name = backup_object_name(parse_reference(source))
    await client.create(
        {"apiVersion": API_VERSION, "kind": IB, "metadata": {"name": name}, "spec": {"source": source}}
    )
    claim = {"holder": "killed-manager", "renewedAt": rfc3339(time.time())}
    await client.patch(
        API_VERSION, IB, name, {"status": {"phase": "Copying", "claim": claim}}, subresource="status"
    )
    async with manager(kube, settings, [ns]) as mgr:
        backup = await completed(client, source)
        assert copies(mgr) == 1
        taken = mgr.metrics.registry.get_sample_value(
            "irc_image_backup_claims_total", {"result": "taken_over"}
        )
        assert taken == 1
    assert "claim" not in backup["status"] and backup["status"]["attempts"] == 1
    events = (await client.list("v1", "Event", "default")).items
    assert [
        e["message"] for e in events if e["involvedObject"]["name"] == name and e["reason"] == "CopyTakenOver"
    ] == ["killed-manager did not renew its claim for 2 s: copying in its place"]


# ---- 8: a private image's copy is used only by namespaces that can pull it themselves


@pytest.mark.parametrize("registry", ["backup-token", "backup-basic"])
async def test_a_private_copy_is_only_used_by_namespaces_that_may_pull_the_source(
    registry: str,
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    private_images: dict[str, images.Built],
) -> None:
    """A has a pull Secret and is switched; B, on the same image without one, is deferred with
    SourceAccessDenied and keeps the source; once B has its own Secret, B is switched. The answer
    is remembered per namespace and image for access_ttl (10 minutes by default; 1 s here, so the
    test need not wait for a denial to be forgotten)."""
    a, b = await namespaces(), await namespaces()
    private = registry_bed[registry]
    built = private_images[registry]
    image = built.reference(private)
    settings = settings_for(registry_bed, access_ttl=1.0)
    target = backup_of(settings, image)
    await client.create(dockerconfig(a, "pull", private))
    async with manager(kube, settings, [a, b]):
        await client.create(workload(DEPLOYMENT, a, "web", pod(image, imagePullSecrets=[{"name": "pull"}])))
        backup = await completed(client, image)
        assert backup["spec"]["sourceCredentials"] == [{"name": "pull", "namespace": a}]
        await switched(client, DEPLOYMENT, a, "web", {"containers/c0": target})

        await client.create(workload(DEPLOYMENT, b, "web", pod(image)))
        denied = await event(client, b, "web", "RewriteDeferred", "SourceAccessDenied")
        assert image in denied["message"]
        assert images_of(DEPLOYMENT, await get(client, DEPLOYMENT, b, "web")) == {"containers/c0": image}

        await client.create(dockerconfig(b, "mine", private))
        await client.patch(
            "apps/v1",
            "Deployment",
            "web",
            {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": "mine"}]}}}},
            namespace=b,
            patch_type="strategic",
        )
        await switched(client, DEPLOYMENT, b, "web", {"containers/c0": target})
        await rolled_out(client, DEPLOYMENT, b, "web")
    assert raw_digest(registry_bed["backup"], target) == built.digest


@pytest.mark.parametrize("first", ["no-secret", "wrong-secret"])
async def test_a_namespace_without_credentials_first_does_not_block_one_with_them(
    first: str,
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    private_images: dict[str, images.Built],
) -> None:
    """B's Deployment (no pull Secret, or one with a wrong password, say a rotated one) makes the
    shared ImageBackup first, and the source refuses it; A's, with a valid Secret, is switched all
    the same, and B, which still cannot pull the source, is not."""
    a, b = await namespaces(), await namespaces()
    private = registry_bed["backup-token"]
    image = private_images["backup-token"].reference(private)
    settings = settings_for(registry_bed, access_ttl=1.0)
    target = backup_of(settings, image)
    await client.create(dockerconfig(a, "pull", private))
    b_spec = pod(image)
    if first == "wrong-secret":
        wrong = dockerconfig(b, "pull", dataclasses.replace(private, password="rotated-away"))
        await client.create(wrong)
        b_spec["imagePullSecrets"] = [{"name": "pull"}]
    async with manager(kube, settings, [a, b]):
        await client.create(workload(DEPLOYMENT, b, "web", b_spec))

        async def refused() -> Obj | None:
            obj = await backup_named(client, image)
            ready = get_condition((obj or {}).get("status") or {}, "Ready") or {}
            return obj if ready.get("reason") == "SourceUnauthorized" else None

        await eventually(refused, what="the source refuses the ImageBackup B made")
        await client.create(workload(DEPLOYMENT, a, "web", pod(image, imagePullSecrets=[{"name": "pull"}])))
        try:
            await switched(client, DEPLOYMENT, a, "web", {"containers/c0": target}, within=20)
        except AssertionError as e:
            backup = await backup_named(client, image) or {}
            raise AssertionError(
                f"{e}; the ImageBackup: {backup.get('spec')} {backup.get('status')}"
            ) from None
        await event(client, b, "web", "RewriteDeferred", "SourceAccessDenied")
        assert images_of(DEPLOYMENT, await get(client, DEPLOYMENT, b, "web")) == {"containers/c0": image}


async def test_a_tenant_cannot_get_a_private_copy_it_could_not_pull_whatever_it_tries(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    private_images: dict[str, images.Built],
    tmp_path: Path,
) -> None:
    """The private-image rule from the attacker's side. A runs private/app with its pull Secret
    `pull`. A tenant with Kubernetes' `admin` of namespace B only (its own token: it cannot read
    A's Secret or any ImageBackup) wants a copy of A's image and tries, before A deploys:
    the image by tag and no Secret; by digest; by tag and digest; a Secret named like A's, with A's
    user and a guessed password, on the pod and on B's default ServiceAccount; imagePullSecrets
    whose names try to reach A's Secret through the API path (`A/pull`, `../../A/secrets/pull`,
    percent-encoded, `..`); and a Secret reference that does not exist, to block the shared copy.
    A's workload is still switched; none of B's is, each either deferred with SourceAccessDenied or
    waiting on a copy the source refuses, and B's workloads keep A's private image reference."""
    a, b = await namespaces(), await namespaces()
    private = registry_bed["backup-token"]
    built = private_images["backup-token"]
    image = built.reference(private)
    by_digest = f"{image.rsplit(':', 1)[0]}@{built.digest}"
    settings = settings_for(registry_bed, access_ttl=1.0)
    target = backup_of(settings, image)
    await client.create(dockerconfig(a, "pull", private))
    async with user_with_role(kube, client, b, "admin", tmp_path) as user:
        with pytest.raises(errors.Forbidden):
            await user.get("v1", "Secret", "pull", a)
        with pytest.raises(errors.Forbidden):
            await user.list(API_VERSION, IB)
        guessed = dataclasses.replace(private, password="guessed")
        await user.create(dockerconfig(b, "pull", guessed))
        await user.patch(
            "v1", "ServiceAccount", "default", {"imagePullSecrets": [{"name": "pull"}]}, namespace=b
        )
        reaching = [f"{a}/pull", f"../../{a}/secrets/pull", f"..%2F..%2F{a}%2Fsecrets%2Fpull", "..", "."]
        attempts = {
            "by-tag": pod(image),
            "by-digest": pod(by_digest),
            "tag-and-digest": pod(f"{image}@{built.digest}"),
            "guessed-password": pod(image, imagePullSecrets=[{"name": "pull"}]),
            "through-the-account": pod(image, serviceAccountName="default"),
            "reaching-for-a": pod(image, imagePullSecrets=[{"name": n} for n in reaching]),
            "dangling": pod(image, imagePullSecrets=[{"name": "never-made"}]),
        }
        async with manager(kube, settings, [a, b]):
            for name, spec in attempts.items():
                await user.create(workload(DEPLOYMENT, b, name, spec))
            await client.create(
                workload(DEPLOYMENT, a, "web", pod(image, imagePullSecrets=[{"name": "pull"}]))
            )
            await switched(client, DEPLOYMENT, a, "web", {"containers/c0": target})
            for name in attempts:
                if "digest" not in name:  # the tag's copy is complete: the rule itself says no
                    await event(client, b, name, "RewriteDeferred", "SourceAccessDenied")
            for reference in (by_digest, f"{image}@{built.digest}"):  # copies nobody can make

                async def refused(reference: str = reference) -> Obj | None:
                    obj = await backup_named(client, reference)
                    ready = get_condition((obj or {}).get("status") or {}, "Ready") or {}
                    return obj if ready.get("reason") == "SourceUnauthorized" else None

                await eventually(refused, what=f"the source refuses the ImageBackup of {reference}")
            for name, spec in attempts.items():
                assert images_of(DEPLOYMENT, await get(client, DEPLOYMENT, b, name)) == {
                    "containers/c0": spec["containers"][0]["image"]
                }, name
            backup = await completed(client, image)
    # Made with A's Secret. B's real names are there if one of B's Deployments made the ImageBackup
    # (refused, then lent A's) and not if A's did; the names reaching for A's Secret never are.
    used = {(r["namespace"], r["name"]) for r in backup["spec"]["sourceCredentials"]}
    assert (a, "pull") in used and used <= {(a, "pull"), (b, "pull"), (b, "never-made")}, used


@pytest.mark.parametrize("per_namespace", [False, True], ids=["copied", "per-namespace"])
async def test_the_backup_pull_secret_is_copied_or_brought_by_each_namespace(
    per_namespace: bool,
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """--backup-pull-secret: the manager's Secret is copied into the workload's namespace, labelled
    as irc's, and appended to the pod template; with --backup-pull-secret-per-namespace nothing is
    copied, the workload waits (PullSecretNotFound) until its namespace has its own, and that one is
    used as it is."""
    home, ns = await namespaces(), await namespaces()
    image = source_images["testbed/oci-single:1.0.0"].reference(registry_bed["source"])
    settings = settings_for(
        registry_bed,
        backup_pull_secret="backup-pull",
        backup_pull_secret_per_namespace=per_namespace,
        manager_namespace=home,
        access_ttl=1.0,
    )
    backup_registry = registry_bed["backup"]
    await client.create(dockerconfig_secret("backup-pull", home, backup_registry.host, "reader", "from-home"))
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image)))
    async with manager(kube, settings, [ns]):
        if per_namespace:
            await event(client, ns, "web", "RewriteDeferred", "PullSecretNotFound")
            assert images_of(DEPLOYMENT, await get(client, DEPLOYMENT, ns, "web")) == {"containers/c0": image}
            with pytest.raises(errors.NotFound):
                await client.get("v1", "Secret", "backup-pull", ns)
            own = dockerconfig_secret("backup-pull", ns, backup_registry.host, "reader", "its-own")
            await client.create(own)
        obj = await switched(client, DEPLOYMENT, ns, "web", {"containers/c0": backup_of(settings, image)})
    assert obj["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "backup-pull"}]
    there = await client.get("v1", "Secret", "backup-pull", ns)
    original = await client.get("v1", "Secret", "backup-pull", home)
    if per_namespace:
        assert there["data"] != original["data"] and "labels" not in there["metadata"]
    else:
        assert there["data"] == original["data"]
        assert there["metadata"]["labels"] == {MANAGED_BY[0]: MANAGED_BY[1]}


# ---- 9: restore


async def test_restore_puts_the_originals_back_in_one_patch_and_leaves_it_alone(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    ns = await namespaces()
    settings = settings_for(registry_bed)
    app, init = (
        source(registry_bed, source_images, n)
        for n in ("testbed/oci-single:1.0.0", "testbed/docker-single:1.0.0")
    )
    originals = {"initContainers/i0": init, "containers/c0": app}
    await client.create(workload(DEPLOYMENT, ns, "web", pod(app, init=[init])))
    async with manager(kube, settings, [ns]):
        backups = {k: backup_of(settings, v) for k, v in originals.items()}
        switch = await switched(client, DEPLOYMENT, ns, "web", backups)
        await rolled_out(client, DEPLOYMENT, ns, "web")
        restore = {"metadata": {"annotations": {OPT: "restore"}}}
        await client.patch("apps/v1", "Deployment", "web", restore, namespace=ns)
        obj = await switched(client, DEPLOYMENT, ns, "web", originals)
        annotations = obj["metadata"]["annotations"]
        assert ORIGINAL not in annotations
        assert annotations["kubernetes.io/change-cause"] == "irc: restored the original images"
        await event(client, ns, "web", "ImagesRestored")
        await rolled_out(client, DEPLOYMENT, ns, "web")

        # Left alone: touched (an event irc reconciles), then a later workload is switched.
        touch = {"metadata": {"annotations": {"touched": "1"}}}
        touched = await client.patch("apps/v1", "Deployment", "web", touch, namespace=ns)
        await later_one_switched(client, settings, ns, app)
    assert await image_history(client, DEPLOYMENT, switch) == [backups, originals], "one patch"
    assert await image_history(client, DEPLOYMENT, touched) == [originals], "left alone"
    assert await times(client, ns, "web", "ImagesRewritten") == 1


# ---- 10: the flapping detector


@contextlib.asynccontextmanager
async def reverting(
    client: Client, kind: WorkloadKind, namespace: str, name: str, image: str
) -> AsyncIterator[list[str]]:
    """A GitOps tool stand-in for the block: whenever the workload's c0 runs anything but `image`,
    it applies `image` back (strategic merge, as `kubectl apply` would). Yields the images it
    reverted, in order."""
    reverted: list[str] = []

    async def loop() -> None:
        version: str | None = None
        while True:
            with contextlib.suppress(errors.Gone, TimeoutError):
                if version is None:
                    obj = await get(client, kind, namespace, name)
                    await revert(obj)
                    version = obj["metadata"]["resourceVersion"]
                changes = client.watch(
                    kind.api_version,
                    kind.kind,
                    namespace,
                    resource_version=version,
                    field_selector=f"metadata.name={name}",
                )
                async with contextlib.aclosing(changes):
                    async for change in changes:
                        version = change.object["metadata"]["resourceVersion"]
                        if change.type != "BOOKMARK":
                            await revert(change.object)
                continue
            version = None  # 410 Gone or a stalled watch: read again

    switches: set[int] = set()  # generations of irc's switches already reverted

    async def revert(obj: Obj) -> None:
        current = images_of(kind, obj)["containers/c0"]
        if current == image:
            return
        await client.patch(
            kind.api_version,
            kind.kind,
            name,
            {"spec": {"template": {"spec": {"containers": [{"name": "c0", "image": image}]}}}},
            namespace=namespace,
            patch_type="strategic",
        )
        # Counted by the switch it undoes: a stale event of a switch already reverted patches nothing
        # new. (Not by the generation the patch returns: once irc's own annotation writes have moved
        # a Deployment's generation, that no-op patch returned an unseen one and counted twice.)
        if obj["metadata"]["generation"] not in switches:
            switches.add(obj["metadata"]["generation"])
            reverted.append(current)

    async with running(loop()):
        yield reverted


async def stopped(client: Client, kind: WorkloadKind, namespace: str, name: str) -> Obj:
    async def check() -> Obj | None:
        obj = await get(client, kind, namespace, name)
        return obj if STOPPED in (obj["metadata"].get("annotations") or {}) else None

    return await eventually(check, what=f"irc stops switching the reverted {kind.kind}")


async def test_a_workload_reverted_again_and_again_is_left_alone(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """A loop applies the original image back whenever irc switches: irc stops, says why in the
    backup-stopped annotation and a Warning RewriteReverted Event, and switches it no more."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    image = source(registry_bed, source_images, "testbed/oci-single:1.0.0")
    target = backup_of(settings, image)
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image)))
    async with manager(kube, settings, [ns]) as mgr:
        async with reverting(client, DEPLOYMENT, ns, "web", image) as reverted:
            obj = await stopped(client, DEPLOYMENT, ns, "web")
            warning = await event(client, ns, "web", "RewriteReverted", "reverted")
        assert reverted and set(reverted) == {target}
        assert warning["type"] == "Warning"
        assert obj["metadata"]["annotations"][STOPPED].startswith(f"reverted {settings.revert_limit} times")
        # Stopped: touched, then a later workload is switched; this one stays on the original.
        switches = await times(client, ns, "web", "ImagesRewritten")
        before = reconciles(mgr, "workload-rewrite-deployment")
        touch = {"metadata": {"annotations": {"touched": "1"}}}
        touched = await client.patch("apps/v1", "Deployment", "web", touch, namespace=ns)
        await later_one_switched(client, settings, ns, image)
        assert reconciles(mgr, "workload-rewrite-deployment") > before
    assert await image_history(client, DEPLOYMENT, touched) == [{"containers/c0": image}]
    assert await times(client, ns, "web", "ImagesRewritten") == switches


@pytest.mark.parametrize(
    "kind",
    [
        DEPLOYMENT,  # its generation moves with annotations too: reverts are numbered by switch
        DAEMONSET,
    ],
    ids=lambda k: k.kind,
)
async def test_each_revert_is_counted_once(
    kind: WorkloadKind,
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """revert_limit 3: the first two reverts are switched again, the third stops irc."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    image = source(registry_bed, source_images, "testbed/oci-single:1.0.0")
    target = backup_of(settings, image)
    await client.create(workload(kind, ns, "app", pod(image)))
    async with manager(kube, settings, [ns]):
        await switched(client, kind, ns, "app", {"containers/c0": target})
        async with reverting(client, kind, ns, "app", image) as reverted:
            obj = await stopped(client, kind, ns, "app")
    annotations = obj["metadata"]["annotations"]
    assert reverted == [target] * settings.revert_limit, (reverted, annotations[REVERTS])
    assert len(annotations[REVERTS].split(",")) == settings.revert_limit
    assert await times(client, ns, "app", "ImagesRewritten") == settings.revert_limit


# ---- retention


async def test_the_backup_of_a_switched_workload_is_kept_referenced(
    kube: cluster.Cluster,
    client: Client,
    namespaces: Callable[..., Awaitable[str]],
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    """lastReferencedAt of the backup a switched Deployment runs is wound back past the hourly refresh
    (as if hours had passed); the Deployment is reconciled again: its backup is referenced now, so
    image-backup's retention does not delete the ImageBackup of a copy in use."""
    ns = await namespaces()
    settings = settings_for(registry_bed)
    image = source(registry_bed, source_images, "testbed/oci-single:1.0.0")
    await client.create(workload(DEPLOYMENT, ns, "web", pod(image)))
    expected = {"containers/c0": backup_of(settings, image)}
    async with manager(kube, settings, [ns]) as mgr:
        await switched(client, DEPLOYMENT, ns, "web", expected)

        async def cached() -> bool | None:
            obj = mgr.cache.get(DEPLOYMENT.api_version, DEPLOYMENT.kind, "web", ns)
            return True if images_of(DEPLOYMENT, obj) == expected else None

        # Until its cache has the switch, a reconcile of the Deployment still sees the source image.
        await eventually(cached, what="the manager's cache has the switched Deployment")
        name = backup_object_name(parse_reference(image))
        wound_back = "2000-01-01T00:00:00Z"
        status = {"status": {"lastReferencedAt": wound_back}}
        written = await client.patch(API_VERSION, IB, name, status, subresource="status")

        async def wound_back_cached() -> bool | None:
            obj = mgr.cache.get(API_VERSION, IB, name)
            return (
                True
                if int(obj["metadata"]["resourceVersion"]) >= int(written["metadata"]["resourceVersion"])
                else None
            )

        # So that the reconcile of the touch below reads the old lastReferencedAt (resourceVersions
        # are opaque to clients; etcd's are increasing integers, which this test may rely on).
        await eventually(wound_back_cached, what="the manager's cache has the old lastReferencedAt")
        touch = {"metadata": {"annotations": {"touched": "1"}}}
        await client.patch("apps/v1", "Deployment", "web", touch, namespace=ns)
        # Another image, so that the later workload does not refresh this backup itself.
        await later_one_switched(
            client, settings, ns, source(registry_bed, source_images, "testbed/docker-single:1.0.0")
        )
    backup = await backup_named(client, image)
    assert backup is not None
    assert backup["status"]["lastReferencedAt"] != wound_back
