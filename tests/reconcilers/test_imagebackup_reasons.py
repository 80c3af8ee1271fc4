"""The image-backup reconciler's failure reasons name the registry that failed (a 404 or 401/403
of the target is not the source's), malformed source content fails with a reason instead of
leaving the status at Copying, and registry requests have no overall time limit."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from irc.api.imagebackup import ImageBackupSpec
from irc.images import parse_reference
from irc.images.errors import (
    BlobUnknown,
    Denied,
    DigestMismatch,
    ManifestUnknown,
    NotFound,
    RateLimited,
    Unauthorized,
)
from irc.images.registry import OCI_MANIFEST
from irc.images.testing import FakeRegistry, Fault, sha
from irc.reconcilers.imagebackup import ImageBackupReconciler, _Failure, _reason
from irc.reconcilers.settings import Settings
from irc.runtime.client import Client
from irc.runtime.manager import Manager, ManagerOptions
from irc.runtime.testing import FakeClock
from irc.runtime.transport import MockTransport, Request, Response

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OBJ: dict[str, Any] = {
    "apiVersion": "automation.gitops.io/v1beta1",
    "kind": "ImageBackup",
    "metadata": {"name": "app", "generation": 1, "resourceVersion": "1"},
}


@pytest.mark.parametrize(
    ("error", "side", "reason"),
    [
        (ManifestUnknown("404"), "Source", "SourceNotFound"),
        (BlobUnknown("404"), "Source", "SourceNotFound"),
        (NotFound("404 NAME_UNKNOWN", status=404), "Target", "TargetNotFound"),
        (Unauthorized("401", status=401), "Source", "SourceUnauthorized"),
        (Denied("403", status=403), "Source", "SourceUnauthorized"),
        (Unauthorized("401", status=401), "Target", "TargetUnauthorized"),
        (Denied("403", status=403), "Target", "TargetUnauthorized"),
        (RateLimited("429"), "Target", "RateLimited"),
        (aiohttp.ClientConnectionError(), "Source", "NetworkError"),
        (TimeoutError(), "Target", "NetworkError"),
        (DigestMismatch("bad"), "Source", "RegistryError"),
    ],
)
def test_reason_names_the_failing_side(error: BaseException, side: str, reason: str) -> None:
    assert _reason(error, side) == reason


async def _no_api(request: Request) -> Response:
    raise AssertionError(f"unexpected API request {request.method} {request.path}")


@pytest.fixture
def reconciler(monkeypatch: pytest.MonkeyPatch) -> ImageBackupReconciler:
    clock = FakeClock()
    mgr = Manager(Client(MockTransport(_no_api), clock=clock), ManagerOptions(), clock=clock)
    reconciler = ImageBackupReconciler(mgr, Settings())
    writes: list[dict[str, Any]] = []

    async def write(obj: dict[str, Any], status: dict[str, Any]) -> None:
        writes.append(json.loads(json.dumps(status)))

    monkeypatch.setattr(reconciler, "_write", write)
    return reconciler


def image(fake: FakeRegistry, config: bytes | None = None) -> str:
    """A single-manifest image tagged v1 in team/app; its digest."""
    config = config if config is not None else json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    layer = b"a layer"
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": fake.add_blob("team/app", config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": fake.add_blob("team/app", layer), "size": len(layer)}],
    }
    return fake.add_manifest("team/app", json.dumps(doc).encode(), OCI_MANIFEST, "v1")


async def copy(
    reconciler: ImageBackupReconciler,
    http: aiohttp.ClientSession,
    src: FakeRegistry,
    dst: FakeRegistry,
    platforms: frozenset[str] = frozenset(),
) -> None:
    source = parse_reference(f"{src.host}/team/app:v1")
    target = parse_reference(f"{dst.host}/backup/app:v1")
    spec = ImageBackupSpec(str(source), str(target), platforms, (), None, None)
    status: dict[str, Any] = {}
    await reconciler._copy(OBJ, status, 1, spec, source, target, src.client(http), dst.client(http))


@pytest.mark.parametrize(
    ("side", "fault", "reason"),
    [
        ("Source", Fault("GET", "/blobs/sha256:", 401), "SourceUnauthorized"),  # after the preflight
        ("Source", Fault("GET", "/blobs/sha256:", 403), "SourceUnauthorized"),
        ("Target", Fault("POST", "/blobs/uploads/", 404), "TargetNotFound"),  # ECR: NAME_UNKNOWN
        ("Target", Fault("PUT", "/manifests/", 403), "TargetUnauthorized"),
    ],
)
async def test_copy_failures_name_the_registry_that_failed(
    reconciler: ImageBackupReconciler,
    http: aiohttp.ClientSession,
    src: FakeRegistry,
    dst: FakeRegistry,
    side: str,
    fault: Fault,
    reason: str,
) -> None:
    image(src)
    (src if side == "Source" else dst).faults.append(fault)
    with pytest.raises(_Failure) as raised:
        await copy(reconciler, http, src, dst)
    assert raised.value.reason == reason


@pytest.mark.parametrize("config", [b"{not json", b'"a string"'])
async def test_a_malformed_config_fails_with_a_reason(
    reconciler: ImageBackupReconciler,
    http: aiohttp.ClientSession,
    src: FakeRegistry,
    dst: FakeRegistry,
    config: bytes,
) -> None:
    image(src, config)
    with pytest.raises(_Failure) as raised:
        await copy(reconciler, http, src, dst, frozenset({"linux/amd64"}))
    assert raised.value.reason == "UnsupportedManifest"


async def test_a_malformed_index_platform_fails_with_a_reason(
    reconciler: ImageBackupReconciler, http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    child = src.repos["team/app"].manifests[image(src)][0]
    entry = {"mediaType": OCI_MANIFEST, "digest": sha(child), "size": len(child), "platform": "linux/amd64"}
    index = json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()
    src.add_manifest("team/app", index, "application/vnd.oci.image.index.v1+json", "v1")
    with pytest.raises(_Failure) as raised:
        await copy(reconciler, http, src, dst)
    assert raised.value.reason == "UnsupportedManifest"


async def test_checking_a_completed_backup_blames_the_source_for_its_errors(
    reconciler: ImageBackupReconciler, http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    digest = image(src)
    await copy(reconciler, http, src, dst)
    source = parse_reference(f"{src.host}/team/app:v1")
    target = parse_reference(f"{dst.host}/backup/app:v1")
    status = {"phase": "Completed", "observedGeneration": 1, "target": str(target), "targetDigest": digest}
    src.faults.append(Fault("HEAD", "/manifests/v1", 401))
    with pytest.raises(_Failure) as raised:
        await reconciler._up_to_date(OBJ, status, 1, source, target, src.client(http), dst.client(http), 60)
    assert raised.value.reason == "SourceUnauthorized"
    dst.faults.append(Fault("HEAD", "/manifests/", 403))
    with pytest.raises(_Failure) as raised:
        await reconciler._up_to_date(OBJ, status, 1, source, target, src.client(http), dst.client(http), 60)
    assert raised.value.reason == "TargetUnauthorized"


async def test_registry_requests_have_no_overall_time_limit(reconciler: ImageBackupReconciler) -> None:
    source, target = parse_reference("example.com/team/app:v1"), parse_reference("backup.example/app:v1")
    spec = ImageBackupSpec(str(source), str(target), frozenset(), (), None, None)
    async with reconciler._registries(spec, source, target) as (src, dst):
        for registry in (src, dst):
            timeout = registry._session.timeout
            assert timeout.total is None  # a blob may stream for longer than aiohttp's default 300 s
            assert timeout.sock_read is not None and 0 < timeout.sock_read <= 300  # a stall still fails
            assert timeout.sock_connect is not None and 0 < timeout.sock_connect <= 60
