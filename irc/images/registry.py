"""An async OCI distribution client (manifests, blobs, uploads, mounts) for one registry host.

Guarantees:
- Every manifest read is checked against its digest (the requested one, else the registry's
  `Docker-Content-Digest`); every blob read is hashed and checked when its stream ends; an upload
  hashes what it sends and fails *before* the final PUT when that is not the named digest.
- Credentials follow the rule of `irc.images.auth`: only to the registry's origin (redirects to
  another origin are followed without them) and to the token realm the registry names. A `/v2/`
  ping learns the challenge first, so a streamed body never meets a first 401.
- Retries (tenacity; exponential backoff with jitter; bounded attempts) on 5xx, 429 (honouring
  Retry-After) and connection/payload errors, never on 401/403/404 or other 4xx. Requests that
  carry blob data (PATCH and the final PUT) are not retried here, as their body is a stream;
  `irc.images.copy` retries the whole blob transfer. A blob GET broken mid-stream resumes (Range).
- Deadlines: a request ends within `request_timeout` (120 s) from connecting to the last byte of its
  answer, so a registry trickling a manifest a byte a minute fails it; a blob's GET is held to that
  only until its headers, and an upload's PATCH not at all: irc.images.copy paces blob bodies.
- At most `max_concurrency` requests are in flight (a streamed blob body gives its slot back once
  its headers arrived); `stats` counts requests by method and blob bytes moved.

The errors it raises and its retry policy live in irc.images.errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
from multidict import CIMultiDictProxy
from tenacity import AsyncRetrying, stop_after_attempt
from yarl import URL

from irc.images.auth import (
    Authenticator,
    Challenge,
    RegistryOptions,
    TokenError,
    api_host,
    parse_challenges,
    read_body,
)
from irc.images.errors import (
    BlobUnknown,
    DigestMismatch,
    ManifestUnknown,
    NotFound,
    RegistryError,
    RetryPolicy,
    from_response,
    from_token_error,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MAX_MANIFEST_BYTES = 4 << 20
CHUNK_THRESHOLD = 8 << 20
"""Blobs smaller than this are uploaded monolithically (buffered); larger ones in PATCH chunks."""
CHUNK_SIZE = 16 << 20
REQUEST_TIMEOUT = 120.0
"""Seconds a request may take, from connecting to the last byte of its answer, unless it streams a
blob (a blob's GET is bounded until its headers; its bytes are paced by irc.images.copy)."""
READ_CHUNK = 1 << 16
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_REF = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_OCTETS = {"Content-Type": "application/octet-stream"}


@dataclass
class RequestStats:
    """What a client did; tests assert on it ("no blob bytes moved on re-copy")."""

    requests: Counter[str] = field(default_factory=Counter)
    """HTTP requests sent, by method (every attempt and every redirect hop counts)."""
    blob_bytes_read: int = 0
    blob_bytes_written: int = 0
    blobs_uploaded: int = 0
    blobs_mounted: int = 0


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


class Manifest(NamedTuple):
    data: bytes
    media_type: str
    digest: str


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def is_digest(ref: str) -> bool:
    return ref.startswith(("sha256:", "sha512:"))


def _check(repo: str, ref: str = "latest") -> None:
    if not _REPO.match(repo) or len(repo) > 255:
        raise ValueError(f"invalid repository name {repo!r}")
    if not _REF.match(ref):
        raise ValueError(f"invalid tag or digest {ref!r}")


class _Feed:
    """Yields exactly the bytes asked for from a chunk stream, hashing them. Keeps the first failure,
    because aiohttp reports an error raised inside a request body as a connection error."""

    def __init__(self, chunks: AsyncIterable[bytes], algorithm: str) -> None:
        self._it, self._carry = aiter(chunks), b""
        self.hasher, self.sent = hashlib.new(algorithm), 0
        self.error: BaseException | None = None

    async def take(self, n: int) -> AsyncIterator[bytes]:
        try:
            while n > 0:
                self._carry = self._carry or await anext(self._it)
                piece, self._carry = self._carry[:n], self._carry[n:]
                n, self.sent = n - len(piece), self.sent + len(piece)
                self.hasher.update(piece)
                yield piece
        except StopAsyncIteration:
            self.error = DigestMismatch(f"blob stream ended after {self.sent} bytes")
            raise self.error from None
        except Exception as e:
            self.error = e
            raise

    async def verify(self, digest: str, size: int) -> None:
        if self.sent == size and not self._carry:
            self._carry = await anext(self._it, b"")
        if self.sent != size or self._carry:
            raise DigestMismatch(f"blob {digest} is not {size} bytes long")
        if f"{digest.split(':')[0]}:{self.hasher.hexdigest()}" != digest:
            raise DigestMismatch(f"the bytes sent for {digest} have another digest")


class _Reply(NamedTuple):
    status: int
    headers: CIMultiDictProxy[str]
    url: URL
    body: bytes
    raw: aiohttp.ClientResponse  # released unless the call was streamed


class RegistryClient:
    """One registry host, reached through `session` with `auth`'s credentials and `options`' TLS; a
    token realm on another host with `realm_options(host)` (default: verified HTTPS only)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        *,
        auth: Authenticator | None = None,
        options: RegistryOptions | None = None,
        realm_options: Callable[[str], RegistryOptions] | None = None,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        chunk_threshold: int = CHUNK_THRESHOLD,
        chunk_size: int = CHUNK_SIZE,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.host = host
        self.request_timeout = request_timeout
        self.auth = auth or Authenticator(host)
        self.options = options or RegistryOptions()
        self.realm_options = realm_options
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self.chunk_threshold, self.chunk_size = chunk_threshold, chunk_size
        self.base = URL.build(scheme=self.options.scheme, authority=api_host(host))
        self._session = session
        self._ssl = None if self.options.plain_http else self.options.ssl_context()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._ping_lock = asyncio.Lock()
        self._pinged = False

    async def head_manifest(self, repo: str, ref: str) -> Descriptor | None:
        """The manifest's descriptor, None when the registry does not have it."""
        accept = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}
        try:
            r = await self._call("HEAD", self._url(repo, "manifests", ref), _pull(repo), None, accept)
        except NotFound:
            return None
        digest = r.headers.get("Docker-Content-Digest") or (ref if is_digest(ref) else None)
        if digest is None:  # the registry does not say: ask for the bytes
            data, media_type, digest = await self.get_manifest(repo, ref)
            return Descriptor(media_type, digest, len(data))
        return Descriptor(_media_type(r.headers), digest, int(r.headers.get("Content-Length", "0")))

    async def get_manifest(
        self, repo: str, ref: str, accept: tuple[str, ...] = ALL_MANIFEST_TYPES
    ) -> Manifest:
        """The manifest's bytes, media type and digest (checked against a digest `ref`)."""
        r = await self._call(
            "GET", self._url(repo, "manifests", ref), _pull(repo), None, {"Accept": ", ".join(accept)}
        )
        algorithm = ref.split(":")[0] if is_digest(ref) else "sha256"
        digest = compute_digest(r.body, algorithm)
        expected = ref if is_digest(ref) else r.headers.get("Docker-Content-Digest")
        if expected and expected.startswith(f"{algorithm}:") and expected != digest:
            raise DigestMismatch(f"manifest {repo}:{ref} has digest {digest}, not {expected}")
        media_type = _media_type(r.headers)
        if media_type in ("", "application/json", "text/plain", "application/octet-stream"):
            with contextlib.suppress(ValueError, AttributeError):
                media_type = str(json.loads(r.body).get("mediaType") or media_type)
        return Manifest(r.body, media_type, digest)

    async def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """Store `data` under `ref` (tag or its own digest); returns its sha256 digest."""
        digest = compute_digest(data)
        if is_digest(ref) and ref != compute_digest(data, ref.split(":")[0]):
            raise DigestMismatch(f"manifest bytes do not match {ref}")
        url, headers = self._url(repo, "manifests", ref), {"Content-Type": media_type}
        r = await self._call("PUT", url, _push(repo), data, headers, (200, 201, 202))
        told = r.headers.get("Docker-Content-Digest")
        if told and told.startswith("sha256:") and told != digest:
            raise DigestMismatch(f"registry stored {told} for manifest {digest}")
        return digest

    async def head_blob(self, repo: str, digest: str) -> int | None:
        """The blob's size, None when the repository does not have it."""
        try:
            r = await self._call("HEAD", self._url(repo, "blobs", digest), _pull(repo), not_found=BlobUnknown)
        except NotFound:
            return None
        return int(r.headers.get("Content-Length", "-1"))

    async def get_blob(self, repo: str, digest: str, size: int | None = None) -> AsyncGenerator[bytes, None]:
        """The blob's bytes, streamed; resumes with Range after a broken stream; checks the digest.
        `size` is the size its descriptor declares: a body longer than that fails as soon as it is
        (DigestMismatch), so a registry sending an endless body costs `size` bytes, not the disk."""
        hasher, offset, breaks = hashlib.new(digest.split(":")[0]), 0, 0
        url = self._url(repo, "blobs", digest)
        while True:
            headers = {"Accept-Encoding": "identity"} | ({"Range": f"bytes={offset}-"} if offset else {})
            r = await self._call("GET", url, _pull(repo), None, headers, (200, 206), BlobUnknown, stream=True)
            skip = offset if r.status == 200 else 0  # the server ignored Range: drop what we had
            try:
                async for chunk in r.raw.content.iter_chunked(READ_CHUNK):
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if size is not None and offset + len(chunk) > size:
                        raise DigestMismatch(f"blob {repo}@{digest} is longer than its {size} bytes")
                    if chunk:
                        hasher.update(chunk)
                        offset += len(chunk)
                        self.stats.blob_bytes_read += len(chunk)
                        yield chunk
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
                breaks += 1
                if breaks >= self.retry.attempts:
                    raise
                await (self.retry.sleep or asyncio.sleep)(
                    min(self.retry.initial * breaks, self.retry.maximum)
                )
            finally:
                r.raw.release()
        if f"{digest.split(':')[0]}:{hasher.hexdigest()}" != digest:
            raise DigestMismatch(f"blob {repo}@{digest} arrived with another digest")

    async def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Mount `digest` from `from_repo` of this registry. False when the registry answered 202
        (an upload session instead of a mount); that session is cancelled."""
        _check(from_repo, digest)
        url = self._url(repo, "blobs", "uploads/").with_query({"mount": digest, "from": from_repo})
        r = await self._call("POST", url, _push(repo) | _pull(from_repo), None, None, (201, 202))
        if r.status == 201:
            self.stats.blobs_mounted += 1
            return True
        await self._cancel(self._location(r), repo)
        return False

    async def upload_blob(
        self,
        repo: str,
        digest: str,
        chunks: AsyncIterable[bytes],
        size: int,
        *,
        chunk_threshold: int | None = None,
    ) -> None:
        """Upload `size` bytes of `chunks` as `digest`: monolithic (POST, then one PUT with the
        buffered body) below `chunk_threshold`, else PATCHes of `chunk_size` with Content-Range and
        a final PUT ?digest=. The hash and length of what was sent are checked before that PUT."""
        feed, scopes = _Feed(chunks, digest.split(":")[0]), _push(repo)
        location = self._location(
            await self._call("POST", self._url(repo, "blobs", "uploads/"), scopes, None, None, (202,))
        )
        try:
            data = b""
            if size < (self.chunk_threshold if chunk_threshold is None else chunk_threshold):
                data = b"".join([piece async for piece in feed.take(size)])
            else:
                while feed.sent < size:
                    start, n = feed.sent, min(self.chunk_size, size - feed.sent)
                    headers = _OCTETS | {
                        "Content-Range": f"{start}-{start + n - 1}",
                        "Content-Length": str(n),
                    }
                    body = feed.take(n)
                    r = await self._call(
                        "PATCH", location, scopes, body, headers, (202,), retry=False, feed=feed
                    )
                    location = self._location(r)
            await feed.verify(digest, size)
            url = location.update_query(digest=digest)
            await self._call("PUT", url, scopes, data, _OCTETS, (201,), retry=False)
        except Exception:
            await self._cancel(location, repo)
            raise
        self.stats.blobs_uploaded += 1
        self.stats.blob_bytes_written += size

    async def _cancel(self, location: URL, repo: str) -> None:
        # Best effort: registries purge abandoned upload sessions anyway.
        with contextlib.suppress(RegistryError, aiohttp.ClientError, TimeoutError):
            await self._call("DELETE", location, _push(repo), None, None, (200, 202, 204, 404), retry=False)

    def _url(self, repo: str, kind: str, ref: str) -> URL:
        _check(repo, ref.removesuffix("uploads/") or "latest")
        return self.base.with_path(f"/v2/{repo}/{kind}/{ref}")

    def _location(self, r: _Reply) -> URL:
        if not (location := r.headers.get("Location")):
            raise RegistryError(f"{r.status} without Location from {self.host}", status=r.status)
        return r.url.join(URL(location))

    def _same_origin(self, url: URL) -> bool:
        return (url.scheme, url.host, url.port) == (self.base.scheme, self.base.host, self.base.port)

    async def _call(
        self,
        method: str,
        url: URL,
        scopes: frozenset[str],
        body: bytes | AsyncIterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        not_found: type[NotFound] = ManifestUnknown,
        *,
        stream: bool = False,
        retry: bool = True,
        feed: _Feed | None = None,
    ) -> _Reply:
        attempts = self.retry.retrying() if retry else AsyncRetrying(stop=stop_after_attempt(1), reraise=True)
        # A registry that trickles a byte a minute never trips the session's read timeout.
        limit = self.request_timeout if isinstance(body, bytes | None) else None
        async for attempt in attempts:
            with attempt:
                async with self._deadline(method, url, limit) as deadline:
                    await self._ping()
                    async with self._slots:
                        resp = await self._authorized(method, url, scopes, body, dict(headers or {}), feed)
                        if stream and resp.status in expect:
                            deadline.reschedule(None)  # the body is the caller's to pace
                            return _Reply(resp.status, resp.headers, resp.url, b"", resp)
                        # Released even when the read fails or is cancelled: a response left to the
                        # garbage collector (held by a traceback's frames) leaks its connection.
                        try:
                            data = await read_body(
                                resp, MAX_MANIFEST_BYTES if resp.status in expect else 64 << 10
                            )
                        finally:
                            resp.release()
                        if resp.status not in expect:
                            raise from_response(resp.status, data, resp.headers, not_found)
                        if len(data) > MAX_MANIFEST_BYTES:
                            raise RegistryError(f"answer from {self.host} is over {MAX_MANIFEST_BYTES} bytes")
                        return _Reply(resp.status, resp.headers, resp.url, data, resp)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.asynccontextmanager
    async def _deadline(self, method: str, url: URL, seconds: float | None) -> AsyncIterator[asyncio.Timeout]:
        try:
            async with asyncio.timeout(seconds) as deadline:
                yield deadline
        except TimeoutError:
            if not deadline.expired():
                raise
            raise TimeoutError(f"{method} {url.path} to {self.host} took over {seconds:g} s") from None

    async def _authorized(
        self,
        method: str,
        url: URL,
        scopes: frozenset[str],
        body: bytes | AsyncIterator[bytes] | None,
        headers: dict[str, str],
        feed: _Feed | None,
    ) -> aiohttp.ClientResponse:
        """Send; on a first 401 with a challenge, learn it and resend (when the body allows)."""
        resp = await self._send(method, url, scopes, body, headers, feed)
        if resp.status != 401 or not self._same_origin(resp.url):
            return resp  # a redirect target's 401: its challenge is not the registry's to learn
        self.auth.forget(scopes)  # the token was refused: whatever happens next asks for a new one
        challenges = [c for h in resp.headers.getall("WWW-Authenticate", []) for c in _challenges(h)]
        if not challenges or not isinstance(body, bytes | None):
            return resp
        resp.release()
        self.auth.learn(challenges[0])
        if extra := challenges[0].params.get("scope"):
            scopes = scopes | set(extra.split(" "))
        return await self._send(method, url, scopes, body, headers, feed)

    async def _send(
        self,
        method: str,
        url: URL,
        scopes: frozenset[str],
        body: bytes | AsyncIterator[bytes] | None,
        headers: dict[str, str],
        feed: _Feed | None,
    ) -> aiohttp.ClientResponse:
        for _ in range(6):
            sent = dict(headers)
            if self._same_origin(url):  # credentials go to the registry's own origin only
                try:
                    value = await self.auth.authorization(
                        self._session,
                        scopes,
                        options=self.options,
                        ssl_context=self._ssl,
                        realm_options=self.realm_options,
                    )
                except TokenError as e:
                    raise from_token_error(e) from e
                if value:
                    sent["Authorization"] = value
            elif url.scheme != "https" and not self.options.plain_http:
                raise RegistryError(f"refusing a plain-HTTP redirect to {url.host}")
            self.stats.requests[method] += 1
            ssl = (self._ssl or False) if self._same_origin(url) else url.scheme == "https"
            try:
                resp = await self._session.request(
                    method,
                    url,
                    headers=sent,
                    data=body,
                    ssl=ssl,
                    allow_redirects=False,
                    auto_decompress=False,
                )
            except aiohttp.ClientError:
                if feed is not None and feed.error is not None:
                    raise feed.error from None
                raise
            if (
                resp.status not in _REDIRECTS
                or method not in ("GET", "HEAD")
                or "Location" not in resp.headers
            ):
                return resp
            url = resp.url.join(URL(resp.headers["Location"]))
            resp.release()
        raise RegistryError(f"too many redirects from {self.host}")

    async def _ping(self) -> None:
        """GET /v2/ once, to learn the registry's challenge before the first real request."""
        if self._pinged or self.auth.challenge is not None:
            return
        async with self._ping_lock:
            if self._pinged:
                return
            self.stats.requests["GET"] += 1
            async with self._session.get(
                self.base.with_path("/v2/"), ssl=self._ssl or False, allow_redirects=False
            ) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise from_response(resp.status, await resp.read(), resp.headers, NotFound)
                found = [c for h in resp.headers.getall("WWW-Authenticate", []) for c in _challenges(h)]
                if resp.status == 401 and found and self.auth.challenge is None:
                    self.auth.learn(found[0])
            self._pinged = True


def _pull(repo: str) -> frozenset[str]:
    return frozenset({f"repository:{repo}:pull"})


def _push(repo: str) -> frozenset[str]:
    return frozenset({f"repository:{repo}:pull,push"})


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip()


def _challenges(header: str) -> list[Challenge]:
    try:
        return [c for c in parse_challenges(header) if c.scheme in ("basic", "bearer")]
    except ValueError:
        return []
