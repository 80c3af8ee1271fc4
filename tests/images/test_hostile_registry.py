"""`copy_image` from a hostile source registry (issue 15, bad input): a scripted aiohttp server on
127.0.0.1 serves a valid image except for one hostile answer per repository: endless manifest,
config and layer bodies, a body that is not the digest asked for, HTML for a manifest, a redirect
loop, a huge error body, a JSON bomb and indexes nested without end. Each copy must fail with a
reason a user can act on, trace at most a few MiB of Python memory (tracemalloc, the copy only),
and leave the target without a manifest. The target is the in-memory FakeRegistry.

Then slow ones: a source that trickles a manifest or a layer a byte at a time, and a target that
takes an upload and never answers. No read timeout notices them; the request deadline and the
copy's pace must.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from irc.images.auth import Authenticator, RegistryOptions
from irc.images.copy import SOURCE, TARGET, BlobStalled, Pace, UnsupportedManifest, copy_image, failed_side
from irc.images.errors import DigestMismatch, RegistryError, RetryPolicy
from irc.images.registry import OCI_INDEX, OCI_MANIFEST, RegistryClient
from irc.images.testing import FakeRegistry, SleepRecorder, ping

CONFIG = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
LAYER = b"layer" * 200
ENDLESS = b"\0" * (64 << 10)
BOUND = 16 << 20  # bytes of Python memory a failed copy may trace at its peak


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def manifest(config: bytes = CONFIG, layer: bytes = LAYER) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()


def index(child: bytes, media_type: str) -> bytes:
    entry = {"mediaType": media_type, "digest": sha(child), "size": len(child)}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()


def nested(depth: int) -> dict[str, tuple[bytes, str]]:
    """Indexes `depth` deep over one image: every document by its digest, and the top one as v1."""
    documents = {}
    data, media_type = manifest(), OCI_MANIFEST
    for _ in range(depth + 1):
        documents[sha(data)] = (data, media_type)
        data, media_type = index(data, media_type), OCI_INDEX
    documents["v1"] = documents[sha(index(*list(documents.values())[-1]))] = (data, media_type)
    return documents


class Hostile:
    """The registry: `/v2/<behaviour>/...`; every behaviour serves the good image but for its one lie."""

    def __init__(self) -> None:
        self.server = TestServer(self.app(), host="127.0.0.1")
        self.sent = 0  # bytes of endless bodies written before the client hung up
        self.trickles = 0  # trickled answers begun

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/", ping)
        app.router.add_route("*", "/v2/{repo}/{kind}/{ref}", self.handle)
        return app

    async def endless(
        self, request: web.Request, content_type: str, status: int = 200, chunks: int | None = None
    ) -> web.StreamResponse:
        """ENDLESS over and over (`chunks` times, else until the client hangs up); the same bytes
        object each time, so the server's side traces no memory of its own."""
        response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            for _ in range(chunks) if chunks is not None else iter(int, 1):
                await response.write(ENDLESS)
                self.sent += len(ENDLESS)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def trickle(
        self, request: web.Request, content_type: str, data: bytes = b" " * 600, piece: int = 1
    ) -> web.StreamResponse:
        """`data`, `piece` bytes every 50 ms: never silent long enough for a read timeout."""
        self.trickles += 1
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            for start in range(0, len(data), piece):
                await response.write(data[start : start + piece])
                await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def handle(self, request: web.Request) -> web.StreamResponse:
        repo, kind, ref = request.match_info["repo"], request.match_info["kind"], request.match_info["ref"]
        good = {sha(CONFIG): CONFIG, sha(LAYER): LAYER}
        if kind == "manifests":
            if repo == "endless-manifest":
                return await self.endless(request, OCI_MANIFEST)
            if repo == "another-digest":
                return web.Response(body=manifest(layer=b"other"), content_type=OCI_MANIFEST)
            if repo == "html":
                return web.Response(body=b"<html><body>Sign in</body></html>", content_type="text/html")
            if repo == "huge-error":
                return await self.endless(request, "application/json", status=500, chunks=512)  # 32 MiB
            if repo == "json-bomb":
                return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type=OCI_MANIFEST)
            if repo == "trickle-manifest":
                return await self.trickle(request, OCI_MANIFEST)
            if repo == "nested":
                data, media_type = nested(8)[ref]
                return web.Response(body=data, headers={"Content-Type": media_type})
            return web.Response(body=manifest(), headers={"Content-Type": OCI_MANIFEST})
        if repo == "redirect-loop":
            raise web.HTTPTemporaryRedirect(str(request.rel_url))
        if (repo, ref) in (("endless-config", sha(CONFIG)), ("endless-layer", sha(LAYER))):
            return await self.endless(request, "application/octet-stream")
        if (repo, ref) == ("trickle-layer", sha(LAYER)):
            return await self.trickle(request, "application/octet-stream")
        if (repo, ref) == ("steady-layer", sha(LAYER)):
            return await self.trickle(request, "application/octet-stream", LAYER, piece=50)
        return web.Response(body=good[ref])


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    registry = Hostile()
    await registry.server.start_server()
    yield registry
    await registry.server.close()


def source(hostile: Hostile, http: aiohttp.ClientSession, request_timeout: float = 120.0) -> RegistryClient:
    host = f"127.0.0.1:{hostile.server.port}"
    plain = RegistryOptions(plain_http=True)
    return RegistryClient(
        http,
        host,
        auth=Authenticator(host),
        options=plain,
        retry=RetryPolicy(sleep=SleepRecorder()),
        request_timeout=request_timeout,
    )


@pytest.mark.parametrize(
    ("repo", "error", "message"),
    [
        ("endless-manifest", RegistryError, "is over 4194304 bytes"),
        ("another-digest", DigestMismatch, "has digest sha256:"),
        ("html", UnsupportedManifest, "is not JSON"),
        ("redirect-loop", RegistryError, "too many redirects"),
        ("huge-error", RegistryError, "500"),
        ("json-bomb", UnsupportedManifest, "is not JSON"),
        ("nested", UnsupportedManifest, "nested deeper than 4"),
        ("endless-config", DigestMismatch, f"is longer than its {len(CONFIG)} bytes"),
        ("endless-layer", DigestMismatch, f"is longer than its {len(LAYER)} bytes"),
    ],
)
async def test_a_hostile_source_fails_the_copy_with_a_reason_and_bounded_memory(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession, repo: str, error: type, message: str
) -> None:
    ref = sha(manifest()) if repo == "another-digest" else "v1"
    tracemalloc.start()
    try:
        with pytest.raises(error) as caught:
            await copy_image(
                source(hostile, http), repo, ref, fake.client(http), "backup", "v1", platforms={"linux/amd64"}
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message in str(caught.value)
    assert len(str(caught.value)) < 1000  # a message, not a body
    assert peak < BOUND, f"{peak / 2**20:.1f} MiB traced"
    assert not [e for e in fake.events if e[0] == "manifest"]
    assert hostile.sent < 200 << 20  # every endless body was hung up on


async def test_the_good_image_of_the_same_registry_copies(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession
) -> None:
    """The control: what the hostile repositories lie about is all that makes them fail."""
    result = await copy_image(source(hostile, http), "good", "v1", fake.client(http), "backup", "v1")
    assert result.source_digest == sha(manifest())
    assert fake.repos["backup"].blobs == {sha(CONFIG): CONFIG, sha(LAYER): LAYER}


async def test_a_manifest_trickled_a_byte_at_a_time_fails_at_the_request_deadline_each_attempt(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession
) -> None:
    slow = source(hostile, http, request_timeout=0.3)
    with pytest.raises(TimeoutError) as caught:
        await copy_image(slow, "trickle-manifest", "v1", fake.client(http), "backup", "v1")
    assert str(caught.value) == f"GET /v2/trickle-manifest/manifests/v1 to {slow.host} took over 0.3 s"
    assert failed_side(caught.value) == SOURCE
    assert hostile.trickles == slow.retry.attempts
    assert not fake.events


async def test_a_layer_trickled_a_byte_at_a_time_is_given_up_at_the_pace_and_tried_again(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(BlobStalled) as caught:
        await copy_image(
            source(hostile, http),
            "trickle-layer",
            "v1",
            fake.client(http),
            "backup",
            "v1",
            pace=Pace(bytes=100, seconds=0.5),
            blob_attempts=2,
        )
    assert str(caught.value) == f"blob {sha(LAYER)} moved less than 100 bytes in 0.5 s"
    assert failed_side(caught.value) == SOURCE
    assert hostile.trickles == 2
    assert ("blob", "backup", sha(CONFIG)) in fake.events
    assert not [e for e in fake.events if e[0] == "manifest" or e[2] == sha(LAYER)]


@pytest.mark.parametrize("chunk_threshold", [0, 8 << 20], ids=["chunked", "monolithic"])
async def test_a_target_that_takes_an_upload_and_goes_silent_is_given_up_at_the_pace(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession, chunk_threshold: int
) -> None:
    fake.hang = "/blobs/uploads/u"  # the PATCH or PUT of a session: the POST that opens it is answered
    with pytest.raises(BlobStalled) as caught:
        await copy_image(
            source(hostile, http),
            "good",
            "v1",
            fake.client(http, chunk_threshold=chunk_threshold),
            "backup",
            "v1",
            pace=Pace(seconds=0.5),
            blob_attempts=1,
            layer_concurrency=1,
        )
    assert failed_side(caught.value) == TARGET
    assert "in 0.5 s" in str(caught.value)
    assert not fake.events


async def test_a_slow_but_steady_layer_keeps_its_pace_and_copies(
    hostile: Hostile, fake: FakeRegistry, http: aiohttp.ClientSession
) -> None:
    """The control: 1,000 bytes, 50 every 50 ms (the server's schedule: 20 pieces over about 1 s,
    twice the window), keep a pace of 100 bytes in 0.5 s: one GET, never given up and tried again."""
    pace = Pace(bytes=100, seconds=0.5)
    result = await copy_image(
        source(hostile, http), "steady-layer", "v1", fake.client(http), "backup", "v1", pace=pace
    )
    assert result.blobs_copied == 2
    assert hostile.trickles == 1
    assert fake.repos["backup"].blobs[sha(LAYER)] == LAYER
