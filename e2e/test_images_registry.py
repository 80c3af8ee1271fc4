"""irc.images.registry against the test bed's registries in every auth mode: manifests and blobs read
with their digests, monolithic and chunked uploads, cross-repository mounts, token caching, TLS and
plain-HTTP opt-ins, wrong credentials, and ECR tokens from the ECR emulator."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hack.testbed import ecr, images, registries
from irc.ecr.credentials import AwsClients, AwsCredentials
from irc.ecr.tokens import EcrTokenProvider
from irc.images.auth import Authenticator, Credentials, RegistryOptions
from irc.images.errors import RetryPolicy, Unauthorized
from irc.images.registry import OCI_MANIFEST, RegistryClient

pytestmark = pytest.mark.e2e
BACKUPS = ["backup", "backup-basic", "backup-token"]


def client_for(
    http: aiohttp.ClientSession,
    registry: registries.Registry,
    *,
    password: str | None = None,
    anonymous: bool = False,
    **kwargs: object,
) -> RegistryClient:
    """A RegistryClient configured for a test bed registry (plain HTTP opted into explicitly)."""
    creds = None
    if registry.username and not anonymous:
        creds = Credentials(registry.username, password if password is not None else registry.password or "")
    if registry.tls:
        options = RegistryOptions(ca_file=str(registry.ca_cert))
    else:
        options = RegistryOptions(plain_http=True)
    realm = RegistryOptions(plain_http=True)  # the token server, plain HTTP on 127.0.0.1
    return RegistryClient(
        http,
        registry.host,
        auth=Authenticator(registry.host, creds),
        options=options,
        realm_options=lambda host: realm,
        **kwargs,  # type: ignore[arg-type]
    )


def blob_of(size: int, seed: str) -> bytes:
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


async def chunks_of(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_fixture_manifests_and_blobs_read_with_their_digests(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, source_images: dict[str, images.Built]
) -> None:
    source = client_for(http, registry_bed["source"])
    for key, built in source_images.items():
        repo, tag = key.split(":")
        head = await source.head_manifest(repo, tag)
        assert head is not None and head.digest == built.digest and head.media_type == built.media_type
        manifest = await source.get_manifest(repo, tag)
        assert (manifest.digest, manifest.media_type) == (built.digest, built.media_type)
        for platform_digest in built.manifests.values():
            child = await source.get_manifest(repo, platform_digest)
            config = json.loads(child.data)["config"]
            data = b"".join([c async for c in source.get_blob(repo, config["digest"])])
            assert len(data) == config["size"] == await source.head_blob(repo, config["digest"])
    assert await source.head_manifest("testbed/oci-single", "no-such-tag") is None
    assert await source.head_blob("testbed/oci-single", "sha256:" + "0" * 64) is None


@pytest.mark.parametrize("name", BACKUPS)
async def test_monolithic_and_chunked_uploads_read_back(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, name: str
) -> None:
    client = client_for(http, registry_bed[name], chunk_threshold=1 << 20, chunk_size=1 << 20)
    repo = f"irc-registry/{name}/uploads"
    small, large = blob_of(10_000, f"small {name}"), blob_of(3 * (1 << 20) + 5, f"large {name}")
    digests = []
    for data in (small, large):
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        await client.upload_blob(repo, digest, chunks_of(data), len(data))
        assert await client.head_blob(repo, digest) == len(data)
        assert b"".join([c async for c in client.get_blob(repo, digest)]) == data
        digests.append(digest)
    # the large blob went in four PATCHes (1 MiB, 1 MiB, 1 MiB, 5 bytes), the small one in none
    assert client.stats.requests["PATCH"] == 4
    assert client.stats.blobs_uploaded == 2
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digests[0],
                "size": len(small),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digests[1],
                    "size": len(large),
                }
            ],
        }
    ).encode()
    digest = await client.put_manifest(repo, "v1", manifest, OCI_MANIFEST)
    assert digest == f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    head = await client.head_manifest(repo, "v1")
    assert head is not None and (head.digest, head.media_type, head.size) == (
        digest,
        OCI_MANIFEST,
        len(manifest),
    )
    assert (await client.get_manifest(repo, digest)).data == manifest


@pytest.mark.parametrize("name", BACKUPS)
async def test_cross_repository_mount(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, name: str
) -> None:
    client = client_for(http, registry_bed[name])
    data = blob_of(5000, f"mount {name}")
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    await client.upload_blob(f"irc-registry/{name}/mount-a", digest, chunks_of(data), len(data))
    assert await client.mount_blob(f"irc-registry/{name}/mount-b", digest, f"irc-registry/{name}/mount-a")
    assert await client.head_blob(f"irc-registry/{name}/mount-b", digest) == len(data)
    assert client.stats.blobs_mounted == 1
    unknown = f"sha256:{hashlib.sha256(b'nowhere ' + name.encode()).hexdigest()}"
    assert not await client.mount_blob(
        f"irc-registry/{name}/mount-b", unknown, f"irc-registry/{name}/mount-a"
    )


async def test_tokens_are_cached_per_scope(
    http: aiohttp.ClientSession, registry_bed: registries.Registries
) -> None:
    client = client_for(http, registry_bed["backup-token"])
    for _ in range(3):
        await client.head_manifest("irc-registry/tokens/a", "latest")
    assert client.auth.token_requests == 1
    await client.head_manifest("irc-registry/tokens/b", "latest")
    assert client.auth.token_requests == 2


async def test_anonymous_token_access_is_pull_of_public_repositories(
    http: aiohttp.ClientSession, registry_bed: registries.Registries
) -> None:
    registry = registry_bed["backup-token"]
    writer = client_for(http, registry)
    data = b"public bytes"
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    for repo in ("public/irc-registry", "irc-registry/private"):
        await writer.upload_blob(repo, digest, chunks_of(data), len(data))
    anonymous = client_for(http, registry, anonymous=True)
    assert await anonymous.head_blob("public/irc-registry", digest) == len(data)
    with pytest.raises(Unauthorized):
        await anonymous.head_blob("irc-registry/private", digest)
    with pytest.raises(Unauthorized):
        await anonymous.upload_blob("public/irc-registry", digest, chunks_of(data), len(data))


@pytest.mark.parametrize("name", ["backup-basic", "backup-token"])
async def test_wrong_credentials_are_unauthorized(
    http: aiohttp.ClientSession, registry_bed: registries.Registries, name: str
) -> None:
    client = client_for(http, registry_bed[name], password="wrong")
    with pytest.raises(Unauthorized):
        await client.head_manifest("irc-registry/denied", "latest")
    assert client.stats.requests["HEAD"] <= 2  # never retried


async def test_tls_needs_the_ca_or_an_explicit_insecure_opt_in(
    http: aiohttp.ClientSession, registry_bed: registries.Registries
) -> None:
    registry = registry_bed["backup-basic"]
    creds = Credentials(registry.username or "", registry.password or "")
    untrusted = RegistryClient(http, registry.host, auth=Authenticator(registry.host, creds))
    with pytest.raises(aiohttp.ClientSSLError):
        await untrusted.head_manifest("irc-registry/tls", "latest")
    insecure = RegistryClient(
        http, registry.host, auth=Authenticator(registry.host, creds), options=RegistryOptions(insecure=True)
    )
    assert await insecure.head_manifest("irc-registry/tls", "latest") is None


async def test_plain_http_is_never_assumed(
    http: aiohttp.ClientSession, registry_bed: registries.Registries
) -> None:
    """Even a 127.0.0.1 registry is spoken to over TLS unless plain HTTP was opted into."""
    registry = registry_bed["backup"]
    client = RegistryClient(http, registry.host, retry=RetryPolicy(attempts=1))
    assert client.base.scheme == "https"
    with pytest.raises(aiohttp.ClientError):
        await client.head_manifest("irc-registry/plain", "latest")


async def test_ecr_token_provider_against_the_emulator(ecr_server: ecr.ECR) -> None:
    provider = EcrTokenProvider(
        region=ecr_server.region,
        clients=AwsClients(endpoint_url=ecr_server.endpoint),
        credentials=AwsCredentials(
            ecr.CREDENTIALS["aws_access_key_id"], ecr.CREDENTIALS["aws_secret_access_key"]
        ),
    )
    first, second = await provider.get(), await provider.get()
    assert first == second and first.username == "AWS" and first.password
    # moto stamps every token `expiresAt: 2015-01-01`, so an honest cache keeps none of them
    assert provider.fetches == 2
