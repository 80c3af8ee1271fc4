"""A Kubernetes client on raw dicts, for any group/version/kind (CRDs included).

Requests are built and responses decoded by small pure functions shared by every verb (like
lightkube's prepare_request/handle_response) and sent through one `Transport`. Discovery answers
which resource (plural, namespaced) a kind is, cached per group/version and refreshed once on a
miss, so a CRD installed after start is found. Errors are the types of irc.runtime.errors.

Writes are direct; reads of watched kinds should go to an informer's cache instead.

`list` and `watch` with `metadata_only=True` ask the server for PartialObjectMetadata (client-go's
metadata client): each object is only `{apiVersion, kind, metadata}`, with the apiVersion and kind of
the listed kind rather than meta.k8s.io/v1 PartialObjectMetadata (as controller-runtime sets the
GroupVersionKind), so handlers and `Request.for_object` treat it like a whole object of that kind.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import json
import logging
import random
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import orjson

from irc.runtime import errors, typed
from irc.runtime.clock import Clock, RealClock
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.transport import Request, Response, StreamResponse, Transport
from irc.runtime.typed import TypedObject

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PatchType = Literal["merge", "json", "strategic", "apply"]
PATCH_CONTENT_TYPES: Mapping[PatchType, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
FIELD_MANAGER = "irc"
PAGE_SIZE = 500
REQUEST_TIMEOUT = 60.0
MAX_RETRIES = 10  # client-go retries 429s and Retry-After 5xx answers up to 10 times
CONNECTION_RETRIES = 4
# The list and watch views of metadata-only reads. The plain JSON fallback lets a server without them
# (an aggregated API) answer whole objects, which are then cut down to their metadata here.
METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"
METADATA_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: /api/v1 or /apis/<group>/<version>, its plural, its scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{urllib.parse.quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(urllib.parse.quote(name, safe=""))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


@dataclass(frozen=True)
class ObjectList:
    items: list[Obj]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK (ERROR events are raised as ApiError)
    object: Obj


class TokenBucket:
    """Client-side throttling (client-go's QPS/burst); qps <= 0 disables it, leaving it to APF."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self.qps, self.burst, self._clock = qps, max(1, burst), clock
        self._tokens = float(self.burst)
        self._last = clock.now()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.qps <= 0:
            return
        async with self._lock:
            now = self._clock.now()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            if self._tokens < 0:
                await self._clock.sleep(-self._tokens / self.qps)


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After") or response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def check(response: Response) -> Response:
    """The response if 2xx, else the matching ApiError."""
    if 200 <= response.status < 300:
        return response
    raise errors.from_status(response.status, response.body, _retry_after(response))


def api_version_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    try:
        return str(obj["apiVersion"]), str(obj["kind"])
    except KeyError as e:
        raise ValueError(f"object has no {e.args[0]}: {json.dumps(obj)[:200]}") from None


def metadata_view(obj: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    """`obj` as a PartialObjectMetadata of `kind`: its metadata only, under the watched kind's apiVersion
    and kind."""
    return {"apiVersion": api_version, "kind": kind, "metadata": obj.get("metadata") or {}}


def meta(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("object has no metadata.name")
    return metadata.get("namespace"), str(name)


class ApiClient(Protocol):
    """The verbs a reconciler uses: reads straight from the API server (the cache is the `Reader`)
    and writes. `Client` is the real one, `irc.runtime.testing.FakeClient` the one for tests."""

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj: ...

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = ...,
        metadata_only: bool = False,
    ) -> ObjectList: ...

    async def create(self, obj: Obj, *, dry_run: bool = False) -> Obj: ...

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj: ...

    async def update_status(self, obj: Obj) -> Obj: ...

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Obj | Sequence[Obj],
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        force: bool = False,
    ) -> Obj: ...

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
    ) -> Obj: ...


class WriteFence(Protocol):
    """What decides whether a write may be sent now (leader election's `LeaseFence`)."""

    def check(self) -> None:
        """Raise (errors.LeaseNotCurrent) unless a write may be sent now."""
        ...

    async def wait(self) -> None:
        """Return once a write may be sent."""
        ...


WRITE_FENCE: contextvars.ContextVar[WriteFence | None] = contextvars.ContextVar(
    "irc_write_fence", default=None
)
"""Set by the manager for its leader work: every write any Client sends from that work, and from the
tasks it starts, is checked against the fence first. Other writes (the Lease's own, Events) are not."""


class Client:
    def __init__(
        self,
        transport: Transport,
        *,
        qps: float = -1.0,
        burst: int = 10,
        field_manager: str = FIELD_MANAGER,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.transport = transport
        self.field_manager = field_manager
        self._clock = clock or RealClock()
        self._throttle = TokenBucket(qps, burst, self._clock)
        self._metrics = metrics
        self._discovery: dict[str, dict[str, Resource]] = {}
        self._object_types: dict[tuple[str, str], type[TypedObject]] = {}
        self._object_types_lock = asyncio.Lock()
        self._discovery_lock = asyncio.Lock()

    @property
    def host(self) -> str:
        return self.transport.host

    async def close(self) -> None:
        await self.transport.close()

    # ---- transport with throttling, retries and metrics

    async def send(self, request: Request) -> Response:
        """Send with client-side throttling; retry 429 and Retry-After 5xx answers as client-go does.
        A write made under a `WRITE_FENCE` is checked against it right before each attempt."""
        fence = WRITE_FENCE.get() if request.method != "GET" else None
        for attempt in range(MAX_RETRIES + 1):
            await self._throttle.acquire()
            if fence is not None:
                fence.check()
            response = await self._send_reconnecting(request)
            if self._metrics is not None:
                self._metrics.rest_client_requests.labels(
                    str(response.status), request.method, self.host
                ).inc()
            retry_after = _retry_after(response)
            retryable = response.status == 429 or (response.status >= 500 and retry_after is not None)
            # The server asked us to come back (429, or a 5xx with Retry-After): it did not act on the
            # request, so retrying is safe for every verb, as client-go does.
            if not retryable or attempt == MAX_RETRIES:
                return check(response)
            await self._clock.sleep(
                min(retry_after if retry_after is not None else 1.0, 30.0) * random.uniform(1, 1.2)
            )
        raise AssertionError("unreachable")

    async def _send_reconnecting(self, request: Request) -> Response:
        """Retry a request that failed on the connection a few times: a GET whatever the failure (a
        pooled keep-alive connection the server closed, a reset), any other verb only when no
        connection was made (an apiserver restarting refuses it), so nothing was sent. A write that
        may have reached the server is not sent again, as client-go does not: the server may have
        acted on it, and a JSON patch that appends, or a create with generateName, would act twice.
        The error goes to the caller; a reconciler's is retried with backoff, from what it reads."""
        for attempt in range(CONNECTION_RETRIES):
            try:
                return await self.transport.send(request)
            except aiohttp.ClientConnectionError as e:
                maybe_sent = request.method != "GET" and not isinstance(e, aiohttp.ClientConnectorError)
                if maybe_sent or attempt == CONNECTION_RETRIES - 1:
                    raise
                log.info("%s %s: %s; retrying", request.method, request.path, e or type(e).__name__)
                await self._clock.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def _json(self, request: Request) -> Obj:
        body = (await self.send(request)).json()
        if not isinstance(body, dict):
            raise errors.ApiError(0, "BadResponse", f"expected an object from {request.path}")
        return body

    # ---- discovery

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The API resource serving `kind` in `api_version`; NotFound if the server has no such kind."""
        found = self._discovery.get(api_version, {}).get(kind)
        if found is None:
            async with self._discovery_lock:
                found = self._discovery.get(api_version, {}).get(kind)  # another task may have looked
                if found is None:
                    await self._discover(api_version)
                    found = self._discovery.get(api_version, {}).get(kind)
        if found is None:
            raise errors.NotFound(404, "NotFound", f"the server has no kind {kind} in {api_version}")
        return found

    async def _discover(self, api_version: str) -> None:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = await self._json(Request("GET", path, timeout=REQUEST_TIMEOUT))
        except errors.NotFound:
            listing = {"resources": []}
        self._discovery[api_version] = {
            r["kind"]: Resource(api_version, r["kind"], r["name"], bool(r.get("namespaced")))
            for r in listing.get("resources", [])
            if "/" not in r["name"]  # subresources such as deployments/status
        }

    async def object_type(self, api_version: str, kind: str) -> type[TypedObject]:
        """The typed objects' class for `kind` (irc.runtime.typed), built from the server's OpenAPI v3
        document of its group version the first time it is asked for, then kept: the informers of a
        kind (one per namespace) share it. SchemaError if the server has no schema for the kind."""
        async with self._object_types_lock:  # informers starting together fetch it once
            found = self._object_types.get((api_version, kind))
            if found is None:
                index = await self._json(Request("GET", "/openapi/v3", timeout=REQUEST_TIMEOUT))
                group_version = "api/v1" if api_version == "v1" else f"apis/{api_version}"
                entry = (index.get("paths") or {}).get(group_version)
                if not entry:
                    raise typed.SchemaError(f"the server publishes no OpenAPI v3 document for {api_version}")
                url = urllib.parse.urlsplit(entry["serverRelativeURL"])
                document = await self._json(
                    Request("GET", url.path, urllib.parse.parse_qsl(url.query), timeout=REQUEST_TIMEOUT)
                )
                schemas = (document.get("components") or {}).get("schemas") or {}
                found = typed.object_type(schemas, api_version, kind)
                self._object_types[(api_version, kind)] = found
        return found

    # ---- reads

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        res = await self.resource(api_version, kind)
        return await self._json(Request("GET", res.path(namespace, name), timeout=REQUEST_TIMEOUT))

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = PAGE_SIZE,
        metadata_only: bool = False,
        object_type: type[TypedObject] | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> ObjectList:
        """Every object, fetched in pages of `limit` (None: one unpaged request). `resource_version` ""
        is a consistent (quorum) read, "0" may be served stale from the watch cache (and unpaged, as
        the apiserver does then).
        `metadata_only` lists PartialObjectMetadata (see the module docstring); `object_type` decodes each
        item as that TypedObject (irc.runtime.typed). `transform` is applied to each item as its page
        arrives, so a long list never holds what it drops (an informer's)."""
        _one_view(metadata_only, object_type)
        res = await self.resource(api_version, kind)
        accept = METADATA_LIST_ACCEPT if metadata_only else "application/json"
        params = _selectors(label_selector, field_selector)
        items: builtins.list[Obj] = []
        token = ""
        while True:
            page_params = [*params, *([("limit", str(limit))] if limit is not None else [])]
            if token:
                page_params.append(("continue", token))
            elif resource_version is not None:
                page_params.append(("resourceVersion", resource_version))
            request = Request("GET", res.path(namespace), page_params, timeout=REQUEST_TIMEOUT, accept=accept)
            if object_type is not None:
                page_meta, page_items = typed.decode_list((await self.send(request)).body, object_type)
            else:
                page = await self._json(request)
                page_meta, page_items = page.get("metadata") or {}, page.get("items") or []
                del page
            for item in page_items:
                if metadata_only:
                    item = metadata_view(item, api_version, kind)
                elif type(item) is dict:
                    # List items carry no apiVersion/kind (a TypedObject's type has them as defaults);
                    # restore them so every object is self-describing.
                    item.setdefault("apiVersion", api_version)
                    item.setdefault("kind", kind)
                items.append(item if transform is None else transform(item))
            del page_items  # the untransformed page, before the next one is fetched
            list_meta = page_meta
            token = list_meta.get("continue") or ""
            if not token:
                return ObjectList(items, str(list_meta.get("resourceVersion", "")))

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        send_initial_events: bool = False,
        read_timeout: float | None = None,
        metadata_only: bool = False,
        object_type: type[TypedObject] | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Watch events until the server closes the stream. An ERROR event raises its ApiError (410 → Gone);
        no byte for `read_timeout` seconds raises TimeoutError (a half-open connection). `metadata_only`
        watches PartialObjectMetadata (see the module docstring), streaming lists included; `object_type`
        decodes each object as that TypedObject (irc.runtime.typed). `on_open` is
        called once the server has accepted the watch (before any event: an idle watch has none)."""
        _one_view(metadata_only, object_type)
        res = await self.resource(api_version, kind)
        params = [("watch", "true"), *_selectors(label_selector, field_selector)]
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if allow_bookmarks:
            params.append(("allowWatchBookmarks", "true"))
        if timeout_seconds is not None:
            params.append(("timeoutSeconds", str(timeout_seconds)))
        if send_initial_events:
            params += [("sendInitialEvents", "true"), ("resourceVersionMatch", "NotOlderThan")]
        await self._throttle.acquire()
        accept = METADATA_WATCH_ACCEPT if metadata_only else "application/json"
        request = Request("GET", res.path(namespace), params, accept=accept)
        async with self.transport.stream(request, read_timeout) as stream:
            if self._metrics is not None:
                self._metrics.rest_client_requests.labels(str(stream.status), "WATCH", self.host).inc()
            if stream.status != 200:
                raise errors.from_status(
                    stream.status, await stream.read(), _retry_after_headers(stream.headers)
                )
            if on_open is not None:
                on_open()
            async for event_type, obj in _events(stream, object_type):
                if event_type == "ERROR":
                    raise errors.from_status(int(obj.get("code") or 500), obj)
                if event_type != "BOOKMARK":
                    if metadata_only:
                        obj = metadata_view(obj, api_version, kind)
                    elif type(obj) is dict:
                        obj.setdefault("apiVersion", api_version)
                        obj.setdefault("kind", kind)
                yield WatchEvent(event_type, obj)

    # ---- writes

    async def create(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        api_version, kind = api_version_of(obj)
        res = await self.resource(api_version, kind)
        namespace = (obj.get("metadata") or {}).get("namespace")
        return await self._json(
            Request(
                "POST",
                res.path(namespace),
                self._write_params(dry_run),
                _encode(obj),
                timeout=REQUEST_TIMEOUT,
            )
        )

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        """PUT the object; its metadata.resourceVersion makes a stale write fail with Conflict."""
        api_version, kind = api_version_of(obj)
        res = await self.resource(api_version, kind)
        namespace, name = meta(obj)
        return await self._json(
            Request(
                "PUT",
                res.path(namespace, name, subresource),
                self._write_params(False),
                _encode(obj),
                timeout=REQUEST_TIMEOUT,
            )
        )

    async def update_status(self, obj: Obj) -> Obj:
        return await self.update(obj, subresource="status")

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Obj | Sequence[Obj],
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        force: bool = False,
    ) -> Obj:
        """Patch by merge (default), JSON patch, strategic merge (built-in kinds) or server-side apply."""
        res = await self.resource(api_version, kind)
        params = self._write_params(False)
        if patch_type == "apply" and force:
            params.append(("force", "true"))
        return await self._json(
            Request(
                "PATCH",
                res.path(namespace, name, subresource),
                params,
                _encode(patch),
                PATCH_CONTENT_TYPES[patch_type],
                timeout=REQUEST_TIMEOUT,
            )
        )

    async def apply(self, obj: Obj, *, force: bool = False, subresource: str | None = None) -> Obj:
        """Server-side apply of `obj` as this client's field manager."""
        api_version, kind = api_version_of(obj)
        namespace, name = meta(obj)
        return await self.patch(
            api_version,
            kind,
            name,
            obj,
            namespace=namespace,
            patch_type="apply",
            subresource=subresource,
            force=force,
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
    ) -> Obj:
        """Delete; `resource_version` is a precondition (Conflict if the object changed since)."""
        res = await self.resource(api_version, kind)
        options: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version is not None:
            options["preconditions"] = {"resourceVersion": resource_version}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        return await self._json(
            Request("DELETE", res.path(namespace, name), (), _encode(options), timeout=REQUEST_TIMEOUT)
        )

    def _write_params(self, dry_run: bool) -> builtins.list[tuple[str, str]]:
        params = [("fieldManager", self.field_manager)]
        if dry_run:
            params.append(("dryRun", "All"))
        return params


async def _events(
    stream: StreamResponse, object_type: type[TypedObject] | None
) -> AsyncIterator[tuple[str, Any]]:
    """Watch events as (type, object), one JSON document a line, decoded a chunk's complete lines at a
    time (one call each). orjson shares equal dict keys across calls, so every cached object holds the
    same key strings however the socket cuts the stream; `json.loads` shared them within one call only,
    and a client that kept up with the server read smaller chunks and cached each object bigger."""
    pending: list[bytes] = []  # a line cut by the chunk boundary, in pieces
    async for chunk in stream.chunks():
        complete, newline, rest = chunk.rpartition(b"\n")
        if not newline:
            pending.append(chunk)
            continue
        block = b"".join([*pending, complete])
        pending = [rest] if rest else []
        for event in _decode_lines(block, object_type):
            yield event
    for event in _decode_lines(b"".join(pending), object_type):  # a last line without its newline
        yield event


def _decode_lines(block: bytes, object_type: type[TypedObject] | None) -> list[tuple[str, Any]]:
    lines = [line for line in block.split(b"\n") if line.strip()]
    if not lines:
        return []
    array = b"[" + b",".join(lines) + b"]"
    if object_type is not None:
        return typed.decode_events(array, object_type)
    return [(e["type"], e.get("object") or {}) for e in orjson.loads(array)]


def _one_view(metadata_only: bool, object_type: type[TypedObject] | None) -> None:
    """A list or watch reads metadata only, or typed objects, or neither."""
    if metadata_only and object_type is not None:
        raise ValueError("metadata_only and object_type exclude each other")


def _retry_after_headers(headers: Mapping[str, str]) -> float | None:
    return _retry_after(Response(0, b"", headers))


def _selectors(label_selector: str | None, field_selector: str | None) -> list[tuple[str, str]]:
    params = []
    if label_selector:
        params.append(("labelSelector", label_selector))
    if field_selector:
        params.append(("fieldSelector", field_selector))
    return params


def _encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
