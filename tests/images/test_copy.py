"""copy_image between in-memory fake registries: byte-exact copies of indexes and manifests, the
order of writes (blobs before their manifest, children before the index, the tag last), skip and
mount decisions, the platform filter, foreign layers, artifacts, failures that leave no dangling
manifest, and progress."""

from __future__ import annotations

import json

import aiohttp
import pytest

from irc.images.copy import (
    BlobLocationCache,
    NoMatchingPlatform,
    Progress,
    UnsupportedManifest,
    copy_image,
    failed_side,
)
from irc.images.errors import BlobUnknown, Denied, NotFound, RegistryError, Unauthorized
from irc.images.registry import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST
from irc.images.testing import FakeRegistry, Fault, sha

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def manifest_of(
    fake: FakeRegistry,
    repo: str,
    platform: str,
    layers: list[bytes],
    *,
    docker: bool = False,
    tag: str | None = None,
    extra_layers: list[dict[str, object]] | None = None,
) -> tuple[str, bytes]:
    os_, arch = platform.split("/")[:2]
    config = json.dumps({"os": os_, "architecture": arch, "rootfs": {"diff_ids": []}}).encode()
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": fake.add_blob(repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                "digest": fake.add_blob(repo, data),
                "size": len(data),
            }
            for data in layers
        ]
        + (extra_layers or []),
    }
    data = json.dumps(doc, indent=3).encode()  # odd formatting: a re-serialised copy would not match
    return fake.add_manifest(repo, data, str(doc["mediaType"]), tag), data


def index_of(
    fake: FakeRegistry,
    repo: str,
    children: dict[str, bytes],
    *,
    docker: bool = False,
    tag: str = "1.0",
    extra: list[dict[str, object]] | None = None,
) -> tuple[str, bytes]:
    entries: list[dict[str, object]] = []
    for platform, data in children.items():
        os_, arch, *variant = platform.split("/")
        entry_platform = {"os": os_, "architecture": arch} | ({"variant": variant[0]} if variant else {})
        entries.append(
            {
                "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                "digest": sha(data),
                "size": len(data),
                "platform": entry_platform,
            }
        )
    media_type = DOCKER_LIST if docker else OCI_INDEX
    data = json.dumps(
        {"schemaVersion": 2, "mediaType": media_type, "manifests": entries + (extra or [])}
    ).encode()
    return fake.add_manifest(repo, data, media_type, tag), data


def multiarch(
    fake: FakeRegistry, repo: str = "team/app", *, docker: bool = False
) -> tuple[str, dict[str, bytes]]:
    children = {
        "linux/amd64": manifest_of(fake, repo, "linux/amd64", [b"base layer", b"amd64 layer"], docker=docker)[
            1
        ],
        "linux/arm64/v8": manifest_of(
            fake, repo, "linux/arm64", [b"base layer", b"arm64 layer"], docker=docker
        )[1],
    }
    digest, _ = index_of(fake, repo, children, docker=docker)
    return digest, children


def assert_write_order(fake: FakeRegistry, repo: str) -> None:
    """No manifest was written before everything it names: the fake refuses (and records) any
    manifest PUT whose blobs or child manifests are missing; an index comes after its children."""
    assert fake.rejected == []
    order = [ref for kind, where, ref in fake.events if where == repo and kind == "manifest"]
    for position, ref in enumerate(order):
        data, _ = fake.repos[repo].manifests[fake.repos[repo].tags.get(ref, ref)]
        children = {m["digest"] for m in json.loads(data).get("manifests", [])}
        assert not children & set(order[position:]), f"{ref} written before its children"


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
async def test_multiarch_copy_is_byte_exact_and_ordered(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry, docker: bool
) -> None:
    digest, children = multiarch(src, docker=docker)
    seen: list[Progress] = []
    result = await copy_image(
        src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "1.0", progress=seen.append
    )
    assert result.source_digest == result.target_digest == digest
    assert result.media_type == (DOCKER_LIST if docker else OCI_INDEX)
    assert result.platforms == ("linux/amd64", "linux/arm64/v8")
    backup = dst.repos["backup/app"]
    assert backup.tags == {"1.0": digest}
    assert backup.manifests[digest][0] == src.repos["team/app"].manifests[digest][0]
    for data in children.values():
        assert backup.manifests[sha(data)][0] == data
    # two configs, one shared base layer, two platform layers: five distinct blobs
    assert (result.blobs_copied, result.blobs_skipped, result.blobs_mounted) == (5, 0, 0)
    assert result.bytes_copied == result.bytes_total == sum(len(b) for b in backup.blobs.values())
    assert result.manifests_written == 3
    assert_write_order(dst, "backup/app")
    assert dst.events[-1] == ("manifest", "backup/app", "1.0")  # the tag is the very last write
    assert seen[-1] == Progress(result.bytes_total, result.bytes_total, 5, 5)
    assert all(p.bytes_done <= p.bytes_total for p in seen)


async def test_single_manifest_without_tag_is_stored_by_digest(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    digest, data = manifest_of(src, "team/app", "linux/amd64", [b"one", b"two"], docker=True, tag="v1")
    result = await copy_image(src.client(http), "team/app", "v1", dst.client(http), "backup/app", None)
    assert result.target_digest == digest and result.platforms == ()
    assert dst.repos["backup/app"].manifests[digest][0] == data and dst.repos["backup/app"].tags == {}
    assert_write_order(dst, "backup/app")


async def test_present_blobs_are_skipped_and_present_manifests_trusted(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    digest, children = multiarch(src)
    dst.add_blob("backup/app", b"base layer")
    amd64 = children["linux/amd64"]
    for blob in json.loads(amd64)["layers"] + [json.loads(amd64)["config"]]:
        dst.add_blob("backup/app", src.repos["team/app"].blobs[blob["digest"]])
    dst.add_manifest("backup/app", amd64, OCI_MANIFEST)
    target = dst.client(http)
    result = await copy_image(src.client(http), "team/app", "1.0", target, "backup/app", "1.0")
    assert (result.blobs_copied, result.blobs_skipped) == (2, 3)  # arm64's config and layer
    # the amd64 manifest is present: its blobs are not even asked about
    amd64_blobs = {b["digest"] for b in json.loads(amd64)["layers"]} | {json.loads(amd64)["config"]["digest"]}
    shared = sha(b"base layer")
    asked = {p.rsplit("/", 1)[1] for m, p, _ in dst.log if m == "HEAD" and "/blobs/" in p}
    assert not (amd64_blobs - {shared}) & asked
    assert dst.requests("PUT", sha(amd64)) == 0

    # again: the index is there, so nothing but HEADs of it and of the tag
    dst.log.clear()
    again = await copy_image(src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "1.0")
    assert (again.bytes_copied, again.blobs_copied, again.manifests_written) == (0, 0, 0)
    assert again.blobs_skipped == 5 and {m for m, _, _ in dst.log} <= {"GET", "HEAD"}
    assert not [p for m, p, _ in dst.log if "/blobs/" in p]

    # a new tag for the same index: one PUT of the index, no blob work
    dst.log.clear()
    retag = await copy_image(src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "stable")
    assert retag.manifests_written == 1 and dst.repos["backup/app"].tags["stable"] == digest
    assert not [p for m, p, _ in dst.log if "/blobs/" in p]


async def test_same_registry_copy_mounts_from_the_source_repository(
    http: aiohttp.ClientSession, src: FakeRegistry
) -> None:
    multiarch(src)
    shared = src.client(http)
    result = await copy_image(shared, "team/app", "1.0", shared, "backup/app", "1.0")
    assert (result.blobs_mounted, result.blobs_copied, result.bytes_copied) == (5, 0, 0)
    assert shared.stats.requests["PATCH"] == 0 and shared.stats.blobs_uploaded == 0
    assert shared.stats.blob_bytes_read == 0
    assert_write_order(src, "backup/app")


async def test_cache_mounts_only_within_the_destination_registry(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    multiarch(src)
    cache = BlobLocationCache()
    await copy_image(
        src.client(http), "team/app", "1.0", dst.client(http), "backup/one", "1.0", blob_cache=cache
    )
    # the cache now knows each blob in src team/app and in dst backup/one
    assert cache.repositories(sha(b"base layer"), dst.host) == ["backup/one"]
    assert cache.repositories(sha(b"base layer"), src.host) == ["team/app"]
    dst.log.clear()
    source = src.client(http)
    result = await copy_image(
        source, "team/app", "1.0", dst.client(http), "backup/two", "1.0", blob_cache=cache
    )
    assert (result.blobs_mounted, result.blobs_copied) == (5, 0)
    assert source.stats.blob_bytes_read == 0
    mounts = [p for m, p, _ in dst.log if m == "POST" and "mount=" in p]
    assert len(mounts) == 5 and all("from=backup/one" in p or "from=backup%2Fone" in p for p in mounts)
    assert not [p for p in mounts if "team" in p]  # never asked to mount from another registry's repo


async def test_a_refused_mount_falls_back_to_upload(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    manifest_of(src, "team/app", "linux/amd64", [b"layer"], tag="v1")
    cache = BlobLocationCache()
    cache.record(sha(b"layer"), dst.host, "gone/repo")  # stale: the registry answers 202
    result = await copy_image(
        src.client(http), "team/app", "v1", dst.client(http), "backup/app", "v1", blob_cache=cache
    )
    assert (result.blobs_mounted, result.blobs_copied) == (0, 2)
    assert dst.requests("DELETE") == 1  # the session the registry opened instead was cancelled
    assert cache.repositories(sha(b"layer"), dst.host) == ["backup/app", "gone/repo"]


async def test_platform_filter_writes_a_smaller_index(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    digest, children = multiarch(src)
    result = await copy_image(
        src.client(http),
        "team/app",
        "1.0",
        dst.client(http),
        "backup/app",
        "1.0",
        platforms={"linux/arm64"},
    )
    assert result.index_rewritten and result.source_digest == digest != result.target_digest
    assert result.platforms == ("linux/arm64/v8",) and result.notes
    stored, _ = dst.repos["backup/app"].manifests[result.target_digest]
    assert [m["digest"] for m in json.loads(stored)["manifests"]] == [sha(children["linux/arm64/v8"])]
    assert sha(children["linux/amd64"]) not in dst.repos["backup/app"].manifests
    assert sha(b"amd64 layer") not in dst.repos["backup/app"].blobs
    assert_write_order(dst, "backup/app")

    everything = await copy_image(
        src.client(http),
        "team/app",
        "1.0",
        dst.client(http),
        "backup/all",
        "1.0",
        platforms={"linux/amd64", "linux/arm64/v8"},
    )
    assert not everything.index_rewritten and everything.target_digest == digest

    with pytest.raises(NoMatchingPlatform):
        await copy_image(
            src.client(http),
            "team/app",
            "1.0",
            dst.client(http),
            "backup/none",
            "1.0",
            platforms={"linux/arm64/v7"},
        )
    assert "backup/none" not in dst.repos or not dst.repos["backup/none"].manifests


async def test_platform_filter_on_a_single_manifest_reads_its_config(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    manifest_of(src, "team/app", "linux/amd64", [b"layer"], tag="v1")
    result = await copy_image(
        src.client(http), "team/app", "v1", dst.client(http), "backup/app", "v1", platforms={"linux/amd64"}
    )
    assert result.platforms == ("linux/amd64",) and not result.index_rewritten
    with pytest.raises(NoMatchingPlatform):
        await copy_image(
            src.client(http),
            "team/app",
            "v1",
            dst.client(http),
            "backup/other",
            "v1",
            platforms={"linux/arm64"},
        )


async def test_foreign_layers_artifacts_and_attestations(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": sha(b"windows base"),
        "size": 12,
        "urls": ["https://example.invalid/base"],
    }
    win, _ = manifest_of(
        src, "team/app", "windows/amd64", [b"app layer"], docker=True, extra_layers=[foreign]
    )
    signature = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": src.add_blob("team/app", b"{}"),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.example.sig",
                    "digest": src.add_blob("team/app", b"sig"),
                    "size": 3,
                }
            ],
        }
    ).encode()
    attestation = {
        "mediaType": OCI_MANIFEST,
        "digest": src.add_manifest("team/app", signature, OCI_MANIFEST),
        "size": len(signature),
        "platform": {"os": "unknown", "architecture": "unknown"},
    }
    digest, _ = index_of(
        src, "team/app", {"windows/amd64": src.repos["team/app"].manifests[win][0]}, extra=[attestation]
    )
    result = await copy_image(src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "1.0")
    assert result.target_digest == digest and result.platforms == ("windows/amd64",)
    assert any("non-distributable" in note for note in result.notes)
    assert sha(b"windows base") not in dst.repos["backup/app"].blobs
    assert dst.repos["backup/app"].manifests[attestation["digest"]][0] == signature  # type: ignore[index]
    assert_write_order(dst, "backup/app")


async def test_schema1_is_refused(http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "team/app", "fsLayers": []}).encode()
    src.add_manifest("team/app", schema1, "application/vnd.docker.distribution.manifest.v1+prettyjws", "old")
    with pytest.raises(UnsupportedManifest):
        await copy_image(src.client(http), "team/app", "old", dst.client(http), "backup/app", "old")


async def test_a_failed_blob_leaves_no_manifest_naming_it(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    _, children = multiarch(src)
    del src.repos["team/app"].blobs[sha(b"arm64 layer")]  # the source lost one layer
    with pytest.raises(BlobUnknown) as raised:
        await copy_image(src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "1.0")
    assert failed_side(raised.value) == "Source"  # raised while streaming into the target's upload
    backup = dst.repos["backup/app"]
    assert sha(children["linux/arm64/v8"]) not in backup.manifests and backup.tags == {}
    assert_write_order(dst, "backup/app")


async def test_transient_failures_mid_copy_are_retried(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    big = bytes(range(256)) * 400
    digest, _ = manifest_of(src, "team/app", "linux/amd64", [big, b"small"], tag="v1")
    src.break_once.add(sha(big))  # the download breaks halfway: resumed with Range
    dst.faults += [
        Fault("PUT", "/blobs/uploads/", 503),
        Fault("PATCH", "/blobs/uploads/", 500),
        Fault("PUT", "/manifests/", 429, {"Retry-After": "0"}),
    ]
    seen: list[Progress] = []
    target = dst.client(http, chunk_threshold=50_000, chunk_size=40_000)
    result = await copy_image(
        src.client(http), "team/app", "v1", target, "backup/app", "v1", progress=seen.append
    )
    assert result.target_digest == digest and dst.repos["backup/app"].blobs[sha(big)] == big
    assert seen[-1].bytes_done == seen[-1].bytes_total == result.bytes_total
    assert_write_order(dst, "backup/app")
    assert not dst.uploads  # abandoned sessions were cancelled


async def test_a_nested_index_is_kept_whole_under_a_filter(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    inner_digest, children = multiarch(src)
    inner = src.repos["team/app"].manifests[inner_digest][0]
    riscv = manifest_of(src, "team/app", "linux/riscv64", [b"riscv layer"])[1]
    nested = {"mediaType": OCI_INDEX, "digest": inner_digest, "size": len(inner)}
    index_of(src, "team/app", {"linux/riscv64": riscv}, tag="outer", extra=[nested])
    result = await copy_image(
        src.client(http),
        "team/app",
        "outer",
        dst.client(http),
        "backup/app",
        "outer",
        platforms={"linux/arm64"},
    )
    assert result.index_rewritten  # riscv64 left out, the nested index kept with both its children
    assert dst.repos["backup/app"].manifests[inner_digest][0] == inner
    assert all(sha(data) in dst.repos["backup/app"].manifests for data in children.values())
    assert sha(riscv) not in dst.repos["backup/app"].manifests
    assert_write_order(dst, "backup/app")


@pytest.mark.parametrize(
    ("side", "fault", "error"),
    [
        ("Source", Fault("GET", "/manifests/sha256:", 401), Unauthorized),  # a child manifest
        ("Source", Fault("GET", "/blobs/sha256:", 403), Denied),  # read while uploading
        ("Target", Fault("POST", "/blobs/uploads/", 404), NotFound),  # ECR: NAME_UNKNOWN
        ("Target", Fault("HEAD", "/blobs/sha256:", 401), Unauthorized),
        ("Target", Fault("PUT", "/manifests/", 403), Denied),
        ("Target", Fault("HEAD", "/manifests/", 401), Unauthorized),
    ],
    ids=["source-manifest", "source-blob", "target-upload", "target-blob", "target-put", "target-head"],
)
async def test_errors_name_the_registry_they_came_from(
    http: aiohttp.ClientSession,
    src: FakeRegistry,
    dst: FakeRegistry,
    side: str,
    fault: Fault,
    error: type[RegistryError],
) -> None:
    multiarch(src)
    (src if side == "Source" else dst).faults.append(fault)
    with pytest.raises(error) as raised:
        await copy_image(src.client(http), "team/app", "1.0", dst.client(http), "backup/app", "1.0")
    assert failed_side(raised.value) == side
    assert dst.repos["backup/app"].tags == {}


def _index_with(fake: FakeRegistry, entry: dict[str, object]) -> None:
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    fake.add_manifest("team/app", data, OCI_INDEX, "bad")


@pytest.mark.parametrize("platforms", [None, {"linux/amd64"}], ids=["all", "filtered"])
@pytest.mark.parametrize("platform", ["linux/amd64", ["linux", "amd64"], 7])
async def test_an_index_entry_with_a_malformed_platform_is_unsupported(
    http: aiohttp.ClientSession,
    src: FakeRegistry,
    dst: FakeRegistry,
    platform: object,
    platforms: set[str] | None,
) -> None:
    _, child = manifest_of(src, "team/app", "linux/amd64", [b"layer"])
    _index_with(
        src, {"mediaType": OCI_MANIFEST, "digest": sha(child), "size": len(child), "platform": platform}
    )
    with pytest.raises(UnsupportedManifest, match="malformed platform"):
        await copy_image(
            src.client(http), "team/app", "bad", dst.client(http), "backup/app", "bad", platforms=platforms
        )


async def test_a_malformed_descriptor_digest_is_unsupported(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    _index_with(src, {"mediaType": OCI_MANIFEST, "digest": "latest", "size": 10})
    with pytest.raises(UnsupportedManifest, match="malformed digest"):
        await copy_image(src.client(http), "team/app", "bad", dst.client(http), "backup/app", "bad")


async def test_layers_that_are_not_a_list_are_unsupported(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry
) -> None:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": 5}
    src.add_manifest("team/app", json.dumps(doc).encode(), OCI_MANIFEST, "bad")
    with pytest.raises(UnsupportedManifest, match="not a list"):
        await copy_image(src.client(http), "team/app", "bad", dst.client(http), "backup/app", "bad")


@pytest.mark.parametrize("config", [b"not json", b"\xff\xfe", b"[1, 2]", b"null"])
async def test_a_malformed_config_is_unsupported_under_a_filter(
    http: aiohttp.ClientSession, src: FakeRegistry, dst: FakeRegistry, config: bytes
) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": src.add_blob("team/app", config), "size": len(config)},
        "layers": [],
    }
    src.add_manifest("team/app", json.dumps(doc).encode(), OCI_MANIFEST, "bad")
    with pytest.raises(UnsupportedManifest, match="config"):
        await copy_image(
            src.client(http),
            "team/app",
            "bad",
            dst.client(http),
            "backup/app",
            "bad",
            platforms={"linux/amd64"},
        )
    assert not dst.repos["backup/app"].manifests
