"""Test doubles for code built on irc.images: an in-memory OCI registry served on 127.0.0.1 by
aiohttp's test server (with fault injection and a request log), and a recorder standing in for
the retry policy's sleep."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from irc.images.auth import Authenticator, Credentials, RegistryOptions
from irc.images.errors import RetryPolicy
from irc.images.registry import RegistryClient

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
        self.hang: str | None = None
        """Requests whose path and query contain this are read no further and never answered."""
        self.in_flight = self.max_in_flight = 0
        self._changed = asyncio.Condition()
        self._basic, self._bearer = basic, bearer
        self._ids = itertools.count()
        self.server = TestServer(self.app(), host="127.0.0.1")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(
        self,
        http: aiohttp.ClientSession,
        credentials: Credentials | None = None,
        sleeps: SleepRecorder | None = None,
        **kwargs: Any,
    ) -> RegistryClient:
        """A RegistryClient for this registry, whose retries sleep into `sleeps`; it and its token
        realm (another port of 127.0.0.1) over plain HTTP."""
        plain = RegistryOptions(plain_http=True)
        return RegistryClient(
            http,
            self.host,
            auth=Authenticator(self.host, credentials),
            options=plain,
            realm_options=lambda host: plain,
            retry=RetryPolicy(sleep=sleeps or SleepRecorder()),
            **kwargs,
        )

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
            if self.hang is not None and self.hang in request.path_qs:
                await asyncio.Event().wait()
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


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
