"""The image-backup reconciler's failure reasons through reconcile(): each reason of the table, met
in the registries (injected Faults, a TLS handshake that fails) or in the spec, is raised as a
ReconcileError (terminal for InvalidSpec, NoMatchingPlatform and UnsupportedManifest: retrying
cannot help until the spec changes; retried otherwise) and shows as phase Failed with Ready=False,
a Warning Event and the failure metrics. The reason names the registry that failed: a 404 or
401/403 of the target is not the source's. Credentials reasons are in test_imagebackup_ecr.py.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from irc.images.registry import OCI_INDEX, OCI_MANIFEST
from irc.images.testing import FakeRegistry, Fault
from irc.reconcilers.settings import Settings
from irc.runtime import ReconcileError
from tests.reconcilers.test_imagebackup import Make, World, between, push, push_index, registry_writes
from tests.reconcilers.test_imagebackup import make as make  # the fixture

TERMINAL = ("InvalidSpec", "NoMatchingPlatform", "UnsupportedManifest")
SLOW_DOWN = {"Retry-After": "0"}  # RateLimited without waiting for the retries
ALWAYS = 1000


def assert_failed(w: World, error: ReconcileError, reason: str, *, generation: int = 1) -> None:
    """`error` is `reason`'s, terminal or not as the table says, and shows in status, Event, metrics."""
    assert (error.reason, error.terminal) == (reason, reason in TERMINAL)
    status, ready = w.status(), w.ready()
    assert status["phase"] == "Failed"
    assert status["observedGeneration"] == generation
    assert ready == {
        "type": "Ready",
        "status": "False",
        "reason": reason,
        "message": error.message,
        "observedGeneration": generation,
        "lastTransitionTime": ready["lastTransitionTime"],
    }
    assert error.message
    warning = w.recorder.events[-1]
    assert (warning.type, warning.reason, warning.message) == ("Warning", reason, error.message)
    assert w.metric("irc_image_backup_failures_total", reason=reason) == 1
    assert w.metric("irc_image_backup_copies_total", result="failure") == 1
    assert w.metric("irc_image_backup_copies_total", result="success") == 0


# ---- registries refusing or failing, by side


@pytest.mark.parametrize(
    ("side", "fault", "reason", "prefix"),
    [
        # the preflight HEAD of the source, before the status says Copying
        (
            "src",
            Fault("HEAD", "/manifests/v1", 401),
            "SourceUnauthorized",
            "source registry {src}: Unauthorized: 401",
        ),
        (
            "src",
            Fault("HEAD", "/manifests/v1", 403),
            "SourceUnauthorized",
            "source registry {src}: Denied: 403",
        ),
        (
            "src",
            Fault("HEAD", "/manifests/v1", 429, SLOW_DOWN, ALWAYS),
            "RateLimited",
            "source registry {src}: RateLimited: 429",
        ),
        (
            "src",
            Fault("HEAD", "/manifests/v1", 400),
            "RegistryError",
            "source registry {src}: RegistryError: 400",
        ),
        # the copy
        (
            "src",
            Fault("GET", "/manifests/v1", 404),
            "SourceNotFound",
            "source registry {src}: ManifestUnknown",
        ),
        ("src", Fault("GET", "/blobs/sha256:", 404), "SourceNotFound", "source registry {src}: BlobUnknown"),
        (
            "src",
            Fault("GET", "/blobs/sha256:", 401),
            "SourceUnauthorized",
            "source registry {src}: Unauthorized",
        ),
        ("src", Fault("GET", "/blobs/sha256:", 403), "SourceUnauthorized", "source registry {src}: Denied"),
        (
            "src",
            Fault("GET", "/manifests/v1", 429, SLOW_DOWN, ALWAYS),
            "RateLimited",
            "source registry {src}: RateLimited",
        ),
        ("src", Fault("GET", "/manifests/v1", 400), "RegistryError", "source registry {src}: RegistryError"),
        # ECR's NAME_UNKNOWN for a repository not created yet (the error class says ManifestUnknown)
        ("dst", Fault("POST", "/blobs/uploads/", 404), "TargetNotFound", "target registry {dst}: "),
        (
            "dst",
            Fault("HEAD", "/manifests/", 401),
            "TargetUnauthorized",
            "target registry {dst}: Unauthorized",
        ),
        ("dst", Fault("PUT", "/manifests/", 403), "TargetUnauthorized", "target registry {dst}: Denied"),
        (
            "dst",
            Fault("PUT", "/manifests/", 429, SLOW_DOWN, ALWAYS),
            "RateLimited",
            "target registry {dst}: RateLimited",
        ),
        ("dst", Fault("PUT", "/manifests/", 400), "RegistryError", "target registry {dst}: RegistryError"),
    ],
)
async def test_registry_failures_name_the_registry_that_failed(
    make: Make, src: FakeRegistry, dst: FakeRegistry, side: str, fault: Fault, reason: str, prefix: str
) -> None:
    push(src)
    (src if side == "src" else dst).faults.append(fault)
    w = make(between(src, dst))
    error = await w.fail()
    assert_failed(w, error, reason)
    assert error.message.startswith(prefix.format(src=src.host, dst=dst.host)), error.message
    copying = not (side == "src" and fault.method == "HEAD")  # else the preflight failed
    assert w.status().get("attempts") == (1 if copying else None)
    assert [r for _, r in w.events()] == (["Copying", reason] if copying else [reason])
    assert dst.repos["backup/app"].tags == {}  # nothing is tagged by a failed copy


async def test_a_missing_source_tag_is_source_not_found(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    w = make(between(src, dst))
    error = await w.fail()
    assert_failed(w, error, "SourceNotFound")
    assert error.message == f"{src.host}/team/app:v1 does not exist"
    assert registry_writes(dst) == [] and dst.log == []


async def test_a_corrupt_source_manifest_is_a_registry_error(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    src.corrupt.add(push(src).digest)
    w = make(between(src, dst))
    error = await w.fail()
    assert_failed(w, error, "RegistryError")
    assert error.message.startswith(f"source registry {src.host}: DigestMismatch")


@pytest.mark.parametrize("side", ["src", "dst"])
async def test_a_failed_tls_handshake_is_a_network_error(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry, side: str
) -> None:
    """A registry spoken to over HTTPS that answers plain HTTP: a connection-level failure (one that
    is not retried inside the registry client, so the test does not wait out its backoff)."""
    push(src)
    w = World([between(src, dst)], [dst] if side == "src" else [src], http)  # the other is HTTPS
    error = await w.fail()
    assert_failed(w, error, "NetworkError")
    assert "SSL" in error.message
    if side == "dst":
        assert error.message.startswith(f"target registry {dst.host}: ")


async def test_a_retried_failure_then_succeeds(make: Make, src: FakeRegistry, dst: FakeRegistry) -> None:
    image = push(src)
    src.faults.append(Fault("GET", "/blobs/sha256:", 401))
    w = make(between(src, dst))
    assert not (await w.fail()).terminal
    await w.reconcile()  # what the controller's backoff leads to
    status = w.status()
    assert status["phase"] == "Completed" and status["attempts"] == 2
    assert status["sourceDigest"] == image.digest
    assert (w.ready()["status"], w.ready()["reason"]) == ("True", "Copied")
    assert w.metric("irc_image_backup_copies_total", result="success") == 1
    assert w.metric("irc_image_backup_copies_total", result="failure") == 1


# ---- checking a completed backup


async def test_checking_a_completed_backup_blames_the_target_for_its_errors(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst))
    await w.reconcile()
    dst.faults.append(Fault("HEAD", "/manifests/sha256:", 403))
    error = await w.fail()
    assert (error.reason, error.terminal) == ("TargetUnauthorized", False)
    assert error.message.startswith(f"checking the backup in {dst.host}: Denied: 403")
    assert w.status()["phase"] == "Failed" and w.ready()["reason"] == "TargetUnauthorized"


async def test_checking_a_resynced_backup_blames_the_source_for_its_errors(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst, resyncInterval="1h"))
    await w.reconcile()
    written = len(registry_writes(dst))
    src.faults.append(Fault("HEAD", "/manifests/v1", 401))
    await w.reconcile()  # a Warning that names the source; the backup stays usable
    assert w.recorder.events[-1].reason == "SourceUnauthorized"
    assert w.recorder.events[-1].message.startswith("cannot check 127.0.0.1")
    assert len(registry_writes(dst)) == written
    assert w.status()["phase"] == "Completed"


async def test_a_source_outage_during_a_resync_check_leaves_the_backup_completed(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """The copy is whole and in place: workloads run it precisely when the source is gone."""
    push(src)
    w = make(between(src, dst, resyncInterval="1h"))
    await w.reconcile()
    src.faults.append(Fault("HEAD", "/manifests/v1", 403))
    result = await w.reconcile()
    assert result is not None and result.requeue_after == 3600
    assert w.status()["phase"] == "Completed"
    assert w.events()[-1] == ("Warning", "SourceUnauthorized")


# ---- terminal: the spec or the source content


@pytest.mark.parametrize(
    ("spec", "settings", "message"),
    [
        ({"source": "Not A Reference"}, Settings(), "'Not A Reference': contains whitespace"),
        (
            {"target": "127.0.0.1:1/UPPER/case:v1"},
            Settings(),
            "repository path 'UPPER/case' must be lowercase",
        ),
        ({"target": None}, Settings(), "spec.target is empty and the manager has no --backup-registry"),
        ({"resyncInterval": "soon"}, Settings(), "invalid duration 'soon'"),
    ],
    ids=["source", "target", "no-target", "resync"],
)
async def test_an_invalid_spec_is_terminal_and_touches_no_registry(
    make: Make, src: FakeRegistry, dst: FakeRegistry, spec: dict[str, Any], settings: Settings, message: str
) -> None:
    obj = between(src, dst)
    obj["spec"] = {k: v for k, v in (obj["spec"] | spec).items() if v is not None}
    w = make(obj, settings=settings)
    error = await w.fail()
    assert_failed(w, error, "InvalidSpec")
    assert message in error.message
    assert src.log == [] and dst.log == []


async def test_a_terminal_failure_is_retried_once_the_spec_changes(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst, platforms=["linux/s390x"]))
    error = await w.fail()
    assert_failed(w, error, "NoMatchingPlatform")
    assert "linux/s390x" in error.message
    await w.edit(platforms=["linux/amd64"])
    await w.reconcile()
    assert w.status()["phase"] == "Completed" and w.status()["observedGeneration"] == 2
    assert w.ready()["observedGeneration"] == 2 and w.ready()["reason"] == "Copied"


async def test_no_matching_platform_in_an_index_is_terminal(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push_index(src, platforms=("linux/amd64", "linux/arm64"))
    w = make(between(src, dst, platforms=["windows/amd64"]))
    assert_failed(w, await w.fail(), "NoMatchingPlatform")
    assert registry_writes(dst) == []


@pytest.mark.parametrize("config", [b"{not json", b'"a string"'])
async def test_a_malformed_config_is_unsupported(
    make: Make, src: FakeRegistry, dst: FakeRegistry, config: bytes
) -> None:
    push(src, config=config)
    w = make(between(src, dst, platforms=["linux/amd64"]))  # the filter reads the config
    assert_failed(w, await w.fail(), "UnsupportedManifest")


async def test_a_malformed_index_platform_is_unsupported(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    child = push(src, tag=None)
    data = src.repos["team/app"].manifests[child.digest][0]
    entry = {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": len(data), "platform": "linux/amd64"}
    src.add_manifest(
        "team/app", json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode(), OCI_INDEX, "v1"
    )
    w = make(between(src, dst))
    assert_failed(w, await w.fail(), "UnsupportedManifest")


async def test_a_schema1_manifest_is_unsupported(make: Make, src: FakeRegistry, dst: FakeRegistry) -> None:
    layer = src.add_blob("team/app", b"a layer")
    doc = {"schemaVersion": 1, "name": "team/app", "tag": "v1", "fsLayers": [{"blobSum": layer}]}
    src.add_manifest(
        "team/app",
        json.dumps(doc).encode(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "v1",
    )
    w = make(between(src, dst))
    error = await w.fail()
    assert_failed(w, error, "UnsupportedManifest")
    assert registry_writes(dst) == []
