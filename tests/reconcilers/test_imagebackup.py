"""The image-backup reconciler through reconcile(), against in-memory registries served on 127.0.0.1:
a first copy (status Copying → Completed with digests, bytes, layers and platforms; Events; metrics;
the recheck Result), progress written while copying, a completed backup left alone while the target
holds its digest, copied again when the target lost it (TargetMissing) or the source tag moved
(SourceChanged, resyncInterval), after a spec change, and deleted once no workload referenced it for
the retention period (Expired).

Failure reasons are in test_imagebackup_reasons.py, credentials (Secrets, ECR tokens) in
test_imagebackup_ecr.py; both build their worlds with the helpers here.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.conditions import get_condition, rfc3339
from irc.ecr.credentials import AwsClients, AwsCredentials
from irc.images import TargetNaming, parse_reference
from irc.images.auth import RegistryOptions, TokenError
from irc.images.registry import OCI_INDEX, OCI_MANIFEST
from irc.images.testing import FakeRegistry
from irc.reconcilers import imagebackup
from irc.reconcilers.imagebackup import REGISTRY_TIMEOUT, ImageBackupReconciler
from irc.reconcilers.settings import Settings
from irc.runtime import Obj, ReconcileError, Request, Result
from irc.runtime.testing import FAKE_EPOCH, FakeClient, FakeClock, FakeRecorder

KIND, NAME = "ImageBackup", "app"
HOUR = 3600.0
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
WRITES = ("PUT", "POST", "PATCH", "DELETE")


# ---- images in a FakeRegistry


@dataclass(frozen=True)
class Image:
    digest: str
    size: int
    """Bytes of its distinct blobs (configs and layers)."""
    blobs: int


def push(
    fake: FakeRegistry,
    repo: str = "team/app",
    tag: str | None = "v1",
    *,
    platform: str = "linux/amd64",
    layer: bytes = b"a layer",
    config: bytes | None = None,
) -> Image:
    """A single-manifest image of `platform` (its config says so unless `config` is given)."""
    os, arch = platform.split("/")[:2]
    config = config if config is not None else json.dumps({"os": os, "architecture": arch}).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": fake.add_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": fake.add_blob(repo, layer), "size": len(layer)}],
    }
    digest = fake.add_manifest(repo, json.dumps(doc).encode(), OCI_MANIFEST, tag)
    return Image(digest, len(config) + len(layer), 2)


def push_index(
    fake: FakeRegistry, repo: str = "team/app", tag: str = "v1", platforms: Sequence[str] = ("linux/amd64",)
) -> tuple[Image, dict[str, Image]]:
    """An index of one image per platform; the index and each child."""
    children = {p: push(fake, repo, None, platform=p, layer=f"layer of {p}".encode()) for p in platforms}
    entries = []
    for p, child in children.items():
        data = fake.repos[repo].manifests[child.digest][0]
        os, arch = p.split("/")
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": len(data),
                "platform": {"os": os, "architecture": arch},
            }
        )
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    digest = fake.add_manifest(repo, json.dumps(doc).encode(), OCI_INDEX, tag)
    total = Image(digest, sum(c.size for c in children.values()), sum(c.blobs for c in children.values()))
    return total, children


def registry_writes(fake: FakeRegistry) -> list[tuple[str, str, int]]:
    return [entry for entry in fake.log if entry[0] in WRITES]


class HoldingRegistry(FakeRegistry):
    """A FakeRegistry that holds requests of `hold` (method, path fragment) until `release` is set;
    `held` is set when one arrives."""

    def __init__(self, hold: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold = hold
        self.held, self.release = asyncio.Event(), asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == self.hold[0] and self.hold[1] in request.path:
            self.held.set()
            await self.release.wait()
        return await super().handle(request)


# ---- ImageBackup objects and Secrets


def backup(
    source: str,
    target: str | None = None,
    *,
    name: str = NAME,
    generation: int = 1,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> Obj:
    """An ImageBackup (cluster-scoped); `spec` takes the API's camelCase fields."""
    obj: Obj = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "generation": generation},
        "spec": {"source": source, **({"target": target} if target else {}), **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


def between(src: FakeRegistry, dst: FakeRegistry, **spec: Any) -> Obj:
    """The usual ImageBackup of these tests: src's team/app:v1 to dst's backup/app:v1."""
    return backup(f"{src.host}/team/app:v1", f"{dst.host}/backup/app:v1", **spec)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def pull_secret(name: str, namespace: str, auths: dict[str, tuple[str, str]]) -> Obj:
    """A kubernetes.io/dockerconfigjson Secret with basic credentials per registry host."""
    config = {
        "auths": {host: {"auth": b64(f"{user}:{password}")} for host, (user, password) in auths.items()}
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(json.dumps(config))},
    }


# ---- the world a reconciler runs in


class FakeAws(AwsClients):
    """AwsClients whose `authorization_token` (the ECR token source) answers `token`, valid until
    `expires_at`, or raises `error`; it records every call as (region, credentials, registry ids)."""

    def __init__(self, token: str = b64("AWS:pw"), expires_at: float = FAKE_EPOCH + 12 * HOUR) -> None:
        super().__init__()
        self.token, self.expires_at = token, expires_at
        self.error: TokenError | None = None
        self.calls: list[tuple[str, AwsCredentials | None, list[str]]] = []

    async def authorization_token(
        self, region: str, credentials: AwsCredentials | None, registry_ids: Sequence[str] = ()
    ) -> tuple[str, float]:
        self.calls.append((region, credentials, list(registry_ids)))
        if self.error is not None:
            raise self.error
        return self.token, self.expires_at


@dataclass
class World:
    """An ImageBackupReconciler over a FakeClient holding `objects`, reaching `registries` over plain
    HTTP through `session` (None: the reconciler's own), with everything a test asserts on."""

    objects: list[Obj]
    registries: Sequence[FakeRegistry]
    session: aiohttp.ClientSession | None
    settings: Settings = field(default_factory=Settings)
    aws: FakeAws = field(default_factory=FakeAws)
    clock: FakeClock = field(default_factory=FakeClock)
    recorder: FakeRecorder = field(default_factory=FakeRecorder)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    identity: str = "manager-a"

    def __post_init__(self) -> None:
        plain = {r.host: RegistryOptions(plain_http=True) for r in self.registries}
        self.settings = dataclasses.replace(self.settings, registries={**plain, **self.settings.registries})
        self.client = FakeClient(self.objects, clock=self.clock)
        self.reconciler = self.manager(self.identity, self.registry)

    def manager(self, identity: str, registry: CollectorRegistry) -> ImageBackupReconciler:
        """A reconciler of a manager named `identity` over this world's client, cache and clock."""
        return ImageBackupReconciler(
            client=self.client,
            reader=self.client.cache,
            recorder=self.recorder,
            clock=self.clock,
            metrics=imagebackup.Metrics.register(registry),
            settings=self.settings,
            aws=self.aws,
            identity=identity,
            session=self.session,
        )

    async def reconcile(self, name: str = NAME) -> Result | None:
        return await self.reconciler.reconcile(Request("", name))

    async def fail(self, name: str = NAME) -> ReconcileError:
        """Reconcile, expecting a ReconcileError (raised, so that the controller retries or not)."""
        with pytest.raises(ReconcileError) as raised:
            await self.reconcile(name)
        return raised.value

    def backup(self, name: str = NAME) -> Obj:
        return self.client.get_now(API_VERSION, KIND, name)

    def status(self, name: str = NAME) -> dict[str, Any]:
        status: dict[str, Any] = self.backup(name).get("status") or {}
        return status

    def ready(self, name: str = NAME) -> dict[str, Any]:
        return dict(get_condition(self.status(name), "Ready") or {})

    def status_writes(self) -> list[dict[str, Any]]:
        return [
            a.body["status"] for a in self.client.writes() if (a.verb, a.subresource) == ("patch", "status")
        ]

    def events(self) -> list[tuple[str, str]]:
        return [(e.type, e.reason) for e in self.recorder.events]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    async def edit(self, **spec: Any) -> None:
        """What `kubectl edit` does: change the spec, which moves metadata.generation."""
        await self.client.patch(API_VERSION, KIND, NAME, {"spec": spec})


Make = Callable[..., World]


@pytest.fixture
def make(src: FakeRegistry, dst: FakeRegistry, http: aiohttp.ClientSession) -> Make:
    """World(objects) with src and dst reachable over plain HTTP through the test's session."""

    def build(*objects: Obj, registries: Sequence[FakeRegistry] = (), **kwargs: Any) -> World:
        return World(list(objects), [src, dst, *registries], kwargs.pop("session", http), **kwargs)

    return build


def assert_copied(w: World, image: Image, *, attempts: int = 1, generation: int = 1) -> None:
    """Completed with `image`'s digest and sizes, Ready=True Copied, for `generation`."""
    status, ready = w.status(), w.ready()
    assert status["phase"] == "Completed"
    assert status["sourceDigest"] == status["targetDigest"] == image.digest
    assert status["bytesCopied"] == status["bytesTotal"] == image.size
    assert status["layersCopied"] == status["layers"] == image.blobs
    assert status["attempts"] == attempts
    assert status["observedGeneration"] == ready["observedGeneration"] == generation
    assert (ready["status"], ready["reason"]) == ("True", "Copied")


# ---- a first copy


async def test_a_new_backup_is_copied_and_completed(make: Make, src: FakeRegistry, dst: FakeRegistry) -> None:
    image = push(src)
    w = make(between(src, dst))
    assert await w.reconcile() == Result(requeue_after=HOUR)  # settings.recheck_interval

    now = rfc3339(w.clock.wall())
    status = w.status()
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "phase": "Completed",
        "observedGeneration": 1,
        "source": f"{src.host}/team/app:v1",
        "target": f"{dst.host}/backup/app:v1",
        "sourceDigest": image.digest,
        "targetDigest": image.digest,
        "mediaType": OCI_MANIFEST,
        "platforms": [],  # a single manifest copied without a filter
        "bytesTotal": image.size,
        "bytesCopied": image.size,
        "layers": 2,
        "layersCopied": 2,
        "startedAt": now,
        "completedAt": now,
        "attempts": 1,
    }
    message = f"copied in 0.0 s: {image.size} of {image.size} bytes sent (2 blobs sent, 0 present, 0 mounted)"
    assert status["conditions"] == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Copied",
            "message": message,
            "observedGeneration": 1,
            "lastTransitionTime": now,
        }
    ]
    assert dst.repos["backup/app"].tags == {"v1": image.digest}

    copying, completed = w.status_writes()  # two status writes, no progress write: time stood still
    assert copying["phase"] == "Copying" and copying["attempts"] == 1 and copying["startedAt"] == now
    assert get_condition(copying, "Ready") == {
        "type": "Ready",
        "status": "False",
        "reason": "Copying",
        "message": f"copying {src.host}/team/app:v1 to {dst.host}/backup/app:v1",
        "observedGeneration": 1,
        "lastTransitionTime": now,
    }
    assert completed["phase"] == "Completed"
    assert [(e.type, e.reason, e.message) for e in w.recorder.events] == [
        ("Normal", "Copying", f"copying {src.host}/team/app:v1 to {dst.host}/backup/app:v1"),
        ("Normal", "Copied", message),
    ]
    assert w.recorder.events[0].name == NAME and w.recorder.events[0].namespace is None
    assert w.metric("irc_image_backup_copies_total", result="success") == 1
    assert w.metric("irc_image_backup_copies_total", result="failure") == 0
    assert w.metric("irc_image_backup_bytes_total") == image.size
    assert w.metric("irc_image_backup_copy_duration_seconds_count") == 1
    assert w.aws.calls == []  # no ECR registry: AWS is never asked


async def test_an_index_is_copied_whole_with_its_platforms(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    index, _ = push_index(src, platforms=("linux/amd64", "linux/arm64"))
    w = make(between(src, dst))
    await w.reconcile()
    assert_copied(w, index)
    assert w.status()["platforms"] == ["linux/amd64", "linux/arm64"]
    assert w.status()["mediaType"] == OCI_INDEX


async def test_a_platform_filter_copies_only_those_platforms_under_a_new_index(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    index, children = push_index(src, platforms=("linux/amd64", "linux/arm64"))
    w = make(between(src, dst, platforms=["linux/arm64"]))
    await w.reconcile()
    status = w.status()
    assert status["phase"] == "Completed" and status["platforms"] == ["linux/arm64"]
    assert status["sourceDigest"] == index.digest != status["targetDigest"]  # the index was rewritten
    assert status["bytesTotal"] == children["linux/arm64"].size
    assert children["linux/amd64"].digest not in dst.repos["backup/app"].manifests
    assert dst.repos["backup/app"].tags["v1"] == status["targetDigest"]


async def test_a_single_image_of_the_wanted_platform_is_copied(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src, platform="linux/arm64")
    w = make(between(src, dst, platforms=["linux/arm64"]))
    await w.reconcile()
    assert_copied(w, image)
    assert w.status()["platforms"] == ["linux/arm64"]


async def test_without_a_target_the_backup_registry_names_it(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    naming = TargetNaming(dst.host, "mirror")
    w = make(backup(f"{src.host}/team/app:v1"), settings=Settings(backup=naming))
    await w.reconcile()
    target = naming.target(parse_reference(f"{src.host}/team/app:v1"))
    assert w.status()["target"] == str(target)
    assert dst.repos[target.repository].tags == {"v1": image.digest}


async def test_a_source_without_tag_or_digest_is_backed_up_as_latest(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src, tag="latest")
    w = make(backup(f"{src.host}/team/app", f"{dst.host}/backup/app:latest"))
    await w.reconcile()
    assert w.status()["source"] == f"{src.host}/team/app:latest"
    assert_copied(w, image)


async def test_progress_is_written_while_copying_when_it_changed(http: aiohttp.ClientSession) -> None:
    """Held at the manifest PUT, every blob is in: the progress write shows all of them."""
    src, dst = FakeRegistry(), HoldingRegistry(("PUT", "/manifests/"))
    for fake in (src, dst):
        await fake.server.start_server()
    try:
        image = push(src)
        w = World([between(src, dst)], [src, dst], http)
        copy = asyncio.create_task(w.reconcile())
        await dst.held.wait()
        await w.clock.wait_for_sleepers(1)  # the progress writer
        assert w.status()["phase"] == "Copying" and "bytesCopied" not in w.status()
        w.clock.advance(w.settings.progress_interval)
        await w.clock.wait_for_sleepers(1)  # it wrote, and sleeps again
        status = w.status()
        assert status["phase"] == "Copying"
        assert status["bytesCopied"] == status["bytesTotal"] == image.size
        assert status["layersCopied"] == status["layers"] == 2
        assert len(w.status_writes()) == 2
        w.clock.advance(w.settings.progress_interval)
        await w.clock.wait_for_sleepers(1)
        assert len(w.status_writes()) == 2  # nothing new to show: nothing written
        dst.release.set()
        assert await copy == Result(requeue_after=HOUR)
        assert_copied(w, image)
        assert len(w.status_writes()) == 3
        assert w.clock.sleepers == 0  # the progress writer stopped with the copy
    finally:
        dst.release.set()
        for fake in (src, dst):
            await fake.server.close()


def test_registry_requests_have_no_overall_time_limit() -> None:
    """The reconciler's own session (when none is given) uses REGISTRY_TIMEOUT: a blob may stream for
    longer than aiohttp's default 300 s total, but a connection that cannot open or stalls fails."""
    assert REGISTRY_TIMEOUT.total is None
    assert REGISTRY_TIMEOUT.sock_read is not None and 0 < REGISTRY_TIMEOUT.sock_read <= 300
    assert REGISTRY_TIMEOUT.sock_connect is not None and 0 < REGISTRY_TIMEOUT.sock_connect <= 60


async def test_without_a_session_the_reconciler_keeps_its_own_until_closed(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst), session=None)
    await w.reconcile()
    assert await w.reconcile() == Result(requeue_after=HOUR)  # checked through the same session
    await w.reconciler.close()  # an unclosed session would fail the test with a ResourceWarning
    await w.edit(target=f"{dst.host}/elsewhere/app:v1")
    await w.reconcile()  # after close(), a new one
    await w.reconciler.close()
    assert_copied(w, image, attempts=2, generation=2)


# ---- a completed backup


async def test_a_completed_backup_whose_target_holds_the_digest_is_not_copied_again(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst))
    await w.reconcile()
    before, dst_before, src_before = len(w.client.writes()), len(dst.log), len(src.log)

    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert len(w.client.writes()) == before  # no status write
    assert dst.log[dst_before:] == [  # nothing written: a ping and a HEAD of the digest
        ("GET", "/v2/", 200),
        ("HEAD", f"/v2/backup/app/manifests/{image.digest}", 200),
    ]
    assert len(src.log) == src_before  # without resyncInterval the source is not asked
    assert w.events() == [("Normal", "Copying"), ("Normal", "Copied")]
    assert w.metric("irc_image_backup_copies_total", result="success") == 1
    assert_copied(w, image)


async def test_a_completed_backup_given_as_status_is_only_checked(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """A manager restart: the status written before is all there is."""
    image = push(dst, "backup/app")
    status = {
        "phase": "Completed",
        "observedGeneration": 1,
        "target": f"{dst.host}/backup/app:v1",
        "targetDigest": image.digest,
    }
    w = make(between(src, dst, status=status))
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert registry_writes(dst) == [] and src.log == []
    assert w.client.writes() == [] and w.events() == []


async def test_a_completed_backup_to_another_target_is_copied_to_the_new_one(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """The manager's backup naming changed (same generation, another derived target)."""
    image = push(src)
    old = push(dst, "old/app", layer=b"an older layer")
    status = {
        "phase": "Completed",
        "observedGeneration": 1,
        "target": f"{dst.host}/old/app:v1",
        "targetDigest": old.digest,
    }
    w = make(between(src, dst, status=status))
    await w.reconcile()
    assert_copied(w, image)
    assert w.status()["target"] == f"{dst.host}/backup/app:v1"
    assert dst.repos["backup/app"].tags == {"v1": image.digest}
    assert w.events() == [("Normal", "Copying"), ("Normal", "Copied")]  # not a TargetMissing


async def test_a_target_that_lost_the_digest_is_copied_again(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst))
    await w.reconcile()
    del dst.repos["backup/app"]  # someone cleaned up the backup registry
    w.recorder.events.clear()

    assert await w.reconcile() == Result(requeue_after=HOUR)
    first = w.recorder.events[0]
    assert (first.type, first.reason, first.message) == (
        "Warning",
        "TargetMissing",
        f"{dst.host}/backup/app:v1 is gone from the backup registry",
    )
    assert w.events()[1:] == [("Normal", "Copying"), ("Normal", "Copied")]
    assert_copied(w, image, attempts=2)
    assert dst.repos["backup/app"].tags == {"v1": image.digest}


async def test_a_spec_change_copies_again_for_the_new_generation(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst))
    await w.reconcile()
    await w.edit(target=f"{dst.host}/elsewhere/app:v1")
    await w.reconcile()
    assert_copied(w, image, attempts=2, generation=2)
    assert w.status()["target"] == f"{dst.host}/elsewhere/app:v1"
    assert dst.repos["elsewhere/app"].tags == {"v1": image.digest}


async def test_a_spec_change_keeping_the_target_copies_again(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """The target still holds the digest of the last copy, but that was a copy of another spec."""
    index, children = push_index(src, platforms=("linux/amd64", "linux/arm64"))
    w = make(between(src, dst))
    await w.reconcile()
    await w.edit(platforms=["linux/arm64"])
    await w.reconcile()
    status = w.status()
    assert (status["observedGeneration"], status["attempts"]) == (2, 2)
    assert status["platforms"] == ["linux/arm64"] and status["bytesTotal"] == children["linux/arm64"].size
    assert dst.repos["backup/app"].tags["v1"] == status["targetDigest"] != index.digest


async def test_with_resync_an_unmoved_tag_is_not_copied_and_the_recheck_is_sooner(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst, resyncInterval="30m"))
    assert await w.reconcile() == Result(requeue_after=1800)
    src_before = len(src.log)
    assert await w.reconcile() == Result(requeue_after=1800)
    assert src.log[src_before:] == [("GET", "/v2/", 200), ("HEAD", "/v2/team/app/manifests/v1", 200)]
    assert w.metric("irc_image_backup_copies_total", result="success") == 1
    assert_copied(w, image)


async def test_a_resync_longer_than_the_recheck_interval_rechecks_at_the_interval(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst, resyncInterval="24h"), settings=Settings(recheck_interval=600))
    assert await w.reconcile() == Result(requeue_after=600)


async def test_with_resync_a_moved_tag_is_copied_again(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst, resyncInterval="30m"))
    await w.reconcile()
    moved = push(src, layer=b"a new layer")
    w.recorder.events.clear()

    assert await w.reconcile() == Result(requeue_after=1800)
    assert [(e.type, e.reason, e.message) for e in w.recorder.events] == [
        ("Normal", "SourceChanged", f"{src.host}/team/app:v1 now points at {moved.digest}"),
        ("Normal", "Copying", f"copying {src.host}/team/app:v1 to {dst.host}/backup/app:v1"),
        ("Normal", "Copied", w.ready()["message"]),
    ]
    assert_copied(w, moved, attempts=2)
    assert dst.repos["backup/app"].tags == {"v1": moved.digest}


async def test_a_source_pinned_by_digest_is_never_resynced(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(backup(f"{src.host}/team/app@{image.digest}", f"{dst.host}/backup/app:v1", resyncInterval="30m"))
    await w.reconcile()
    src_before = len(src.log)
    assert await w.reconcile() == Result(requeue_after=1800)
    assert len(src.log) == src_before
    assert_copied(w, image)


# ---- retention and deletion


def referenced(seconds_ago: float, clock: FakeClock | None = None) -> str:
    return rfc3339((clock or FakeClock()).wall() - seconds_ago)


async def test_a_backup_unreferenced_past_the_retention_is_deleted(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    last = referenced(7 * 86400 + 1)
    w = make(between(src, dst, status={"lastReferencedAt": last}))
    assert await w.reconcile() is None
    assert w.client.objects(API_VERSION, KIND) == []
    assert [(e.type, e.reason, e.message) for e in w.recorder.events] == [
        ("Normal", "Expired", f"no workload has used this image since {last}")
    ]
    assert [(a.verb, a.kind, a.name) for a in w.client.writes()] == [("delete", KIND, NAME)]
    assert src.log == [] and dst.log == []  # registry content is never deleted
    assert w.metric("irc_image_backup_copies_total", result="success") == 0


async def test_a_backup_referenced_within_the_retention_is_kept_and_copied(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    last = referenced(HOUR)
    w = make(
        between(src, dst, status={"lastReferencedAt": last}), settings=Settings(backup_retention=2 * HOUR)
    )
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert_copied(w, image)
    assert w.status()["lastReferencedAt"] == last
    w.clock.advance(HOUR)  # now two hours since the last reference
    assert await w.reconcile() is None
    assert w.client.objects(API_VERSION, KIND) == []
    assert w.events()[-1] == ("Normal", "Expired")


async def test_a_backup_without_last_referenced_at_is_never_expired(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    image = push(src)
    w = make(between(src, dst))
    await w.reconcile()
    w.clock.advance(365 * 86400)
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert_copied(w, image)


async def test_a_backup_being_deleted_or_gone_is_left_alone(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    deleting = between(src, dst)
    deleting["metadata"] |= {"deletionTimestamp": rfc3339(FAKE_EPOCH), "finalizers": ["example.com/hold"]}
    w = make(deleting)
    assert await w.reconcile() is None
    assert await w.reconcile("missing") is None
    assert w.client.writes() == [] and w.events() == [] and src.log == [] and dst.log == []


async def test_a_last_referenced_at_written_during_a_copy_is_kept(http: aiohttp.ClientSession) -> None:
    src, dst = FakeRegistry(), HoldingRegistry(("PUT", "/manifests/"))
    for fake in (src, dst):
        await fake.server.start_server()
    try:
        push(src)
        w = World([between(src, dst, status={"lastReferencedAt": referenced(6 * 86400)})], [src, dst], http)
        copy = asyncio.create_task(w.reconcile())
        await dst.held.wait()
        fresh = referenced(0)  # workload-rewrite, meanwhile
        await w.client.patch(
            API_VERSION, KIND, NAME, {"status": {"lastReferencedAt": fresh}}, subresource="status"
        )
        dst.release.set()
        await copy
        assert w.status()["phase"] == "Completed"
        assert w.status()["lastReferencedAt"] == fresh
    finally:
        dst.release.set()
        for fake in (src, dst):
            await fake.server.close()
