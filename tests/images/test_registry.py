"""RegistryClient against an in-memory fake registry served by aiohttp on 127.0.0.1: digests checked,
uploads monolithic and chunked (and refused before the final PUT when the bytes are wrong), mounts,
the retry policy (which statuses and errors are retried, Retry-After honoured), typed errors,
credentials never following a redirect to another origin, the bearer flow, and the concurrency cap.

`FakeRegistry` is also the destination of tests/images/test_copy.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from irc.images.auth import Credentials, RegistryOptions
from irc.images.errors import (
    BlobUnknown,
    Denied,
    DigestMismatch,
    Forbidden,
    ManifestUnknown,
    RateLimited,
    RegistryError,
    RetryPolicy,
    Unauthorized,
    is_retryable,
)
from irc.images.registry import ALL_MANIFEST_TYPES, OCI_MANIFEST, RegistryClient
from irc.images.testing import FakeRegistry, Fault, SleepRecorder, oci_error, ping, sha


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def image(fake: FakeRegistry, repo: str, tag: str = "v1") -> tuple[str, bytes]:
    config, layer = fake.add_blob(repo, b'{"os":"linux"}'), fake.add_blob(repo, b"layer" * 100)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 14},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 500}],
        }
    ).encode()
    return fake.add_manifest(repo, manifest, OCI_MANIFEST, tag), manifest


async def test_manifests_are_read_with_their_digest(http: aiohttp.ClientSession, fake: FakeRegistry) -> None:
    digest, data = image(fake, "team/app")
    client = fake.client(http)
    head = await client.head_manifest("team/app", "v1")
    assert head is not None and (head.media_type, head.digest, head.size) == (OCI_MANIFEST, digest, len(data))
    assert await client.get_manifest("team/app", digest) == (data, OCI_MANIFEST, digest)
    assert await client.head_manifest("team/app", "v2") is None
    with pytest.raises(ManifestUnknown):
        await client.get_manifest("team/app", "v2")
    fake.corrupt.add(digest)
    with pytest.raises(DigestMismatch):
        await client.get_manifest("team/app", digest)
    with pytest.raises(DigestMismatch):  # by tag, the registry's Docker-Content-Digest is checked
        await client.get_manifest("team/app", "v1")


async def test_accept_header_names_every_manifest_type(http: aiohttp.ClientSession) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept", ""))
        return oci_error(404, "MANIFEST_UNKNOWN")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        client = RegistryClient(http, f"127.0.0.1:{server.port}", options=RegistryOptions(plain_http=True))
        assert await client.head_manifest("a/b", "latest") is None
    assert all(t in seen[-1] for t in ALL_MANIFEST_TYPES)


async def test_put_manifest_returns_its_digest(http: aiohttp.ClientSession, fake: FakeRegistry) -> None:
    _, data = image(fake, "team/app")
    client = fake.client(http)
    assert await client.put_manifest("team/app", "v9", data, OCI_MANIFEST) == sha(data)
    assert fake.repos["team/app"].tags["v9"] == sha(data)
    with pytest.raises(DigestMismatch):
        await client.put_manifest("team/app", sha(b"other"), data, OCI_MANIFEST)


async def test_blob_stream_resumes_after_a_break_and_checks_the_digest(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    data = bytes(range(256)) * 2000
    digest = fake.add_blob("team/app", data)
    client = fake.client(http)
    assert await client.head_blob("team/app", digest) == len(data)
    assert await client.head_blob("team/app", sha(b"none")) is None
    fake.break_once.add(digest)
    assert b"".join([c async for c in client.get_blob("team/app", digest)]) == data
    assert any("/blobs/" in p and m == "GET" and s == 206 for m, p, s in fake.log)  # resumed with Range
    fake.break_once.add(digest)
    fake.ignore_range = True  # a server that answers 200 to Range: the first bytes are dropped
    assert b"".join([c async for c in client.get_blob("team/app", digest)]) == data
    fake.corrupt.add(digest)
    with pytest.raises(DigestMismatch):
        _ = [c async for c in client.get_blob("team/app", digest)]
    with pytest.raises(BlobUnknown):
        _ = [c async for c in client.get_blob("team/app", sha(b"none"))]


async def test_small_blobs_upload_in_one_put_large_ones_in_patches(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    client = fake.client(http, chunk_threshold=4096, chunk_size=3000)
    small, large = b"s" * 4095, bytes(range(256)) * 40  # 10240 bytes: 3000 + 3000 + 3000 + 1240
    await client.upload_blob("team/app", sha(small), chunks(small), len(small))
    assert (fake.requests("POST"), fake.requests("PATCH"), fake.requests("PUT")) == (1, 0, 1)
    await client.upload_blob("team/app", sha(large), chunks(large, 700), len(large))
    assert fake.content_ranges == ["0-2999", "3000-5999", "6000-8999", "9000-10239"]
    assert fake.repos["team/app"].blobs[sha(large)] == large
    assert client.stats.blobs_uploaded == 2 and client.stats.blob_bytes_written == len(small) + len(large)
    assert client.stats.requests["PATCH"] == 4


@pytest.mark.parametrize("threshold", [1 << 20, 100], ids=["monolithic", "chunked"])
async def test_wrong_bytes_fail_before_the_final_put(
    http: aiohttp.ClientSession, fake: FakeRegistry, threshold: int
) -> None:
    client = fake.client(http, chunk_threshold=threshold, chunk_size=300)
    data = b"x" * 1000
    with pytest.raises(DigestMismatch):
        await client.upload_blob("team/app", sha(b"y" * 1000), chunks(data), len(data))
    with pytest.raises(DigestMismatch):  # shorter than announced
        await client.upload_blob("team/app", sha(data), chunks(data[:900]), len(data))
    with pytest.raises(DigestMismatch):  # longer than announced
        await client.upload_blob("team/app", sha(data[:900]), chunks(data), 900)
    assert not [p for m, p, _ in fake.log if m == "PUT" and "digest=" in p]
    assert fake.requests("DELETE") == 3 and not fake.uploads  # every session cancelled


async def test_mount_or_fall_back(http: aiohttp.ClientSession, fake: FakeRegistry) -> None:
    digest = fake.add_blob("team/base", b"base layer")
    client = fake.client(http)
    assert await client.mount_blob("team/app", digest, "team/base")
    assert fake.repos["team/app"].blobs[digest] == b"base layer"
    assert not await client.mount_blob("team/app", sha(b"absent"), "team/base")
    assert fake.requests("DELETE") == 1 and not fake.uploads
    assert client.stats.blobs_mounted == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_statuses_are_retried(
    http: aiohttp.ClientSession, fake: FakeRegistry, status: int
) -> None:
    digest, _ = image(fake, "team/app")
    fake.faults.append(Fault("HEAD", "/manifests/", status, times=2))
    sleeps = SleepRecorder()
    head = await fake.client(http, sleeps=sleeps).head_manifest("team/app", "v1")
    assert head is not None and head.digest == digest
    assert fake.requests("HEAD") == 3 and len(sleeps.waits) == 2


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "MANIFEST_INVALID", RegistryError),
        (401, "UNAUTHORIZED", Unauthorized),
        (403, "DENIED", Denied),
        (404, "MANIFEST_UNKNOWN", ManifestUnknown),
        (404, "NAME_UNKNOWN", ManifestUnknown),  # any 404 of a manifest endpoint
    ],
)
async def test_client_errors_are_typed_and_never_retried(
    http: aiohttp.ClientSession, fake: FakeRegistry, status: int, code: str, error: type[RegistryError]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return oci_error(status, code)

    app = web.Application()
    app.router.add_route("*", "/v2/{tail:.+}", handler)
    app.router.add_get("/v2/", ping)
    async with TestServer(app, host="127.0.0.1") as server:
        sleeps = SleepRecorder()
        client = RegistryClient(
            http,
            f"127.0.0.1:{server.port}",
            options=RegistryOptions(plain_http=True),
            retry=RetryPolicy(sleep=sleeps),
        )
        with pytest.raises(error) as caught:
            await client.get_manifest("team/app", "v1")
    assert type(caught.value) is error and caught.value.status == status and caught.value.code == code
    assert sleeps.waits == [] and client.stats.requests["GET"] == 2  # the ping and the request


async def test_retry_after_is_honoured_and_attempts_are_bounded(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    image(fake, "team/app")
    fake.faults.append(Fault("HEAD", "/manifests/", 429, {"Retry-After": "7"}))
    sleeps = SleepRecorder()
    client = fake.client(http, sleeps=sleeps)
    assert await client.head_manifest("team/app", "v1") is not None
    assert sleeps.waits == [7.0]
    fake.faults.append(Fault("HEAD", "/manifests/", 503, times=5))
    with pytest.raises(RegistryError) as caught:
        await client.head_manifest("team/app", "v1")
    assert caught.value.status == 503 and len(sleeps.waits) == 1 + 4  # five attempts in all
    assert all(0 < w <= 20 for w in sleeps.waits[1:])
    fake.faults.append(Fault("HEAD", "/manifests/", 429, {"Retry-After": "3600"}, times=99))
    with pytest.raises(RateLimited):
        await client.head_manifest("team/app", "v1")
    assert sleeps.waits[-1] == 60.0  # capped by max_retry_after


def test_which_exceptions_are_retryable() -> None:
    assert is_retryable(aiohttp.ServerDisconnectedError())
    assert is_retryable(aiohttp.ClientPayloadError("cut"))
    assert is_retryable(aiohttp.ClientConnectionError())
    assert is_retryable(TimeoutError())
    assert is_retryable(RegistryError("x", status=500)) and is_retryable(RateLimited("x"))
    for status in (400, 401, 403, 404, 409, 416):
        assert not is_retryable(RegistryError("x", status=status))
    assert not is_retryable(DigestMismatch("x")) and not is_retryable(ValueError())
    assert Forbidden is Denied


async def test_connection_drops_are_retried(http: aiohttp.ClientSession) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += request.path != "/v2/"
        if 0 < calls <= 4:  # aiohttp itself resends once on a reused connection: drop more than that
            assert request.transport is not None
            request.transport.close()
        return web.Response(headers={"Docker-Content-Digest": sha(b"m"), "Content-Type": OCI_MANIFEST})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        sleeps = SleepRecorder()
        client = RegistryClient(
            http,
            f"127.0.0.1:{server.port}",
            options=RegistryOptions(plain_http=True),
            retry=RetryPolicy(sleep=sleeps),
        )
        assert await client.head_manifest("team/app", "v1") is not None
    assert len(sleeps.waits) >= 1


async def test_credentials_never_follow_a_redirect_to_another_origin(http: aiohttp.ClientSession) -> None:
    storage_saw: list[str | None] = []
    registry = FakeRegistry(basic=("user", "secret"))
    data = b"blob in storage"
    digest = registry.add_blob("team/app", data)

    async def storage(request: web.Request) -> web.Response:
        storage_saw.append(request.headers.get("Authorization"))
        return web.Response(body=data)

    app = web.Application()
    app.router.add_get("/storage/{digest}", storage)
    async with TestServer(app, host="127.0.0.1") as store:
        await registry.server.start_server()
        try:
            registry.redirect_blobs_to = f"http://127.0.0.1:{store.port}"
            client = registry.client(http, Credentials("user", "secret"))
            assert b"".join([c async for c in client.get_blob("team/app", digest)]) == data
        finally:
            await registry.server.close()
    assert storage_saw == [None]
    assert registry.authorizations[-1] is not None  # the registry itself did get them


async def test_bearer_flow_sends_basic_credentials_only_to_the_named_realm(
    http: aiohttp.ClientSession,
) -> None:
    token_requests: list[tuple[str | None, list[str]]] = []

    async def token(request: web.Request) -> web.Response:
        token_requests.append((request.headers.get("Authorization"), request.query.getall("scope", [])))
        return web.json_response({"access_token": "tok-1", "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    async with TestServer(app, host="127.0.0.1") as realm:
        registry = FakeRegistry(bearer=(f"http://127.0.0.1:{realm.port}/token", "tok-1"))
        await registry.server.start_server()
        try:
            digest, _ = image(registry, "team/app")
            client = registry.client(http, Credentials("user", "secret"))
            for _ in range(3):
                assert (await client.get_manifest("team/app", "v1")).digest == digest
            await client.upload_blob("team/app", sha(b"new"), chunks(b"new"), 3)
        finally:
            await registry.server.close()
    basic = "Basic " + base64.b64encode(b"user:secret").decode()
    assert token_requests == [
        (basic, ["repository:team/app:pull"]),
        (basic, ["repository:team/app:pull,push"]),
    ]
    sent = {a for a in registry.authorizations if a}
    assert sent == {"Bearer tok-1"}  # the registry never saw the password


async def test_requests_in_flight_never_exceed_max_concurrency(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    digests = [fake.add_blob("team/app", bytes([i]) * 10) for i in range(6)]
    client = fake.client(http, max_concurrency=2)
    await client.head_blob("team/app", digests[0])  # the ping is behind us
    fake.gate, fake.max_in_flight = asyncio.Event(), 0
    heads = asyncio.gather(*(client.head_blob("team/app", d) for d in digests))
    await fake.wait_in_flight(2)
    for _ in range(20):
        await asyncio.sleep(0)
    assert fake.in_flight == 2
    fake.gate.set()
    assert await heads == [10] * 6
    assert fake.max_in_flight == 2
    assert client.stats.requests["HEAD"] == 7


@pytest.mark.parametrize("repo", ["Team/App", "a//b", "../etc", "a/", ""])
async def test_invalid_names_are_refused_before_any_request(
    http: aiohttp.ClientSession, fake: FakeRegistry, repo: str
) -> None:
    with pytest.raises(ValueError):
        await fake.client(http).head_manifest(repo, "v1")
    with pytest.raises(ValueError):
        await fake.client(http).head_manifest("team/app", "../v1")
    assert fake.log == []


async def test_a_manifest_larger_than_one_read_arrives_whole(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    """content.read(n) returns what has arrived so far: a 300 KB index (many attestations) must still be
    read to its end, or its digest would be computed over a part."""
    config = fake.add_blob("team/app", b'{"os":"linux"}')
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 14},
            "layers": [],
            "annotations": {f"k{i}": "v" * 100 for i in range(3000)},
        }
    ).encode()
    assert len(manifest) > 300_000
    digest = fake.add_manifest("team/app", manifest, OCI_MANIFEST, "big")
    client = fake.client(http)
    assert await client.get_manifest("team/app", "big") == (manifest, OCI_MANIFEST, digest)


async def test_a_redirect_targets_challenge_is_not_learned(http: aiohttp.ClientSession) -> None:
    """Blob storage that answers 401 with a challenge of its own must not get the registry's
    credentials sent to its realm, nor replace the registry's challenge."""
    realm_saw: list[str | None] = []
    registry = FakeRegistry(basic=("alice", "s3cret"))
    digest = registry.add_blob("team/app", b"blob")

    async def storage(request: web.Request) -> web.Response:
        challenge = f'Bearer realm="http://{request.host}/token",service="cdn"'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})

    async def token(request: web.Request) -> web.Response:
        realm_saw.append(request.headers.get("Authorization"))
        return web.json_response({"token": "cdn-token"})

    app = web.Application()
    app.router.add_get("/storage/{digest}", storage)
    app.router.add_get("/token", token)
    async with TestServer(app, host="127.0.0.1") as store:
        await registry.server.start_server()
        try:
            registry.redirect_blobs_to = f"http://127.0.0.1:{store.port}"
            client = registry.client(http, Credentials("alice", "s3cret"))
            with pytest.raises(Unauthorized):
                _ = [c async for c in client.get_blob("team/app", digest)]
            challenge = client.auth.challenge
            assert challenge is not None and challenge.scheme == "basic"
        finally:
            await registry.server.close()
    assert realm_saw == []


async def test_a_refused_token_is_not_used_again(http: aiohttp.ClientSession) -> None:
    """A 401 on a streamed PATCH cannot be resent, but the refused token is dropped: the next
    attempt asks the realm for a new one instead of failing with the cached one until it expires."""
    token_requests: list[str] = []

    async def token(request: web.Request) -> web.Response:
        token_requests.append(request.query.get("scope", ""))
        return web.json_response({"token": "tok-1", "expires_in": 300})

    app = web.Application()
    app.router.add_get("/token", token)
    async with TestServer(app, host="127.0.0.1") as realm:
        challenge = f'Bearer realm="http://127.0.0.1:{realm.port}/token",service="fake"'
        registry = FakeRegistry(bearer=(f"http://127.0.0.1:{realm.port}/token", "tok-1"))
        registry.faults.append(Fault("PATCH", "/blobs/uploads/", 401, {"WWW-Authenticate": challenge}))
        await registry.server.start_server()
        try:
            client = registry.client(http, chunk_threshold=10, chunk_size=100)
            data = b"x" * 250
            with pytest.raises(Unauthorized):
                await client.upload_blob("team/app", sha(data), chunks(data), len(data))
            # one token for the upload, and a new one for the next request after the refusal (the
            # DELETE cancelling the upload session), where the refused one used to be reused
            assert len(token_requests) == 2
            await client.upload_blob("team/app", sha(data), chunks(data), len(data))
            assert registry.repos["team/app"].blobs[sha(data)] == data
        finally:
            await registry.server.close()
