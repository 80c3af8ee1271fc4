"""The image-backup reconciler in a manager against the test bed: ImageBackups are copied byte for
byte into the backup registry, show progress and results in status and Events, are not copied twice,
and fail with a clear reason."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from e2e.support import eventually, registry_options, running
from hack.testbed import cluster, images, procs, registries
from irc.api import API_VERSION
from irc.images import TargetNaming, parse_reference
from irc.reconcilers import imagebackup
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, ManagerOptions, errors
from irc.runtime.client import Obj


def settings_for(bed: registries.Registries, backup: str = "backup") -> Settings:
    options = registry_options(bed)
    prefix = f"e2e-{uuid.uuid4().hex[:6]}"
    return Settings(
        backup=TargetNaming(bed[backup].host, prefix),
        registries=options,
        progress_interval=0.2,
        recheck_interval=0.5,
    )


@contextlib.asynccontextmanager
async def manager(kube: cluster.Cluster, settings: Settings) -> AsyncIterator[Manager]:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig), options=ManagerOptions(metrics_bind_address="0", health_probe_bind_address="0")
    )
    imagebackup.setup(mgr, settings)
    try:
        async with running(mgr.start()):
            yield mgr
        # ImageBackups are cluster-scoped: left behind, every later manager would copy them again.
        for obj in (await mgr.client.list(API_VERSION, "ImageBackup")).items:
            with contextlib.suppress(errors.NotFound):
                await mgr.client.delete(API_VERSION, "ImageBackup", obj["metadata"]["name"])
    finally:
        await mgr.client.close()


async def create_backup(mgr: Manager, source: str, **spec: Any) -> str:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    await mgr.client.create(
        {
            "apiVersion": API_VERSION,
            "kind": "ImageBackup",
            "metadata": {"name": name},
            "spec": {"source": source, **spec},
        }
    )
    return name


async def wait_phase(mgr: Manager, name: str, *phases: str) -> Obj:
    async def reached() -> Obj | None:
        obj = await mgr.client.get(API_VERSION, "ImageBackup", name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    return await eventually(reached, within=120, what=f"ImageBackup {name} reaches {phases}")


def rechecks(mgr: Manager) -> float:
    """Image-backup reconciles that ended in a requeue-after (a completed backup's re-check)."""
    value = mgr.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_total", {"controller": "image-backup", "result": "requeue_after"}
    )
    return value or 0.0


def failures(mgr: Manager, reason: str) -> float:
    value = mgr.metrics.registry.get_sample_value("irc_image_backup_failures_total", {"reason": reason})
    return value or 0.0


async def events_of(mgr: Manager, name: str, reason: str) -> list[Obj] | None:
    """The Events with `reason` about ImageBackup `name` (None if there are none, for `eventually`)."""
    events = await mgr.client.list("v1", "Event", "default")
    found = [e for e in events.items if e["involvedObject"]["name"] == name and e["reason"] == reason]
    return found or None


async def _true(condition: bool) -> bool | None:
    return True if condition else None


def raw_digest(registry: registries.Registry, reference: str) -> str:
    raw = procs.run(["skopeo", "inspect", "--raw", *registry.skopeo_flags(), f"docker://{reference}"])
    return f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


async def test_multiarch_backup_is_byte_exact_and_not_copied_twice(
    kube: cluster.Cluster,
    crds: None,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    built = source_images["testbed/oci-multiarch:1.0.0"]
    settings = settings_for(registry_bed)
    async with manager(kube, settings) as mgr:
        name = await create_backup(mgr, built.reference(registry_bed["source"]))
        obj = await wait_phase(mgr, name, "Completed", "Failed")
        status = obj["status"]
        assert status["phase"] == "Completed", status
        assert status["sourceDigest"] == status["targetDigest"] == built.digest
        assert sorted(status["platforms"]) == ["linux/amd64", "linux/arm64"]
        assert status["bytesTotal"] == status["bytesCopied"] == built.blob_bytes
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "Copied")
        assert status["target"].startswith(f"{registry_bed['backup'].host}/{settings.backup.prefix}/")  # type: ignore[union-attr]
        assert raw_digest(registry_bed["backup"], status["target"]) == built.digest
        sent = mgr.metrics.registry.get_sample_value("irc_image_backup_bytes_total")

        # Completed backups are re-checked (every 0.5 s here): nothing is copied or sent again. Wait
        # until it has been re-checked twice more, so it had the chance to.
        completed_at = rechecks(mgr)
        await eventually(
            lambda: _true(rechecks(mgr) >= completed_at + 2), what="the completed backup re-checked twice"
        )
        assert mgr.metrics.registry.get_sample_value("irc_image_backup_bytes_total") == sent
        events = await eventually(lambda: events_of(mgr, name, "Copied"), what="the Copied Event")
        assert sum(e.get("count") or 1 for e in events) == 1, events  # a repeat would count up
        assert await events_of(mgr, name, "Copying")


async def test_platform_filter_and_docker_media_types(
    kube: cluster.Cluster,
    crds: None,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    built = source_images["testbed/docker-multiarch:1.0.0"]
    async with manager(kube, settings_for(registry_bed)) as mgr:
        name = await create_backup(mgr, built.reference(registry_bed["source"]), platforms=["linux/arm64"])
        status = (await wait_phase(mgr, name, "Completed", "Failed"))["status"]
    assert status["phase"] == "Completed", status
    assert status["platforms"] == ["linux/arm64"]
    assert status["sourceDigest"] == built.digest


async def test_failures_carry_a_reason(
    kube: cluster.Cluster,
    crds: None,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    source = registry_bed["source"]
    async with manager(kube, settings_for(registry_bed, backup="backup-basic")) as mgr:
        missing = await create_backup(mgr, f"{source.host}/testbed/does-not-exist:1.0.0")
        no_credentials = await create_backup(mgr, source_images["testbed/oci-single:1.0.0"].reference(source))
        invalid = await create_backup(mgr, "UPPER/case:tag")
        expected = {missing: "SourceNotFound", no_credentials: "TargetUnauthorized", invalid: "InvalidSpec"}
        for name, reason in expected.items():
            status = (await wait_phase(mgr, name, "Failed"))["status"]
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert (ready["status"], ready["reason"]) == ("False", reason), status
            assert ready["message"]
        # Terminal: not retried until the spec changes. The retryable failures meanwhile are retried
        # (with a short per-item backoff), so the invalid one had the chance to be retried too.
        await eventually(
            lambda: _true(failures(mgr, "SourceNotFound") >= 3), what="the missing source retried"
        )
        assert failures(mgr, "InvalidSpec") == 1


async def test_progress_is_reported_while_copying(
    kube: cluster.Cluster, crds: None, registry_bed: registries.Registries, tmp_path: Path
) -> None:
    spec = images.Spec("testbed/progress", "1.0.0", layer_sizes=(30_000_000, 10_000_000, 1024))
    built = images.push((spec,), registry_bed["source"], tmp_path)["testbed/progress:1.0.0"]
    settings = settings_for(registry_bed)
    settings = Settings(
        backup=settings.backup, registries=settings.registries, progress_interval=0.05
    )  # no recheck
    seen: list[dict[str, Any]] = []
    async with manager(kube, settings) as mgr:
        name = await create_backup(mgr, built.reference(registry_bed["source"]))

        async def watch() -> None:
            async for event in mgr.client.watch(
                API_VERSION, "ImageBackup", field_selector=f"metadata.name={name}"
            ):
                seen.append(dict(event.object.get("status") or {}))
                if seen[-1].get("phase") in ("Completed", "Failed"):
                    return

        await asyncio.wait_for(watch(), 120)
    assert seen[-1]["phase"] == "Completed"
    partial = [
        s for s in seen if s.get("phase") == "Copying" and 0 < (s.get("bytesCopied") or 0) < built.blob_bytes
    ]
    assert partial, [(s.get("phase"), s.get("bytesCopied")) for s in seen]
    assert all(s["bytesTotal"] == built.blob_bytes for s in partial)


async def test_backups_no_workload_uses_expire(
    kube: cluster.Cluster,
    crds: None,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
) -> None:
    settings = settings_for(registry_bed)
    async with manager(kube, settings) as mgr:
        name = await create_backup(
            mgr, source_images["testbed/oci-single:1.0.0"].reference(registry_bed["source"])
        )
        await wait_phase(mgr, name, "Completed")
        await mgr.client.patch(
            API_VERSION,
            "ImageBackup",
            name,
            {"status": {"lastReferencedAt": "2026-01-01T00:00:00Z"}},
            subresource="status",
        )

        async def deleted() -> bool | None:
            try:
                await mgr.client.get(API_VERSION, "ImageBackup", name)
            except errors.NotFound:
                return True
            return None

        await eventually(deleted, what="the expired ImageBackup is deleted")
        events = await mgr.client.list("v1", "Event", "default")
        assert any(e["reason"] == "Expired" and e["involvedObject"]["name"] == name for e in events.items)
    # The copy itself stays in the backup registry.
    built = source_images["testbed/oci-single:1.0.0"]
    assert settings.backup is not None
    target = settings.backup.target(parse_reference(built.reference(registry_bed["source"])))
    assert raw_digest(registry_bed["backup"], str(target)) == built.digest


async def test_resync_copies_again_when_the_tag_moves(
    kube: cluster.Cluster, crds: None, registry_bed: registries.Registries, tmp_path: Path
) -> None:
    source = registry_bed["source"]
    first = images.push(
        (images.Spec("testbed/mutable", "1.0.0", layer_sizes=(1000,)),), source, tmp_path / "a"
    )
    old = first["testbed/mutable:1.0.0"]
    async with manager(kube, settings_for(registry_bed)) as mgr:
        name = await create_backup(mgr, old.reference(source), resyncInterval="1s")
        assert (await wait_phase(mgr, name, "Completed"))["status"]["sourceDigest"] == old.digest
        moved = images.push(
            (images.Spec("testbed/mutable", "1.0.0", layer_sizes=(2000,)),), source, tmp_path / "b"
        )
        new = moved["testbed/mutable:1.0.0"]
        assert new.digest != old.digest

        async def recopied() -> Obj | None:
            obj = await mgr.client.get(API_VERSION, "ImageBackup", name)
            status = obj.get("status") or {}
            return (
                obj
                if status.get("phase") == "Completed" and status.get("sourceDigest") == new.digest
                else None
            )

        status = (await eventually(recopied, what="the moved tag is copied again"))["status"]
        assert status["targetDigest"] == new.digest
        events = await mgr.client.list("v1", "Event", "default")
        assert any(
            e["reason"] == "SourceChanged" and e["involvedObject"]["name"] == name for e in events.items
        )
