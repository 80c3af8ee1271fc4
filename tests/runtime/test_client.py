from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest

from irc.runtime import errors
from irc.runtime.client import (
    CONNECTION_RETRIES,
    MAX_RETRIES,
    PAGE_SIZE,
    REQUEST_TIMEOUT,
    Client,
    PatchType,
    Resource,
    TokenBucket,
    WatchEvent,
)
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.transport import MockTransport, Request, Response
from irc.runtime.typed import struct

HOST = MockTransport.host
Obj = dict[str, Any]
Route = Callable[[Request], Response]


class StepClock:
    """A Clock whose sleep() records the delay and moves time by it at once."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


def answer(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), dict(headers or {}))


def status(code: int, reason: str, message: str = "", headers: Mapping[str, str] | None = None) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}
    return answer({**body, "message": message}, code, headers)


DISCOVERY: dict[str, Obj] = {
    "/api/v1": {
        "resources": [
            {"name": "pods", "kind": "Pod", "namespaced": True},
            {"name": "pods/status", "kind": "Pod", "namespaced": True},
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        ]
    },
    "/apis/apps/v1": {
        "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": True},
            {"name": "deployments/scale", "kind": "Scale", "namespaced": True},
        ]
    },
}


class FakeApi:
    """An API server: discovery documents, then `routes[(method, path)]`, else 404. Records every request."""

    def __init__(self, routes: Mapping[tuple[str, str], Route | Response] | None = None) -> None:
        self.discovery = copy.deepcopy(DISCOVERY)
        self.routes = dict(routes or {})
        self.requests: list[Request] = []

    async def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        if request.method == "GET" and request.path in self.discovery:
            return answer(self.discovery[request.path])
        route = self.routes.get((request.method, request.path))
        if route is None:
            return status(404, "NotFound", f"{request.path} not found")
        return route if isinstance(route, Response) else route(request)

    @property
    def calls(self) -> list[Request]:
        """The requests that were not discovery."""
        return [r for r in self.requests if r.path not in self.discovery]


def new_client(api: FakeApi, clock: StepClock | None = None, **kwargs: Any) -> Client:
    return Client(MockTransport(api), clock=clock or StepClock(), **kwargs)


def body_of(request: Request) -> Any:
    assert request.body is not None
    return json.loads(request.body)


POD: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team-a"}}
POD_PATH = "/api/v1/namespaces/team-a/pods/web"


# Resource paths and discovery


PODS = Resource("v1", "Pod", "pods", True)
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments", True)
NAMESPACES = Resource("v1", "Namespace", "namespaces", False)


@pytest.mark.parametrize(
    ("resource", "args", "path"),
    [
        (PODS, ("ns", None, None), "/api/v1/namespaces/ns/pods"),
        (PODS, (None, None, None), "/api/v1/pods"),
        (PODS, ("ns", "p", "status"), "/api/v1/namespaces/ns/pods/p/status"),
        (DEPLOYMENTS, ("ns", "d", None), "/apis/apps/v1/namespaces/ns/deployments/d"),
        (NAMESPACES, ("ignored", "ns", None), "/api/v1/namespaces/ns"),
        (PODS, ("a/b", "c d", None), "/api/v1/namespaces/a%2Fb/pods/c%20d"),
    ],
)
def test_resource_path(
    resource: Resource, args: tuple[str | None, str | None, str | None], path: str
) -> None:
    assert resource.path(*args) == path


async def test_discovery_finds_kinds_skips_subresources_and_caches_per_group_version() -> None:
    api = FakeApi()
    client = new_client(api)
    assert await client.resource("v1", "Pod") == PODS
    assert await client.resource("v1", "Namespace") == NAMESPACES
    assert await client.resource("apps/v1", "Deployment") == DEPLOYMENTS
    assert [r.path for r in api.requests] == ["/api/v1", "/apis/apps/v1"]
    assert api.requests[0].method == "GET"
    with pytest.raises(errors.NotFound, match="Scale"):
        await client.resource("apps/v1", "Scale")  # only a subresource (deployments/scale)


async def test_discovery_refreshes_on_a_miss_so_a_crd_installed_later_is_found() -> None:
    api = FakeApi()
    client = new_client(api)
    await client.resource("v1", "Pod")
    with pytest.raises(errors.NotFound):
        await client.resource("v1", "Widget")
    api.discovery["/api/v1"]["resources"].append({"name": "widgets", "kind": "Widget", "namespaced": True})
    assert (await client.resource("v1", "Widget")).plural == "widgets"
    assert [r.path for r in api.requests] == ["/api/v1"] * 3


async def test_discovery_of_an_unknown_group_is_not_found() -> None:
    client = new_client(FakeApi())
    with pytest.raises(errors.NotFound, match=r"Widget in example\.com/v1"):
        await client.resource("example.com/v1", "Widget")


# Reads


async def test_get_returns_the_object_and_maps_errors() -> None:
    pod = {**POD, "spec": {"nodeName": "n1"}}
    api = FakeApi({("GET", POD_PATH): answer(pod)})
    client = new_client(api)
    assert await client.get("v1", "Pod", "web", "team-a") == pod
    assert api.calls[0].timeout == REQUEST_TIMEOUT
    with pytest.raises(errors.NotFound) as caught:
        await client.get("v1", "Pod", "gone", "team-a")
    assert caught.value.message == "/api/v1/namespaces/team-a/pods/gone not found"


async def test_get_cluster_scoped_ignores_namespace() -> None:
    api = FakeApi({("GET", "/api/v1/namespaces/team-a"): answer({"metadata": {"name": "team-a"}})})
    obj = await new_client(api).get("v1", "Namespace", "team-a", namespace="whatever")
    assert obj["metadata"]["name"] == "team-a"


async def test_a_response_that_is_not_an_object_is_an_api_error() -> None:
    api = FakeApi({("GET", POD_PATH): answer([1, 2])})
    with pytest.raises(errors.ApiError) as caught:
        await new_client(api).get("v1", "Pod", "web", "team-a")
    assert caught.value.reason == "BadResponse"


async def test_list_follows_continue_tokens_and_restores_api_version_and_kind() -> None:
    pages = {
        "": {"metadata": {"continue": "t1", "resourceVersion": "5"}, "items": [{"metadata": {"name": "a"}}]},
        "t1": {"metadata": {"continue": "t2", "resourceVersion": "5"}, "items": []},
        "t2": {
            "metadata": {"resourceVersion": "7"},
            "items": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}}],
        },
    }

    def page(request: Request) -> Response:
        return answer(pages[dict(request.params).get("continue", "")])

    api = FakeApi({("GET", "/apis/apps/v1/namespaces/ns/deployments"): page})
    result = await new_client(api).list(
        "apps/v1", "Deployment", "ns", label_selector="app=web", field_selector="metadata.name!=x", limit=2
    )
    assert result.resource_version == "7"
    assert result.items == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}},
    ]
    selectors = [("labelSelector", "app=web"), ("fieldSelector", "metadata.name!=x"), ("limit", "2")]
    assert [list(r.params) for r in api.calls] == [
        selectors,
        [*selectors, ("continue", "t1")],
        [*selectors, ("continue", "t2")],
    ]


async def test_list_transforms_each_item_as_its_page_arrives() -> None:
    pages = {
        "": {"metadata": {"continue": "t1"}, "items": [{"metadata": {"name": "a"}, "spec": {"big": 1}}]},
        "t1": {"metadata": {"resourceVersion": "7"}, "items": [{"metadata": {"name": "b"}, "spec": {}}]},
    }

    def page(request: Request) -> Response:
        return answer(pages[dict(request.params).get("continue", "")])

    api = FakeApi({("GET", "/apis/apps/v1/namespaces/ns/deployments"): page})
    requested_at_transform: list[int] = []

    def keep_metadata(obj: dict[str, Any]) -> dict[str, Any]:
        requested_at_transform.append(len(api.calls))
        return {"metadata": obj["metadata"]}

    result = await new_client(api).list("apps/v1", "Deployment", "ns", limit=1, transform=keep_metadata)
    assert result.items == [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
    assert requested_at_transform == [1, 2]  # page 1's item before page 2 was asked for


async def test_list_sends_resource_version_on_the_first_page_only() -> None:
    # The apiserver rejects a continue token with a resourceVersion ("specifying resource version is
    # not allowed when using continue"); client-go's pager clears it after the first page.
    def page(request: Request) -> Response:
        params = dict(request.params)
        if "continue" in params and "resourceVersion" in params:
            return status(400, "BadRequest", "specifying resource version is not allowed when using continue")
        token = "" if "continue" in params else "next"
        return answer({"metadata": {"continue": token, "resourceVersion": "9"}, "items": [{}]})

    api = FakeApi({("GET", "/api/v1/pods"): page})
    result = await new_client(api).list("v1", "Pod", resource_version="42")
    assert len(result.items) == 2
    assert [list(r.params) for r in api.calls] == [
        [("limit", str(PAGE_SIZE)), ("resourceVersion", "42")],
        [("limit", str(PAGE_SIZE)), ("continue", "next")],
    ]


async def test_list_with_resource_version_zero_and_no_items() -> None:
    api = FakeApi({("GET", "/api/v1/pods"): answer({"metadata": {"resourceVersion": "3"}, "items": None})})
    result = await new_client(api).list("v1", "Pod", resource_version="0")
    assert (result.items, result.resource_version) == ([], "3")
    assert list(api.calls[0].params) == [("limit", str(PAGE_SIZE)), ("resourceVersion", "0")]


# Watches


def stream_of(*events: object) -> Response:
    return Response(200, b"".join(json.dumps(e).encode() + b"\n" for e in events))


async def collect(client: Client, **kwargs: Any) -> list[WatchEvent]:
    return [e async for e in client.watch("v1", "Pod", "team-a", **kwargs)]


async def test_watch_yields_events_and_restores_api_version_and_kind() -> None:
    body = (
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n'
        b"\n"
        b'{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}}\n'
        b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"8"}}}\n'
        b'{"type":"DELETED","object":{"metadata":{"name":"a"}}}'
    )
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): Response(200, body)})
    events = await collect(new_client(api), resource_version="1", timeout_seconds=300)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "BOOKMARK", "DELETED"]
    assert events[0].object == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "resourceVersion": "1"},
    }
    assert events[2].object == {"metadata": {"resourceVersion": "8"}}
    assert events[3].object["kind"] == "Pod"
    assert list(api.calls[0].params) == [
        ("watch", "true"),
        ("resourceVersion", "1"),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", "300"),
    ]
    assert api.calls[0].timeout is None


async def test_watch_events_decoded_together_share_their_keys() -> None:
    """A streaming list caches as compactly as a paged one: events that arrive in one chunk are
    decoded by one json.loads, which shares equal keys (MockTransport sends the body in 2 chunks)."""
    sent = [
        {"type": "ADDED", "object": {"metadata": {"name": f"p{i}"}, "spec": {"nodeName": "n"}}}
        for i in range(6)
    ]
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): stream_of(*sent)})
    events = await collect(new_client(api))
    assert [e.object["metadata"]["name"] for e in events] == [f"p{i}" for i in range(6)]
    first, second = (next(iter(e.object["spec"])) for e in events[:2])
    assert first == second == "nodeName" and first is second


async def test_watch_params_for_streaming_list_without_bookmarks() -> None:
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): Response(200, b"")})
    events = await collect(
        new_client(api), label_selector="a=b", allow_bookmarks=False, send_initial_events=True
    )
    assert events == []
    assert list(api.calls[0].params) == [
        ("watch", "true"),
        ("labelSelector", "a=b"),
        ("sendInitialEvents", "true"),
        ("resourceVersionMatch", "NotOlderThan"),
    ]


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (410, "Expired", errors.Gone),
        (410, "Gone", errors.Gone),
        (500, "InternalError", errors.ApiError),
    ],
)
async def test_watch_error_event_raises_after_the_events_before_it(
    code: int, reason: str, error: type[errors.ApiError]
) -> None:
    body = stream_of(
        {"type": "ADDED", "object": {"metadata": {"name": "a"}}},
        {"type": "ERROR", "object": {"kind": "Status", "code": code, "reason": reason, "message": "too old"}},
        {"type": "ADDED", "object": {"metadata": {"name": "never"}}},
    )
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): body})
    seen: list[WatchEvent] = []
    with pytest.raises(error) as caught:
        async for event in new_client(api).watch("v1", "Pod", "team-a"):
            seen.append(event)
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.reason, caught.value.message) == (code, reason, "too old")
    assert [e.object["metadata"]["name"] for e in seen] == ["a"]


async def test_watch_error_event_without_a_code_is_a_server_error() -> None:
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): stream_of({"type": "ERROR", "object": {}})})
    with pytest.raises(errors.ApiError) as caught:
        await collect(new_client(api))
    assert caught.value.status == 500


async def test_watch_refused_at_open_raises_the_status_error_without_retrying() -> None:
    refusals = [
        status(410, "Gone", "rv too old"),
        status(429, "TooManyRequests", "slow down", {"Retry-After": "3"}),
    ]
    api = FakeApi({("GET", "/api/v1/namespaces/team-a/pods"): lambda _: refusals.pop(0)})
    clock = StepClock()
    client = new_client(api, clock)
    with pytest.raises(errors.Gone, match="rv too old"):
        await collect(client)
    with pytest.raises(errors.TooManyRequests) as caught:
        await collect(client)
    assert caught.value.retry_after == 3.0
    assert len(api.calls) == 2
    assert clock.sleeps == []


# Metadata-only reads

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"
METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


def partial(name: str) -> Obj:
    return {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": name}}


async def test_list_metadata_only_asks_for_metadata_and_answers_the_listed_kind() -> None:
    listing = {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadataList",
        "metadata": {"resourceVersion": "4"},
        # A server without the metadata view answers whole objects (the Accept fallback): cut down too.
        "items": [partial("a"), {"metadata": {"name": "b"}, "spec": {"nodeName": "n1"}}],
    }
    api = FakeApi({("GET", "/api/v1/pods"): answer(listing)})
    client = new_client(api)
    result = await client.list("v1", "Pod", metadata_only=True)
    assert result.items == [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}},
    ]
    assert result.resource_version == "4"
    await client.list("v1", "Pod")
    assert [r.accept for r in api.calls] == [METADATA_LIST, "application/json"]


async def test_watch_metadata_only_asks_for_metadata_and_answers_the_watched_kind() -> None:
    secret = {"metadata": {"name": "b"}, "data": {"password": "c2VjcmV0"}}
    bookmark = {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {"resourceVersion": "9"},
    }
    api = FakeApi(
        {
            ("GET", "/api/v1/namespaces/team-a/pods"): stream_of(
                {"type": "ADDED", "object": partial("a")},
                {"type": "DELETED", "object": secret},
                {"type": "BOOKMARK", "object": bookmark},
            )
        }
    )
    client = new_client(api)
    events = await collect(client, metadata_only=True)
    assert [e.object for e in events] == [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}},
        bookmark,  # read for its resourceVersion only
    ]
    await collect(client)
    assert [r.accept for r in api.calls] == [METADATA_WATCH, "application/json"]


# Writes


async def test_create_posts_to_the_collection_as_the_field_manager() -> None:
    api = FakeApi({("POST", "/api/v1/namespaces/team-a/pods"): lambda r: answer(body_of(r), 201)})
    client = new_client(api)
    created = await client.create(POD)
    assert created == POD
    await client.create(POD, dry_run=True)
    first, second = api.calls
    assert (first.content_type, first.timeout, body_of(first)) == ("application/json", REQUEST_TIMEOUT, POD)
    assert list(first.params) == [("fieldManager", "irc")]
    assert list(second.params) == [("fieldManager", "irc"), ("dryRun", "All")]


async def test_create_cluster_scoped_and_already_exists() -> None:
    api = FakeApi({("POST", "/api/v1/namespaces"): status(409, "AlreadyExists", "namespaces x exists")})
    with pytest.raises(errors.AlreadyExists):
        await new_client(api).create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert api.calls[0].path == "/api/v1/namespaces"


async def test_writes_need_api_version_kind_and_name() -> None:
    client = new_client(FakeApi())
    with pytest.raises(ValueError, match="apiVersion"):
        await client.create({"kind": "Pod", "metadata": {"name": "a"}})
    with pytest.raises(ValueError, match="kind"):
        await client.update({"apiVersion": "v1", "metadata": {"name": "a"}})
    with pytest.raises(ValueError, match=r"metadata\.name"):
        await client.update({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a"}})
    with pytest.raises(ValueError, match=r"metadata\.name"):
        await client.apply({"apiVersion": "v1", "kind": "Pod"})


async def test_update_puts_the_object_and_a_stale_one_conflicts() -> None:
    answers = [
        answer({**POD, "metadata": {**POD["metadata"], "resourceVersion": "2"}}),
        status(409, "Conflict"),
    ]
    api = FakeApi({("PUT", POD_PATH): lambda _: answers.pop(0)})
    client = new_client(api, field_manager="other")
    stale = {**POD, "metadata": {**POD["metadata"], "resourceVersion": "1"}}
    assert (await client.update(stale))["metadata"]["resourceVersion"] == "2"
    with pytest.raises(errors.Conflict):
        await client.update(stale)
    assert body_of(api.calls[0]) == stale
    assert list(api.calls[0].params) == [("fieldManager", "other")]


async def test_update_status_puts_the_status_subresource() -> None:
    api = FakeApi({("PUT", POD_PATH + "/status"): lambda r: answer(body_of(r))})
    assert await new_client(api).update_status({**POD, "status": {"phase": "Running"}})
    assert [r.path for r in api.calls] == [POD_PATH + "/status"]


@pytest.mark.parametrize(
    ("patch_type", "content_type"),
    [
        ("merge", "application/merge-patch+json"),
        ("json", "application/json-patch+json"),
        ("strategic", "application/strategic-merge-patch+json"),
        ("apply", "application/apply-patch+yaml"),
    ],
)
async def test_patch_content_types_and_force_only_for_apply(patch_type: PatchType, content_type: str) -> None:
    api = FakeApi({("PATCH", POD_PATH): answer(POD)})
    client = new_client(api)
    patch: Any = [{"op": "remove", "path": "/x"}] if patch_type == "json" else {"metadata": {"labels": {}}}
    assert await client.patch("v1", "Pod", "web", patch, namespace="team-a", patch_type=patch_type) == POD
    await client.patch("v1", "Pod", "web", patch, namespace="team-a", patch_type=patch_type, force=True)
    plain, forced = api.calls
    assert (plain.method, plain.content_type, body_of(plain)) == ("PATCH", content_type, patch)
    assert list(plain.params) == [("fieldManager", "irc")]
    forced_params = [("fieldManager", "irc"), ("force", "true")] if patch_type == "apply" else plain.params
    assert list(forced.params) == list(forced_params)


async def test_patch_defaults_to_merge_and_reaches_subresources() -> None:
    api = FakeApi({("PATCH", POD_PATH + "/status"): answer(POD)})
    await new_client(api).patch("v1", "Pod", "web", {"status": {}}, namespace="team-a", subresource="status")
    assert api.calls[0].content_type == "application/merge-patch+json"


@pytest.mark.parametrize("force", [False, True])
async def test_apply_patches_the_object_server_side(force: bool) -> None:
    api = FakeApi({("PATCH", POD_PATH): lambda r: answer(body_of(r))})
    assert await new_client(api).apply(POD, force=force) == POD
    request = api.calls[0]
    assert request.content_type == "application/apply-patch+yaml"
    expected = [("fieldManager", "irc"), ("force", "true")] if force else [("fieldManager", "irc")]
    assert list(request.params) == expected


async def test_delete_sends_delete_options() -> None:
    api = FakeApi({("DELETE", POD_PATH): answer({"kind": "Status", "status": "Success"})})
    client = new_client(api)
    assert (await client.delete("v1", "Pod", "web", "team-a"))["status"] == "Success"
    await client.delete("v1", "Pod", "web", "team-a", resource_version="7", propagation_policy="Foreground")
    plain, guarded = api.calls
    assert body_of(plain) == {"apiVersion": "v1", "kind": "DeleteOptions"}
    assert body_of(guarded) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"resourceVersion": "7"},
        "propagationPolicy": "Foreground",
    }
    assert list(plain.params) == []
    with pytest.raises(errors.NotFound):
        await client.delete("v1", "Pod", "other", "team-a")


# Retries, throttling and metrics


def sequence(*responses: Response) -> Route:
    """Answer with each response in turn, then the last one forever."""
    queue = list(responses)
    return lambda _: queue.pop(0) if len(queue) > 1 else queue[0]


async def test_429_is_retried_after_retry_after_with_jitter() -> None:
    api = FakeApi(
        {
            ("GET", POD_PATH): sequence(
                status(429, "TooManyRequests", headers={"Retry-After": "2"}),
                status(429, "TooManyRequests"),
                answer(POD),
            )
        }
    )
    clock = StepClock()
    assert await new_client(api, clock).get("v1", "Pod", "web", "team-a") == POD
    assert len(api.calls) == 3
    assert len(clock.sleeps) == 2
    assert 2.0 <= clock.sleeps[0] <= 2.4
    assert 1.0 <= clock.sleeps[1] <= 1.2  # no Retry-After: one second


async def test_5xx_is_retried_only_with_retry_after_and_waits_at_most_30s() -> None:
    api = FakeApi(
        {
            ("GET", POD_PATH): sequence(
                status(503, "ServiceUnavailable", headers={"retry-after": "600"}), answer(POD)
            ),
            ("GET", "/api/v1/namespaces/team-a/pods/other"): status(500, "InternalError", "boom"),
        }
    )
    clock = StepClock()
    client = new_client(api, clock)
    assert await client.get("v1", "Pod", "web", "team-a") == POD
    assert 30.0 <= clock.sleeps[0] <= 36.0
    with pytest.raises(errors.ApiError, match="boom") as caught:
        await client.get("v1", "Pod", "other", "team-a")
    assert caught.value.status == 500
    assert len(api.calls) == 3
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    "response",
    [status(403, "Forbidden"), status(409, "Conflict"), status(500, "X", headers={"Retry-After": "soon"})],
)
async def test_other_errors_are_not_retried(response: Response) -> None:
    api = FakeApi({("GET", POD_PATH): response})
    clock = StepClock()
    with pytest.raises(errors.ApiError) as caught:
        await new_client(api, clock).get("v1", "Pod", "web", "team-a")
    assert caught.value.status == response.status
    assert (len(api.calls), clock.sleeps) == (1, [])


async def test_429_gives_up_after_max_retries() -> None:
    api = FakeApi({("GET", POD_PATH): status(429, "TooManyRequests", headers={"Retry-After": "0"})})
    clock = StepClock()
    with pytest.raises(errors.TooManyRequests) as caught:
        await new_client(api, clock).get("v1", "Pod", "web", "team-a")
    assert caught.value.retry_after == 0.0
    assert len(api.calls) == MAX_RETRIES + 1
    assert clock.sleeps == [0.0] * MAX_RETRIES


async def test_rest_client_requests_total_counts_every_attempt() -> None:
    metrics = RuntimeMetrics()
    api = FakeApi(
        {
            ("GET", POD_PATH): sequence(status(429, "TooManyRequests"), answer(POD)),
            ("DELETE", POD_PATH): status(404, "NotFound"),
            ("GET", "/api/v1/namespaces/team-a/pods"): stream_of(),
        }
    )
    client = new_client(api, metrics=metrics)
    await client.get("v1", "Pod", "web", "team-a")
    with pytest.raises(errors.NotFound):
        await client.delete("v1", "Pod", "web", "team-a")
    await collect(client)

    def count(code: str, method: str) -> float | None:
        labels = {"code": code, "method": method, "host": HOST}
        return metrics.registry.get_sample_value("rest_client_requests_total", labels)

    assert count("200", "GET") == 2  # discovery and the get
    assert count("429", "GET") == 1
    assert count("404", "DELETE") == 1
    assert count("200", "WATCH") == 1


class FlakyTransport(MockTransport):
    """Raises each of `failures` in turn before answering through the API."""

    def __init__(self, api: FakeApi, failures: list[Exception]) -> None:
        super().__init__(api)
        self.failures = failures

    async def send(self, request: Request) -> Response:
        if self.failures:
            raise self.failures.pop(0)
        return await super().send(request)


async def test_connection_errors_are_retried_with_doubling_delays() -> None:
    api = FakeApi({("GET", POD_PATH): answer(POD)})
    transport = FlakyTransport(
        api, [aiohttp.ServerDisconnectedError(), aiohttp.ClientConnectionError("reset")]
    )
    clock = StepClock()
    client = Client(transport, clock=clock)
    await client.resource("v1", "Pod")
    assert clock.sleeps == [0.2, 0.4]
    transport.failures = [aiohttp.ClientConnectionError("refused")] * (CONNECTION_RETRIES - 1)
    assert await client.get("v1", "Pod", "web", "team-a") == POD
    assert clock.sleeps == [0.2, 0.4, 0.2, 0.4, 0.8]


async def test_connection_errors_give_up_after_connection_retries() -> None:
    api = FakeApi()
    failures: list[Exception] = [aiohttp.ClientConnectionError(f"try {i}") for i in range(CONNECTION_RETRIES)]
    clock = StepClock()
    with pytest.raises(aiohttp.ClientConnectionError, match=f"try {CONNECTION_RETRIES - 1}"):
        await Client(FlakyTransport(api, failures), clock=clock).resource("v1", "Pod")
    assert api.requests == []
    assert clock.sleeps == [0.2 * 2**i for i in range(CONNECTION_RETRIES - 1)]


def refused() -> aiohttp.ClientConnectorError:
    key = cast(Any, SimpleNamespace(host="127.0.0.1", port=6443, ssl=True))
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


async def test_a_write_is_sent_again_only_when_no_connection_was_made() -> None:
    """client-go's rule: a write that may have reached the server is not sent again (it may have
    acted, and a JSON patch that appends would act twice); a refused connection sent nothing."""
    patched = {**POD, "metadata": {**POD["metadata"], "labels": {"a": "b"}}}
    api = FakeApi({("PATCH", POD_PATH): answer(patched)})
    clock = StepClock()
    transport = FlakyTransport(api, [])
    client = Client(transport, clock=clock)
    await client.resource("v1", "Pod")
    patch = [{"op": "add", "path": "/metadata/labels/a", "value": "b"}]

    for lost in (aiohttp.ServerDisconnectedError(), aiohttp.ClientOSError(104, "Connection reset by peer")):
        transport.failures = [lost]
        with pytest.raises(type(lost)):
            await client.patch("v1", "Pod", "web", patch, namespace="team-a", patch_type="json")
    assert api.calls == [] and clock.sleeps == []

    transport.failures = [refused(), refused()]
    assert await client.patch("v1", "Pod", "web", patch, namespace="team-a", patch_type="json") == patched
    assert [r.method for r in api.calls] == ["PATCH"] and clock.sleeps == [0.2, 0.4]


async def test_other_transport_errors_are_not_retried() -> None:
    api = FakeApi()
    clock = StepClock()
    transport = FlakyTransport(api, [aiohttp.ClientPayloadError("truncated"), ValueError("bug")])
    client = Client(transport, clock=clock)
    with pytest.raises(aiohttp.ClientPayloadError):
        await client.resource("v1", "Pod")
    with pytest.raises(ValueError, match="bug"):
        await client.resource("v1", "Pod")
    assert clock.sleeps == []


async def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = StepClock()
    bucket = TokenBucket(qps=2.0, burst=3, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    await bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]
    clock.t += 100.0  # a long idle refills only up to the burst
    for _ in range(3):
        await bucket.acquire()
    assert len(clock.sleeps) == 2
    await bucket.acquire()
    assert clock.sleeps[2:] == [pytest.approx(0.5)]


@pytest.mark.parametrize("qps", [0.0, -1.0])
async def test_token_bucket_disabled_by_non_positive_qps(qps: float) -> None:
    clock = StepClock()
    bucket = TokenBucket(qps=qps, burst=1, clock=clock)
    for _ in range(50):
        await bucket.acquire()
    assert clock.sleeps == []


async def test_client_throttles_requests_and_watches() -> None:
    api = FakeApi({("GET", POD_PATH): answer(POD), ("GET", "/api/v1/namespaces/team-a/pods"): stream_of()})
    clock = StepClock()
    client = new_client(api, clock, qps=4.0, burst=1)
    await client.get("v1", "Pod", "web", "team-a")  # discovery takes the burst; the get waits
    await collect(client)
    assert clock.sleeps == [pytest.approx(0.25), pytest.approx(0.25)]
    assert len(api.requests) == 3


async def test_host_and_close_go_to_the_transport() -> None:
    closed: list[bool] = []

    class Closing(MockTransport):
        async def close(self) -> None:
            closed.append(True)

    client = Client(Closing(FakeApi()), clock=StepClock())
    assert client.host == HOST
    await client.close()
    assert closed == [True]


async def test_a_read_is_metadata_only_or_typed_not_both() -> None:
    client = new_client(FakeApi())
    Typed = struct("Typed", ("metadata",), __name__)
    with pytest.raises(ValueError, match="exclude each other"):
        await client.list("v1", "Pod", metadata_only=True, object_type=Typed)
    with pytest.raises(ValueError, match="exclude each other"):
        await anext(client.watch("v1", "Pod", metadata_only=True, object_type=Typed))
