"""Each test bed registry speaks the distribution API in its auth mode, and the fixture images
arrive with exactly the digests and media types they were built with."""

from __future__ import annotations

import hashlib
import json
import re
import ssl
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from hack.testbed import images, procs, registries

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Reply:
    """A response read to the end, so its connection is back in the pool (an unread response,
    dropped, holds its connection until the garbage collector finds it)."""

    status: int
    headers: dict[str, str]
    body: bytes


class Challenged:
    """Just enough of a registry client to follow the auth challenge the way Docker clients do."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        registry: registries.Registry,
        username: str | None,
        password: str | None,
    ) -> None:
        self.http, self.registry = http, registry
        self.basic = (
            aiohttp.encode_basic_auth(username, password) if username and password is not None else None
        )
        self.ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(registry.ca_cert)) if registry.tls else False
        )
        self.tokens: dict[str, str] = {}

    async def request(
        self,
        method: str,
        path: str,
        scope: str,
        *,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        url = path if path.startswith("http") else f"{self.registry.url}{path}"
        headers = dict(headers or {})
        for _ in range(2):
            if scope in self.tokens:
                headers["Authorization"] = f"Bearer {self.tokens[scope]}"
            elif self.registry.auth == "basic" and self.basic:
                headers["Authorization"] = self.basic
            reply = await self._read(
                self.http.request(method, url, headers=headers, ssl=self.ssl, data=data, params=params)
            )
            challenge = reply.headers.get("WWW-Authenticate", "")
            if reply.status != 401 or not challenge.startswith("Bearer ") or scope in self.tokens:
                return reply
            params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            token = await self._read(
                self.http.get(
                    params["realm"],
                    params={"service": params["service"], "scope": scope},
                    headers={"Authorization": self.basic} if self.basic else {},
                )
            )
            if token.status != 200:
                return token
            self.tokens[scope] = json.loads(token.body)["token"]
        return reply

    @staticmethod
    async def _read(request: AbstractAsyncContextManager[aiohttp.ClientResponse]) -> Reply:
        async with request as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    async def push_blob(self, repo: str, data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        scope = f"repository:{repo}:pull,push"
        start = await self.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
        assert start.status == 202, start.body
        location = start.headers["Location"]
        if location.startswith("/"):
            location = f"{self.registry.url}{location}"
        put = await self.request(
            "PUT",
            location,
            scope,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status == 201, put.body
        return digest


def _client(
    http: aiohttp.ClientSession, registry: registries.Registry, password: str | None = None
) -> Challenged:
    return Challenged(
        http, registry, registry.username, password if password is not None else registry.password
    )


@pytest.mark.parametrize("name", ["source", "backup", "backup-basic", "backup-token"])
async def test_push_and_pull_through_each_auth_mode(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, name: str
) -> None:
    client = _client(http, registry_bed[name])
    repo = f"smoke/{name}"
    layer = b"layer bytes of " + name.encode()
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer_digest = await client.push_blob(repo, layer)
    config_digest = await client.push_blob(repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    scope = f"repository:{repo}:pull,push"
    put = await client.request(
        "PUT", f"/v2/{repo}/manifests/v1", scope, data=manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status == 201, put.body
    manifest_digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    assert put.headers["Docker-Content-Digest"] == manifest_digest

    reader = _client(http, registry_bed[name])
    got = await reader.request(
        "GET", f"/v2/{repo}/manifests/v1", f"repository:{repo}:pull", headers={"Accept": OCI_MANIFEST}
    )
    assert got.status == 200
    assert got.body == manifest
    blob = await reader.request("GET", f"/v2/{repo}/blobs/{layer_digest}", f"repository:{repo}:pull")
    assert blob.body == layer


@pytest.mark.parametrize("name", ["backup-basic", "backup-token"])
async def test_wrong_password_is_refused(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, name: str
) -> None:
    client = _client(http, registry_bed[name], password="wrong")
    resp = await client.request("GET", "/v2/", "registry:catalog:*")
    assert resp.status == 401


async def test_token_registry_lets_anonymous_pull_only_public_repositories(
    http: aiohttp.ClientSession, registry_bed: registries.Registries
) -> None:
    token_registry = registry_bed["backup-token"]
    writer = _client(http, token_registry)
    for repo in ("public/open", "private/closed"):
        await writer.push_blob(repo, b"shared bytes")
    digest = f"sha256:{hashlib.sha256(b'shared bytes').hexdigest()}"

    anonymous = Challenged(http, token_registry, None, None)
    public = await anonymous.request("GET", f"/v2/public/open/blobs/{digest}", "repository:public/open:pull")
    assert public.status == 200
    private = await anonymous.request(
        "GET", f"/v2/private/closed/blobs/{digest}", "repository:private/closed:pull"
    )
    assert private.status == 401
    push = await anonymous.request(
        "POST", "/v2/public/open/blobs/uploads/", "repository:public/open:pull,push"
    )
    assert push.status == 401


async def test_fixture_images_keep_their_digests(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    source = registry_bed["source"]
    accept = ", ".join([images.OCI_MANIFEST, images.OCI_INDEX, images.DOCKER_MANIFEST, images.DOCKER_LIST])
    assert {s.format for s in images.FIXTURES} == {"oci", "docker"}
    for key, built in source_images.items():
        repo, tag = key.split(":")
        async with http.get(f"{source.url}/v2/{repo}/manifests/{tag}", headers={"Accept": accept}) as resp:
            body = await resp.read()
        assert resp.status == 200, key
        assert resp.headers["Docker-Content-Digest"] == built.digest
        assert f"sha256:{hashlib.sha256(body).hexdigest()}" == built.digest
        assert resp.headers["Content-Type"] == built.media_type
        document = json.loads(body)
        if len(built.spec.platforms) > 1:
            listed = {
                f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
                for m in document["manifests"]
            }
            assert listed == built.manifests
        else:
            assert len(document["layers"]) == len(built.spec.layer_sizes)


def test_skopeo_sees_the_same_multiarch_index(
    registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    """An independent client (skopeo) copies the index with every platform, digests intact."""
    built = source_images["testbed/docker-multiarch:1.0.0"]
    source, target = registry_bed["source"], registry_bed["backup-basic"]
    procs.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            *source.skopeo_flags("src"),
            *target.skopeo_flags("dest"),
            f"docker://{built.reference(source)}",
            f"docker://{built.reference(target)}",
        ]
    )
    raw = procs.run(
        ["skopeo", "inspect", "--raw", *target.skopeo_flags(), f"docker://{built.reference(target)}"]
    )
    assert f"sha256:{hashlib.sha256(raw.encode()).hexdigest()}" == built.digest


def test_large_image_for_benchmarks(registry_bed: registries.Registries, tmp_path: Path) -> None:
    built = images.push((images.LARGE,), registry_bed["backup"], tmp_path)[f"{images.LARGE.repository}:1.0.0"]
    assert 45_000_000 < built.blob_bytes < 60_000_000
    backup = registry_bed["backup"]
    raw = procs.run(
        ["skopeo", "inspect", "--raw", *backup.skopeo_flags(), f"docker://{built.reference(backup)}"]
    )
    assert json.loads(raw)["layers"][0]["size"] > 40_000_000
