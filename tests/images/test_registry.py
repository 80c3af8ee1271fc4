"""RegistryClient against an in-memory fake registry served by aiohttp on 127.0.0.1: digests checked,
uploads monolithic and chunked (and refused before the final PUT when the bytes are wrong), mounts,
the retry policy (which statuses and errors are retried, Retry-After honoured), typed errors,
credentials never following a redirect to another origin, the bearer flow, and the concurrency cap.

`FakeRegistry` is also the destination of tests/images/test_copy.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from irc.images.auth import Authenticator, Credentials, RegistryOptions
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

_UPLOAD = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<id>[^/]*)$")
_CONTENT = re.compile(r"^/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


async def ping(request: web.Request) -> web.Response:
    return web.json_response({})


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def oci_error(status: int, code: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}
    return web.json_response(body, status=status, headers=headers)


@dataclass
class Repo:
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    contains: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class FakeRegistry:
    """An in-memory distribution registry: manifests (validated: no dangling references), blobs with
    Range, uploads (POST/PATCH with Content-Range/PUT ?digest=/DELETE), mounts, basic or bearer auth,
    injected faults, streams broken halfway, and blob GETs redirected to another origin."""

    def __init__(
        self, *, basic: tuple[str, str] | None = None, bearer: tuple[str, str] | None = None
    ) -> None:
        self.repos: defaultdict[str, Repo] = defaultdict(Repo)
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.log: list[tuple[str, str, int]] = []
        """Every request, in order: (method, path with query, status)."""
        self.events: list[tuple[str, str, str]] = []
        """What was stored, in order: ("blob" | "mount" | "manifest", repository, digest or ref)."""
        self.rejected: list[str] = []
        self.faults: list[Fault] = []
        self.authorizations: list[str | None] = []
        self.content_ranges: list[str] = []
        self.break_once: set[str] = set()
        self.corrupt: set[str] = set()
        self.ignore_range = False
        self.redirect_blobs_to: str | None = None
        self.gate: asyncio.Event | None = None
        self.in_flight = self.max_in_flight = 0
        self._changed = asyncio.Condition()
        self._basic, self._bearer = basic, bearer
        self._ids = itertools.count()
        self.server = TestServer(self.app(), host="127.0.0.1")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        return app

    def add_blob(self, repo: str, data: bytes) -> str:
        self.repos[repo].blobs[sha(data)] = data
        return sha(data)

    def add_manifest(self, repo: str, data: bytes, media_type: str, tag: str | None = None) -> str:
        self.repos[repo].manifests[sha(data)] = (data, media_type)
        if tag:
            self.repos[repo].tags[tag] = sha(data)
        return sha(data)

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        async with self._changed:
            self._changed.notify_all()
        try:
            if self.gate is not None:
                await self.gate.wait()
            response = await self.handle(request)
        finally:
            self.in_flight -= 1
        self.log.append((request.method, request.path_qs, response.status))
        return response

    def _challenge(self, request: web.Request) -> web.Response | None:
        given = request.headers.get("Authorization")
        self.authorizations.append(given)
        if self._basic is not None:
            expected = "Basic " + base64.b64encode(":".join(self._basic).encode()).decode()
            if given != expected:
                return oci_error(401, "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="fake"'})
        if self._bearer is not None and given != f"Bearer {self._bearer[1]}":
            challenge = f'Bearer realm="{self._bearer[0]}",service="fake",scope="repository:x:pull"'
            return oci_error(401, "UNAUTHORIZED", {"WWW-Authenticate": challenge})
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        for fault in self.faults:
            if fault.times and fault.method == request.method and fault.contains in request.path_qs:
                fault.times -= 1
                return oci_error(fault.status, "INJECTED", fault.headers)
        if (refused := self._challenge(request)) is not None:
            return refused
        if request.path == "/v2/":
            return web.json_response({})
        if m := _UPLOAD.match(request.path):
            return await self._upload(request, m.group("repo"), m.group("id"))
        if (m := _CONTENT.match(request.path)) is None:
            return oci_error(404, "NAME_UNKNOWN")
        repo, ref = self.repos[m.group("repo")], m.group("ref")
        if m.group("kind") == "blobs":
            return await self._blob(request, repo, ref)
        if request.method == "PUT":
            return await self._put_manifest(request, m.group("repo"), ref)
        digest = repo.tags.get(ref, ref)
        if digest not in repo.manifests:
            return oci_error(404, "MANIFEST_UNKNOWN")
        data, media_type = repo.manifests[digest]
        headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": digest,
            "Content-Length": str(len(data)),
        }
        if digest in self.corrupt:
            data = data[:-1] + b" "
        return web.Response(body=None if request.method == "HEAD" else data, headers=headers)

    async def _put_manifest(self, request: web.Request, repo_name: str, ref: str) -> web.Response:
        repo, data = self.repos[repo_name], await request.read()
        doc = json.loads(data)
        wanted = [d["digest"] for d in doc.get("manifests", [])]
        if missing := [d for d in wanted if d not in repo.manifests]:
            self.rejected.append(f"{repo_name}:{ref} before manifests {missing}")
            return oci_error(400, "MANIFEST_UNKNOWN")
        blobs = ([doc["config"]] if "config" in doc else []) + doc.get("layers", [])
        foreign = ("foreign", "nondistributable")
        needed = [b["digest"] for b in blobs if not any(f in b.get("mediaType", "") for f in foreign)]
        if missing := [d for d in needed if d not in repo.blobs]:
            self.rejected.append(f"{repo_name}:{ref} before blobs {missing}")
            return oci_error(400, "MANIFEST_BLOB_UNKNOWN")
        if ref.startswith("sha256:") and ref != sha(data):
            return oci_error(400, "DIGEST_INVALID")
        self.add_manifest(repo_name, data, request.content_type, None if ref.startswith("sha256:") else ref)
        self.events.append(("manifest", repo_name, ref))
        return web.Response(status=201, headers={"Docker-Content-Digest": sha(data)})

    async def _blob(self, request: web.Request, repo: Repo, digest: str) -> web.StreamResponse:
        if digest not in repo.blobs:
            return oci_error(404, "BLOB_UNKNOWN")
        data = repo.blobs[digest] if digest not in self.corrupt else b"X" + repo.blobs[digest][1:]
        if request.method == "HEAD":
            return web.Response(headers={"Content-Length": str(len(data))})
        if self.redirect_blobs_to:
            return web.Response(
                status=307, headers={"Location": f"{self.redirect_blobs_to}/storage/{digest}"}
            )
        start, status = 0, 200
        if (wanted := request.headers.get("Range")) and not self.ignore_range:
            start, status = int(wanted.removeprefix("bytes=").rstrip("-")), 206
        body = data[start:]
        if digest in self.break_once:
            self.break_once.discard(digest)
            response = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(status=status, body=body)

    async def _upload(self, request: web.Request, repo_name: str, upload_id: str) -> web.Response:
        if request.method == "POST":
            mount, source = request.query.get("mount"), request.query.get("from")
            if mount and source and mount in self.repos[source].blobs:
                self.repos[repo_name].blobs[mount] = self.repos[source].blobs[mount]
                self.events.append(("mount", repo_name, mount))
                return web.Response(status=201, headers={"Docker-Content-Digest": mount})
            new_id = f"u{next(self._ids)}"
            self.uploads[new_id] = (repo_name, bytearray())
            return web.Response(
                status=202, headers={"Location": f"/v2/{repo_name}/blobs/uploads/{new_id}?_state=s"}
            )
        if upload_id not in self.uploads:
            return oci_error(404, "BLOB_UPLOAD_UNKNOWN")
        if request.method == "DELETE":
            del self.uploads[upload_id]
            return web.Response(status=204)
        buffer, body = self.uploads[upload_id][1], await request.read()
        if request.method == "PATCH":
            content_range = request.headers.get("Content-Range", "")
            self.content_ranges.append(content_range)
            start, end = (int(x) for x in content_range.split("-"))
            if start != len(buffer) or end - start + 1 != len(body):
                return oci_error(416, "BLOB_UPLOAD_INVALID")
            buffer += body
            return web.Response(
                status=202, headers={"Location": request.path_qs, "Range": f"0-{len(buffer) - 1}"}
            )
        buffer += body
        digest = request.query["digest"]
        if sha(bytes(buffer)) != digest:
            return oci_error(400, "DIGEST_INVALID")
        self.repos[repo_name].blobs[digest] = bytes(buffer)
        del self.uploads[upload_id]
        self.events.append(("blob", repo_name, digest))
        return web.Response(status=201, headers={"Docker-Content-Digest": digest})

    async def wait_in_flight(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight >= count)

    def requests(self, method: str, contains: str = "") -> int:
        return sum(1 for m, path, _ in self.log if m == method and contains in path)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry()
    await registry.server.start_server()
    yield registry
    await registry.server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(
    http: aiohttp.ClientSession,
    fake: FakeRegistry,
    credentials: Credentials | None = None,
    sleeps: SleepRecorder | None = None,
    **kwargs: int,
) -> RegistryClient:
    return RegistryClient(
        http,
        fake.host,
        auth=Authenticator(fake.host, credentials),
        options=RegistryOptions(plain_http=True),
        retry=RetryPolicy(sleep=sleeps or SleepRecorder()),
        **kwargs,
    )


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
    client = make_client(http, fake)
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
    client = make_client(http, fake)
    assert await client.put_manifest("team/app", "v9", data, OCI_MANIFEST) == sha(data)
    assert fake.repos["team/app"].tags["v9"] == sha(data)
    with pytest.raises(DigestMismatch):
        await client.put_manifest("team/app", sha(b"other"), data, OCI_MANIFEST)


async def test_blob_stream_resumes_after_a_break_and_checks_the_digest(
    http: aiohttp.ClientSession, fake: FakeRegistry
) -> None:
    data = bytes(range(256)) * 2000
    digest = fake.add_blob("team/app", data)
    client = make_client(http, fake)
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
    client = make_client(http, fake, chunk_threshold=4096, chunk_size=3000)
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
    client = make_client(http, fake, chunk_threshold=threshold, chunk_size=300)
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
    client = make_client(http, fake)
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
    head = await make_client(http, fake, sleeps=sleeps).head_manifest("team/app", "v1")
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
    client = make_client(http, fake, sleeps=sleeps)
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
            client = make_client(http, registry, Credentials("user", "secret"))
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
            client = make_client(http, registry, Credentials("user", "secret"))
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
    client = make_client(http, fake, max_concurrency=2)
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
        await make_client(http, fake).head_manifest(repo, "v1")
    with pytest.raises(ValueError):
        await make_client(http, fake).head_manifest("team/app", "../v1")
    assert fake.log == []
