"""irc.images.copy against the test bed: every fixture copied to every backup registry with its
digests intact (checked independently with skopeo), platform filters, mounts, a re-copy that moves
no blob bytes, wrong credentials, and a faulty proxy that injects 503s, 429s and dropped
connections mid-blob without ever leaving a manifest that points at a missing blob."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from e2e.test_images_registry import BACKUPS, client_for
from hack.testbed import images, procs, registries
from irc.images.auth import Authenticator, RegistryOptions
from irc.images.copy import BlobLocationCache, Progress, copy_image
from irc.images.errors import RetryPolicy, Unauthorized
from irc.images.registry import RegistryClient

pytestmark = pytest.mark.e2e


def skopeo_raw(registry: registries.Registry, reference: str) -> bytes:
    raw = procs.run(
        ["skopeo", "inspect", "--raw", *registry.skopeo_flags(), f"docker://{registry.host}/{reference}"]
    )
    return raw.encode()


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.mark.parametrize("name", BACKUPS)
async def test_every_fixture_keeps_its_digests(
    http: aiohttp.ClientSession,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    name: str,
) -> None:
    src, dst = client_for(http, registry_bed["source"]), client_for(http, registry_bed[name])
    for key, built in source_images.items():
        repo, tag = key.split(":")
        seen: list[Progress] = []
        result = await copy_image(src, repo, tag, dst, f"irc-copy/{repo}", tag, progress=seen.append)
        assert result.source_digest == result.target_digest == built.digest
        assert result.media_type == built.media_type and not result.index_rewritten
        assert result.bytes_total == built.blob_bytes == seen[-1].bytes_done == seen[-1].bytes_total
        raw = skopeo_raw(registry_bed[name], f"irc-copy/{repo}:{tag}")
        assert digest_of(raw) == built.digest, key
        if len(built.spec.platforms) > 1:
            assert set(result.platforms) == set(built.manifests) == set(built.spec.platforms)
            for platform, child in built.manifests.items():
                child_raw = skopeo_raw(registry_bed[name], f"irc-copy/{repo}@{child}")
                assert digest_of(child_raw) == child, platform


async def test_platform_filter_writes_an_index_of_the_chosen_children(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    built = source_images["testbed/docker-multiarch:1.0.0"]
    src, dst = client_for(http, registry_bed["source"]), client_for(http, registry_bed["backup"])
    result = await copy_image(
        src, "testbed/docker-multiarch", "1.0.0", dst, "irc-copy/filtered", "arm64", platforms={"linux/arm64"}
    )
    assert result.index_rewritten and result.target_digest != built.digest
    assert result.platforms == ("linux/arm64",)
    raw = skopeo_raw(registry_bed["backup"], "irc-copy/filtered:arm64")
    assert digest_of(raw) == result.target_digest
    assert [m["digest"] for m in json.loads(raw)["manifests"]] == [built.manifests["linux/arm64"]]
    assert await dst.head_manifest("irc-copy/filtered", built.manifests["linux/amd64"]) is None


async def test_same_registry_copy_mounts_and_a_recopy_moves_no_blob_bytes(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    built = source_images["testbed/multilayer:1.0.0"]
    source = client_for(http, registry_bed["source"])
    backup = client_for(http, registry_bed["backup"])
    first = await copy_image(source, "testbed/multilayer", "1.0.0", backup, "irc-mount/a", "1.0.0")
    assert first.blobs_copied == 5 and first.bytes_copied == built.blob_bytes

    # same registry, another repository: every blob is mounted from the source repository
    again = client_for(http, registry_bed["backup"])
    mounted = await copy_image(again, "irc-mount/a", "1.0.0", again, "irc-mount/b", "1.0.0")
    assert (mounted.blobs_mounted, mounted.blobs_copied, mounted.bytes_copied) == (5, 0, 0)
    assert again.stats.blobs_mounted == 5 and again.stats.blobs_uploaded == 0
    assert again.stats.requests["PATCH"] == 0 and again.stats.blob_bytes_read == 0

    # from the source registry into a third repository: the cache knows where the blobs went
    cache = BlobLocationCache()
    await copy_image(source, "testbed/multilayer", "1.0.0", backup, "irc-mount/c", "1.0.0", blob_cache=cache)
    fresh_dst = client_for(http, registry_bed["backup"])
    fresh_src = client_for(http, registry_bed["source"])
    cached = await copy_image(
        fresh_src, "testbed/multilayer", "1.0.0", fresh_dst, "irc-mount/d", "1.0.0", blob_cache=cache
    )
    assert (cached.blobs_mounted, cached.blobs_copied) == (5, 0)
    assert fresh_src.stats.blob_bytes_read == 0 and fresh_dst.stats.blobs_uploaded == 0

    # a second copy of the same image: nothing moves
    src2, dst2 = client_for(http, registry_bed["source"]), client_for(http, registry_bed["backup"])
    second = await copy_image(src2, "testbed/multilayer", "1.0.0", dst2, "irc-mount/a", "1.0.0")
    assert (second.bytes_copied, second.blobs_copied, second.blobs_mounted) == (0, 0, 0)
    assert second.blobs_skipped == 5 and second.manifests_written == 0
    assert src2.stats.blob_bytes_read == 0 and dst2.stats.blob_bytes_written == 0
    assert not {"POST", "PATCH", "PUT"} & set(dst2.stats.requests)


async def test_recopy_of_a_multiarch_index_moves_nothing(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    src, dst = client_for(http, registry_bed["source"]), client_for(http, registry_bed["backup-token"])
    await copy_image(src, "testbed/oci-multiarch", "1.0.0", dst, "irc-recopy/multi", "1.0.0")
    src2, dst2 = client_for(http, registry_bed["source"]), client_for(http, registry_bed["backup-token"])
    result = await copy_image(src2, "testbed/oci-multiarch", "1.0.0", dst2, "irc-recopy/multi", "1.0.0")
    assert (result.bytes_copied, result.manifests_written) == (0, 0)
    assert src2.stats.blob_bytes_read == 0 and not {"POST", "PATCH", "PUT"} & set(dst2.stats.requests)


@pytest.mark.parametrize("name", ["backup-basic", "backup-token"])
async def test_wrong_target_credentials_are_unauthorized(
    http: aiohttp.ClientSession,
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    name: str,
) -> None:
    src, dst = (
        client_for(http, registry_bed["source"]),
        client_for(http, registry_bed[name], password="wrong"),
    )
    with pytest.raises(Unauthorized):
        await copy_image(src, "testbed/oci-single", "1.0.0", dst, "irc-copy/denied", "1.0.0")
    assert dst.stats.blobs_uploaded == 0


# -- the faulty proxy ------------------------------------------------------------------------------


@dataclass
class FaultyProxy:
    """A reverse proxy on 127.0.0.1 in front of one registry that, on a fixed schedule per request
    path, answers 503, answers 429 with Retry-After: 0, drops a blob download halfway, or drops the
    connection while an upload body is arriving; the next attempt at the same path goes through."""

    upstream: str
    schedule: tuple[str, ...] = ("503", "429", "ok")
    faults: dict[str, int] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path?query, status) in order
    injected: dict[str, int] = field(default_factory=dict)
    upload_drops: int = 2

    def fault_for(self, request: web.Request) -> str:
        key = f"{request.method} {request.path}"
        count = self.faults.get(key, 0)
        self.faults[key] = count + 1
        if request.path == "/v2/":
            return "ok"
        if request.method == "GET" and "/blobs/sha256:" in request.path:
            return "drop-download" if count == 0 else "ok"
        if request.method in ("PATCH", "PUT") and "/blobs/uploads/" in request.path:
            # an upload session does not survive a drop, so the copier starts a new one: drop a few
            self.upload_drops -= 1
            return "drop-upload" if self.upload_drops >= 0 else "ok"
        return self.schedule[count] if count < len(self.schedule) else "ok"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fault = self.fault_for(request)
        self.injected[fault] = self.injected.get(fault, 0) + 1
        if fault in ("503", "429"):
            self.log.append((request.method, request.path_qs, int(fault)))
            headers = {"Retry-After": "0"} if fault == "429" else {}
            return web.json_response(
                {"errors": [{"code": "UNAVAILABLE", "message": "injected"}]},
                status=int(fault),
                headers=headers,
            )
        body = await request.read()
        if fault == "drop-upload" and body:
            assert request.transport is not None
            request.transport.close()
            self.log.append((request.method, request.path_qs, 0))
            return web.Response(status=500)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        }
        headers["Host"] = request.host
        async with (
            aiohttp.ClientSession(auto_decompress=False) as upstream,
            upstream.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as answer,
        ):
            payload = await answer.read()
            self.log.append((request.method, request.path_qs, answer.status))
            out = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("transfer-encoding", "content-encoding", "connection")
            }
            if fault == "drop-download" and answer.status == 200 and len(payload) > 1:
                response = web.StreamResponse(status=200, headers=out)
                await response.prepare(request)
                await response.write(payload[: len(payload) // 2])
                assert request.transport is not None
                request.transport.close()
                return response
            return web.Response(
                status=answer.status, headers=out, body=payload if request.method != "HEAD" else None
            )


async def start_proxy(proxy: FaultyProxy) -> tuple[web.AppRunner, str]:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"127.0.0.1:{port}"


async def test_copy_through_faulty_proxies_succeeds_without_dangling_manifests(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    source_proxy = FaultyProxy(registry_bed["source"].url)
    target_proxy = FaultyProxy(registry_bed["backup"].url)
    runners = []
    try:
        hosts = []
        for proxy in (source_proxy, target_proxy):
            runner, host = await start_proxy(proxy)
            runners.append(runner)
            hosts.append(host)
        retry = RetryPolicy(attempts=6, initial=0.01, maximum=0.05)
        plain = RegistryOptions(plain_http=True)
        src = RegistryClient(http, hosts[0], auth=Authenticator(hosts[0]), options=plain, retry=retry)
        dst = RegistryClient(
            http,
            hosts[1],
            auth=Authenticator(hosts[1]),
            options=plain,
            retry=retry,
            chunk_threshold=100_000,
            chunk_size=128_000,
        )
        for key in ("testbed/multilayer:1.0.0", "testbed/docker-multiarch:1.0.0"):
            built = source_images[key]
            repo, tag = key.split(":")
            result = await copy_image(src, repo, tag, dst, f"irc-faulty/{repo}", tag)
            assert result.target_digest == built.digest
            assert digest_of(skopeo_raw(registry_bed["backup"], f"irc-faulty/{repo}:{tag}")) == built.digest
    finally:
        for runner in runners:
            await runner.cleanup()
    assert {"503", "429", "drop-download", "drop-upload"} <= set(source_proxy.injected) | set(
        target_proxy.injected
    )
    assert_no_manifest_before_its_blobs(target_proxy.log, registry_bed["backup"])


def assert_no_manifest_before_its_blobs(
    log: list[tuple[str, str, int]], backup: registries.Registry, manifests: int = 3
) -> None:
    """Every manifest PUT that succeeded came after its blobs (or child manifests) were known to
    exist in the destination: uploaded, mounted or found by HEAD; and at least `manifests` did."""
    present: set[str] = set()
    puts = 0
    for method, path_qs, status in log:
        url = URL(path_qs)
        if method == "PUT" and "/blobs/uploads/" in url.path and status == 201:
            present.add(url.query["digest"])
        elif method in ("HEAD", "GET") and status == 200 and "/sha256:" in url.path:
            present.add(url.path.rsplit("/", 1)[1])  # a blob or manifest found in the destination
        elif method == "PUT" and "/manifests/" in url.path and status == 201:
            puts += 1
            repo, ref = url.path.removeprefix("/v2/").split("/manifests/")
            document = json.loads(
                skopeo_raw(backup, f"{repo}@{ref}" if ref.startswith("sha256:") else f"{repo}:{ref}")
            )
            needed = [d["digest"] for d in document.get("manifests", [])]
            needed += (
                [document["config"]["digest"], *(layer["digest"] for layer in document.get("layers", []))]
                if "config" in document
                else []
            )
            missing = [d for d in needed if d not in present]
            assert not missing, f"{method} {path_qs} before {missing}"
            if ref.startswith("sha256:"):
                present.add(ref)
    assert puts >= manifests  # here: multilayer, two children of the list, the list


async def test_concurrent_copies_share_one_client(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    src, dst = (
        client_for(http, registry_bed["source"], max_concurrency=2),
        client_for(http, registry_bed["backup"], max_concurrency=2),
    )
    results = await asyncio.gather(
        *(
            copy_image(src, k.split(":")[0], "1.0.0", dst, f"irc-concurrent/{k.split(':')[0]}", "1.0.0")
            for k in source_images
        )
    )
    assert [r.target_digest for r in results] == [b.digest for b in source_images.values()]
