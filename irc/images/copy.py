"""Byte-exact image copy from one registry repository to another.

Guarantees:
- Byte-exact: manifests and indexes are written with the bytes read, so every digest is kept.
  All platforms are copied by default, and descriptors of any media type (attestations, artifact
  manifests) are copied by descriptor.
- Platform filter (`platforms={"linux/arm64", ...}`; "os/arch" matches any variant, "os/arch/v"
  only that variant): an index cannot stay byte-exact with fewer children, so the selected child
  manifests are copied unchanged and a *new* index is written holding exactly their descriptors
  (the source index's other fields kept). `CopyResult.index_rewritten` is then True and
  `target_digest` differs from `source_digest`; the child digests are still the source's. When the
  filter selects every child the index is copied byte-exact. A nested index is kept whole. A
  filter that selects nothing raises NoMatchingPlatform; for a single-manifest image the filter
  is checked against its config.
- Never a dangling manifest: a manifest is PUT only after every blob it names exists in the
  destination, and an index only after its children; the tag (or digest) is written last.
- Cheap re-copies: a manifest the destination already has (HEAD by digest) is trusted with its
  blobs; a blob the destination has is skipped (HEAD); a blob the destination registry holds in
  another repository (the source repository on the same registry, or a `BlobLocationCache` entry
  for that host) is mounted; anything else is streamed source → destination in constant memory
  with its digest verified, `layer_concurrency` blobs at a time. A failed transfer is retried as a
  whole (fresh GET and upload session) on retryable errors, up to `blob_attempts` times.
- Paced: a blob transfer that goes `pace.seconds` without moving `pace.bytes` more (a registry that
  sends or takes a byte a minute, which no read timeout notices) raises BlobStalled, blamed on the
  registry it was waiting for, and is retried as a whole like any broken transfer.
- Non-distributable (foreign) layers are not copied; `CopyResult.notes` says so.
- Blame: every error escaping a call to one of the two registries is marked with its side;
  `failed_side(error)` says "Source" or "Target" (a source read that fails while its bytes stream
  into the target's upload stays the source's). Malformed source content (manifests, indexes,
  configs) raises UnsupportedManifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from irc.images.auth import normalize_host
from irc.images.errors import Denied, NotFound, Unauthorized
from irc.images.registry import (
    ALL_MANIFEST_TYPES,
    INDEX_TYPES,
    Descriptor,
    Manifest,
    RegistryClient,
    compute_digest,
)
from irc.runtime.errors import ReconcileError, first_failure

FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
SCHEMA1_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
MAX_DEPTH = 4
SOURCE, TARGET = "Source", "Target"
_SIDE = "irc_registry_side"  # the attribute failed_side reads
_T = TypeVar("_T")
_DIGEST = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


class UnsupportedManifest(ReconcileError):
    """Docker schema 1, or a document that is neither a manifest nor an index: terminal, as copying
    the same content again cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__("UnsupportedManifest", message, terminal=True)


class NoMatchingPlatform(ReconcileError):
    """The platform filter selects nothing in the source image: terminal until the spec changes."""

    def __init__(self, message: str) -> None:
        super().__init__("NoMatchingPlatform", message, terminal=True)


def failed_side(error: BaseException) -> str | None:
    """Which registry an error raised by copy_image came from: SOURCE ("Source"), TARGET
    ("Target"), or None when it did not come out of a registry call."""
    side = getattr(error, _SIDE, None)
    return side if isinstance(side, str) else None


@contextlib.contextmanager
def _blame(side: str) -> Iterator[None]:
    """Mark an error escaping a call to one registry with that registry's side. The first mark
    wins: a source error re-raised by the target's upload (which reads the source stream) stays
    the source's."""
    try:
        yield
    except Exception as e:
        if failed_side(e) is None:
            with contextlib.suppress(AttributeError):
                setattr(e, _SIDE, side)
        raise


async def _on(side: str, call: Awaitable[_T]) -> _T:
    with _blame(side):
        return await call


@dataclass(frozen=True)
class Pace:
    """The slowest a blob transfer may go: every `bytes` of it must move within `seconds`. A blob
    under the target's chunk threshold is PUT in one request after it is read: that request must
    end within `seconds` too (8 MiB in 120 s, about 70 KB/s, with the defaults)."""

    bytes: int = 64 << 10
    seconds: float = 120.0


class BlobStalled(TimeoutError):
    """A blob transfer went slower than its Pace. A TimeoutError, so it is retried as one."""


class _Meter:
    """The bytes one attempt at a blob transfer has moved, held to a Pace."""

    def __init__(self, pace: Pace) -> None:
        self.pace, self.moved = pace, 0
        self.reading = False  # waiting for the source (else for the target)
        self._unpaced = 0
        self._deadline: asyncio.Timeout | None = None

    def add(self, n: int) -> None:
        self.moved += n
        self._unpaced += n
        if self._unpaced >= self.pace.bytes and self._deadline is not None:
            self._unpaced = 0
            self._deadline.reschedule(asyncio.get_running_loop().time() + self.pace.seconds)

    @contextlib.asynccontextmanager
    async def enforce(self, digest: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.pace.seconds) as deadline:
                self._deadline = deadline
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            error = BlobStalled(
                f"blob {digest} moved less than {self.pace.bytes} bytes in {self.pace.seconds:g} s"
            )
            setattr(error, _SIDE, SOURCE if self.reading else TARGET)
            raise error from None


@dataclass(frozen=True)
class Progress:
    bytes_done: int
    """Blob bytes copied, skipped or mounted so far (skipped and mounted blobs count in full). It
    steps back when a transfer is retried. Reported for every chunk (64 KiB): keep the latest."""
    bytes_total: int
    blobs_done: int
    blobs_total: int


@dataclass(frozen=True)
class CopyResult:
    source_digest: str
    target_digest: str
    """Equals source_digest unless a platform filter made a new index (index_rewritten)."""
    media_type: str
    platforms: tuple[str, ...]
    """Platforms of the copied index children; empty for a single manifest without a filter."""
    bytes_total: int
    bytes_copied: int
    """Blob bytes actually streamed into the destination."""
    blobs_copied: int
    blobs_skipped: int
    blobs_mounted: int
    manifests_written: int = 0
    index_rewritten: bool = False
    notes: tuple[str, ...] = ()


class BlobLocationCache:
    """digest → (registry host, repository) where the blob was seen or pushed, most recent first;
    like skopeo's blob-info cache. In memory, bounded (`max_blobs` digests, `per_blob` places)."""

    def __init__(self, max_blobs: int = 100_000, per_blob: int = 8) -> None:
        self._places: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
        self._max_blobs, self._per_blob = max_blobs, per_blob

    def record(self, digest: str, host: str, repo: str) -> None:
        place = (normalize_host(host), repo)
        places = [p for p in self._places.pop(digest, []) if p != place]
        self._places[digest] = [place, *places][: self._per_blob]
        while len(self._places) > self._max_blobs:
            self._places.popitem(last=False)

    def repositories(self, digest: str, host: str) -> list[str]:
        """Repositories of `host` known to hold `digest`, most recent first."""
        key = normalize_host(host)
        return [repo for h, repo in self._places.get(digest, []) if h == key]


def platform_string(platform: Mapping[str, Any] | None) -> str | None:
    if not platform or not platform.get("os") or not platform.get("architecture"):
        return None
    parts = [str(platform["os"]), str(platform["architecture"])]
    return "/".join([*parts, str(platform["variant"])] if platform.get("variant") else parts)


def platform_matches(platform: str | None, wanted: set[str]) -> bool:
    if platform is None:
        return False
    return any(platform == w or platform.startswith(f"{w}/") for w in wanted)


async def image_platform(client: RegistryClient, repo: str, manifest: Manifest) -> str | None:
    """The "os/arch[/variant]" of a single image manifest, read from its config blob (`client` is
    the source registry). A config that is not a JSON object raises UnsupportedManifest."""
    config = _document(manifest).get("config")
    if not isinstance(config, Mapping) or config.get("mediaType") not in IMAGE_CONFIG_TYPES:
        return None
    desc = _descriptor(config, f"manifest {manifest.digest}")
    if desc.size > 1 << 20:
        return None
    with _blame(SOURCE):
        async with aclosing(client.get_blob(repo, desc.digest, desc.size)) as chunks:
            data = b"".join([chunk async for chunk in chunks])
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise UnsupportedManifest(f"config {desc.digest} of manifest {manifest.digest} is not JSON") from e
    if not isinstance(doc, Mapping):
        raise UnsupportedManifest(f"config {desc.digest} of manifest {manifest.digest} is not a JSON object")
    return platform_string(doc)


def _platform(entry: Mapping[str, Any], where: str) -> str | None:
    """The platform string of an index entry; UnsupportedManifest when its platform is no object."""
    platform = entry.get("platform")
    if platform is not None and not isinstance(platform, Mapping):
        raise UnsupportedManifest(f"malformed platform {platform!r:.80} in {where}")
    return platform_string(platform)


def _document(manifest: Manifest) -> dict[str, Any]:
    if manifest.media_type in SCHEMA1_TYPES:
        raise UnsupportedManifest(f"Docker schema 1 manifest {manifest.digest} is not supported")
    try:
        doc = json.loads(manifest.data)
    except (ValueError, RecursionError) as e:
        raise UnsupportedManifest(f"manifest {manifest.digest} is not JSON") from e
    if not isinstance(doc, dict) or doc.get("schemaVersion") == 1:
        raise UnsupportedManifest(f"manifest {manifest.digest} is not a schema 2 / OCI document")
    return doc


def _descriptor(raw: object, where: str) -> Descriptor:
    if not isinstance(raw, Mapping):
        raise UnsupportedManifest(f"malformed descriptor in {where}")
    digest, size = raw.get("digest"), raw.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise UnsupportedManifest(f"descriptor without digest/size in {where}")
    if not _DIGEST.match(digest):
        raise UnsupportedManifest(f"malformed digest {digest!r:.80} in {where}")
    return Descriptor(str(raw.get("mediaType", "")), digest, size)


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnsupportedManifest(f"{key} of {where} is not a list")
    return value


@dataclass
class _Node:
    manifest: Manifest
    blobs: list[Descriptor] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    present: bool = False  # the destination already has this manifest (by digest)

    def walk(self) -> list[_Node]:
        return [self, *(n for c in self.children for n in c.walk())]


class _Copier:
    def __init__(
        self,
        src: RegistryClient,
        src_repo: str,
        dst: RegistryClient,
        dst_repo: str,
        cache: BlobLocationCache | None,
        progress: Callable[[Progress], None] | None,
        layer_concurrency: int,
        blob_attempts: int,
        pace: Pace,
    ) -> None:
        self.src, self.src_repo, self.dst, self.dst_repo = src, src_repo, dst, dst_repo
        self.cache, self.progress = cache, progress
        self.slots = asyncio.Semaphore(layer_concurrency)
        self.blob_retry = dataclasses.replace(dst.retry, attempts=blob_attempts)
        self.pace = pace
        self.notes: list[str] = []
        self.bytes_total = self.bytes_done = self.blobs_total = self.blobs_done = 0
        self.copied = self.skipped = self.mounted = self.bytes_copied = self.manifests_written = 0
        self.rewritten = False

    async def plan(self, manifest: Manifest, wanted: set[str] | None, depth: int = 0) -> _Node:
        if depth > MAX_DEPTH:
            raise UnsupportedManifest(f"indexes nested deeper than {MAX_DEPTH}")
        doc = _document(manifest)
        if manifest.media_type in INDEX_TYPES or (
            "manifests" in doc and "layers" not in doc and manifest.media_type not in ALL_MANIFEST_TYPES
        ):
            return await self._plan_index(manifest, doc, wanted, depth)
        node = _Node(manifest)
        where = f"manifest {manifest.digest}"
        raw = ([doc["config"]] if "config" in doc else []) + _list(doc, "layers", where)
        for entry in raw + _list(doc, "blobs", where):
            desc = _descriptor(entry, where)
            if desc.media_type in FOREIGN_LAYER_TYPES:
                self.notes.append(f"non-distributable layer {desc.digest} not copied")
                continue
            node.blobs.append(desc)
            if self.cache is not None:
                self.cache.record(desc.digest, self.src.host, self.src_repo)
        return node

    async def _plan_index(
        self, manifest: Manifest, doc: dict[str, Any], wanted: set[str] | None, depth: int
    ) -> _Node:
        where = f"index {manifest.digest}"
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise UnsupportedManifest(f"{where} has no manifests list")
        descs = [_descriptor(e, where) for e in entries]
        found = [_platform(e, where) for e in entries]  # validated whether or not a filter reads them
        selected = [
            e
            for e, d, p in zip(entries, descs, found, strict=True)
            if wanted is None
            or d.media_type in INDEX_TYPES  # a nested index is kept whole (its digest must not change)
            or platform_matches(p, wanted)
        ]
        if not selected:
            raise NoMatchingPlatform(f"no manifest for {sorted(wanted or ())} in {manifest.digest}")
        if len(selected) != len(entries):
            data = json.dumps({**doc, "manifests": selected}, separators=(",", ":")).encode()
            self.notes.append(f"index {manifest.digest} rewritten for platforms {sorted(wanted or ())}")
            manifest = Manifest(data, manifest.media_type, compute_digest(data))
            self.rewritten = True

        async def child(entry: Mapping[str, Any]) -> _Node:
            desc = _descriptor(entry, f"index {manifest.digest}")
            accept = (desc.media_type, *ALL_MANIFEST_TYPES) if desc.media_type else ALL_MANIFEST_TYPES
            got = await _on(SOURCE, self.src.get_manifest(self.src_repo, desc.digest, accept))
            return await self.plan(got, None, depth + 1)

        children = await asyncio.gather(*(child(e) for e in selected))
        platforms = [p for e in selected if (p := _platform(e, where)) and p != "unknown/unknown"]
        return _Node(manifest, children=list(children), platforms=platforms)

    def advance(self, nbytes: int, blobs: int = 0) -> None:
        self.bytes_done += nbytes
        self.blobs_done += blobs
        if self.progress is not None:
            self.progress(Progress(self.bytes_done, self.bytes_total, self.blobs_done, self.blobs_total))

    async def run(self, root: _Node, top_ref: str) -> None:
        nodes = root.walk()
        heads = await asyncio.gather(
            *(_on(TARGET, self.dst.head_manifest(self.dst_repo, n.manifest.digest)) for n in nodes)
        )
        for node, head in zip(nodes, heads, strict=True):
            node.present = head is not None
        if root.present:  # trust a manifest the destination has, with everything under it
            for node in nodes:
                node.present = True
        every: dict[str, Descriptor] = {b.digest: b for n in nodes for b in n.blobs}
        needed = {b.digest: b for n in nodes if not n.present for b in n.blobs}
        self.bytes_total = sum(b.size for b in every.values())
        self.blobs_total = len(every)
        present = [b for d, b in every.items() if d not in needed]
        self.skipped += len(present)
        self.advance(sum(b.size for b in present), len(present))
        async with asyncio.TaskGroup() as group:
            tasks = {d: group.create_task(self._blob(b), name=f"blob {d[:19]}") for d, b in needed.items()}

            async def put(node: _Node, ref: str) -> None:
                for child in node.children:
                    await put(child, child.manifest.digest)
                for blob in node.blobs:
                    if blob.digest in tasks:
                        await tasks[blob.digest]
                if node.present and (ref == node.manifest.digest or await self._tag_is(ref, node)):
                    return
                data, media_type = node.manifest.data, node.manifest.media_type
                await _on(TARGET, self.dst.put_manifest(self.dst_repo, ref, data, media_type))
                self.manifests_written += 1

            group.create_task(put(root, top_ref), name="manifests")

    async def _tag_is(self, ref: str, node: _Node) -> bool:
        head = await _on(TARGET, self.dst.head_manifest(self.dst_repo, ref))
        return head is not None and head.digest == node.manifest.digest

    async def _blob(self, blob: Descriptor) -> None:
        async with self.slots:
            if await _on(TARGET, self.dst.head_blob(self.dst_repo, blob.digest)) is not None:
                self.skipped += 1
                self._record(blob)
                self.advance(blob.size, 1)
                return
            for repo in self._mount_sources(blob.digest):
                try:
                    if await _on(TARGET, self.dst.mount_blob(self.dst_repo, blob.digest, repo)):
                        self.mounted += 1
                        self._record(blob)
                        self.advance(blob.size, 1)
                        return
                except (Unauthorized, Denied, NotFound):
                    continue  # not readable there: upload instead
            async for attempt in self.blob_retry.retrying():
                with attempt:
                    meter = _Meter(self.pace)
                    try:
                        async with meter.enforce(blob.digest), aclosing(self._stream(blob, meter)) as chunks:
                            upload = self.dst.upload_blob(self.dst_repo, blob.digest, chunks, blob.size)
                            await _on(TARGET, upload)  # the source's errors are marked in _stream
                    except BaseException:
                        self.advance(-meter.moved)
                        raise
            self.copied += 1
            self.bytes_copied += blob.size
            self._record(blob)
            self.advance(0, 1)

    async def _stream(self, blob: Descriptor, meter: _Meter) -> AsyncGenerator[bytes, None]:
        async with aclosing(self.src.get_blob(self.src_repo, blob.digest, blob.size)) as chunks:
            while True:
                meter.reading = True
                with _blame(SOURCE):  # only the read: not what the consumer throws in at the yield
                    chunk = await anext(chunks, None)
                meter.reading = False  # not in a finally: a stall met in the read is the source's
                if chunk is None:
                    break
                meter.add(len(chunk))
                self.advance(len(chunk))
                yield chunk

    def _mount_sources(self, digest: str) -> list[str]:
        out: list[str] = []
        if normalize_host(self.src.host) == normalize_host(self.dst.host) and self.src_repo != self.dst_repo:
            out.append(self.src_repo)
        if self.cache is not None:
            out += [
                r for r in self.cache.repositories(digest, self.dst.host) if r not in (self.dst_repo, *out)
            ]
        return out[:3]

    def _record(self, blob: Descriptor) -> None:
        if self.cache is not None:
            self.cache.record(blob.digest, self.dst.host, self.dst_repo)


async def copy_image(
    src: RegistryClient,
    src_repo: str,
    src_ref: str,
    dst: RegistryClient,
    dst_repo: str,
    dst_tag_or_none: str | None,
    *,
    platforms: set[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    blob_cache: BlobLocationCache | None = None,
    layer_concurrency: int = 4,
    blob_attempts: int = 3,
    pace: Pace = Pace(),
) -> CopyResult:
    """Copy `src_repo:src_ref` to `dst_repo` (tagged `dst_tag_or_none`, else by digest only).

    Raises the registry errors of irc.images.registry (Unauthorized, ManifestUnknown, ...), marked
    with the registry they came from (`failed_side`), UnsupportedManifest (also for malformed
    manifests, indexes and configs) or NoMatchingPlatform; nothing is tagged when it raises.
    """
    top = await _on(SOURCE, src.get_manifest(src_repo, src_ref))
    copier = _Copier(
        src, src_repo, dst, dst_repo, blob_cache, progress, layer_concurrency, blob_attempts, pace
    )
    root = await copier.plan(top, platforms)
    found = root.platforms
    if platforms is not None and not root.children:
        platform = await image_platform(src, src_repo, top)
        if platform is not None and not platform_matches(platform, platforms):
            raise NoMatchingPlatform(f"{src_repo}@{top.digest} is {platform}, not {sorted(platforms)}")
        found = [platform] if platform else []
    try:
        await copier.run(root, dst_tag_or_none or root.manifest.digest)
    except BaseExceptionGroup as group:
        raise (first_failure(group) or group) from None
    return CopyResult(
        source_digest=top.digest,
        target_digest=root.manifest.digest,
        media_type=root.manifest.media_type,
        platforms=tuple(sorted(set(found))),
        bytes_total=copier.bytes_total,
        bytes_copied=copier.bytes_copied,
        blobs_copied=copier.copied,
        blobs_skipped=copier.skipped,
        blobs_mounted=copier.mounted,
        manifests_written=copier.manifests_written,
        index_rewritten=copier.rewritten,
        notes=tuple(copier.notes),
    )
