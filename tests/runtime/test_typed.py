"""Typed objects (irc.runtime.typed): Structs built from an OpenAPI v3 document, decoded from list and
watch bytes, read like the dicts they replace; and a typed informer against a scripted server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson
import pytest

from irc.runtime import typed
from irc.runtime.client import Client
from irc.runtime.informer import LAST_APPLIED, CreateEvent, DeleteEvent, Informer, UpdateEvent
from irc.runtime.testing import FakeClock, running
from irc.runtime.transport import MockTransport, Request, Response

META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
SCHEMAS: dict[str, Any] = {
    META: {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "resourceVersion": {"type": "string"},
            "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"allOf": [{"$ref": "#/components/schemas/Time"}]},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
            "managedFields": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Time": {"type": "string", "format": "date-time"},
    "example.v1.Widget": {
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"default": {}, "allOf": [{"$ref": f"#/components/schemas/{META}"}]},
            "spec": {"default": {}, "allOf": [{"$ref": "#/components/schemas/example.v1.WidgetSpec"}]},
        },
    },
    "example.v1.WidgetSpec": {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer"},
            "ratio": {"type": "number"},
            "paused": {"type": "boolean"},
            "maxSurge": {"x-kubernetes-int-or-string": True},
            "items": {"type": "array", "items": {"type": "string"}},  # a name TypedObject has a method of
            "x-weird": {"type": "string"},
            "template": {"type": "object", "properties": {"image": {"type": "string"}}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "raw": {"type": "object"},
            "tree": {"$ref": "#/components/schemas/example.v1.Node"},
        },
    },
    "example.v1.Node": {  # a schema that contains itself
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/example.v1.Node"}},
        },
    },
}
WIDGET = typed.object_type(SCHEMAS, "example.com/v1", "Widget")


def widget(name: str, rv: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(rv),
            "labels": {"app": name},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": spec,
    }


def events(*pairs: tuple[str, dict[str, Any]]) -> bytes:
    return orjson.dumps([{"type": t, "object": o} for t, o in pairs])


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(obj))
    plain["metadata"].pop("managedFields", None)
    return plain


def test_a_decoded_object_is_the_json_without_managed_fields() -> None:
    spec: dict[str, Any] = {
        "replicas": 3,
        "ratio": 0.5,
        "paused": False,
        "maxSurge": "25%",
        "items": ["a", "b"],
        "x-weird": "w",
        "template": {"image": "nginx:1.27"},
        "extra": {"anything": [1, {"goes": None}]},
        "raw": {"free": "form"},
        "tree": {"name": "root", "children": [{"name": "leaf", "children": []}]},
    }
    obj = widget("a", **spec)
    obj["metadata"]["creationTimestamp"] = None  # null, as Go writes an empty template's
    [(kind, decoded)] = typed.decode_events(events(("ADDED", obj)), WIDGET)
    assert kind == "ADDED" and isinstance(decoded, WIDGET)
    assert typed.to_dict(decoded) == without_managed_fields(obj)
    assert "managedFields" not in decoded["metadata"]


def test_it_reads_like_a_dict() -> None:
    [(_, obj)] = typed.decode_events(
        events(("ADDED", widget("a", replicas=2, items=["x"], maxSurge=1))), WIDGET
    )
    assert isinstance(obj, Mapping)
    assert obj["metadata"]["name"] == "a" and obj["spec"]["replicas"] == 2
    assert obj["spec"]["items"] == ["x"] and obj["spec"]["maxSurge"] == 1
    assert obj.get("status") is None and obj["spec"].get("paused", "no") == "no"
    assert "spec" in obj and "paused" not in obj["spec"] and "managedFields" not in obj["metadata"]
    with pytest.raises(KeyError):
        obj["spec"]["paused"]
    with pytest.raises(KeyError):
        obj["nonsense"]
    assert list(obj["spec"]) == ["replicas", "maxSurge", "items"] == obj["spec"].keys()
    assert dict(obj["metadata"]) == {
        "name": "a",
        "namespace": "ns",
        "resourceVersion": "1",
        "labels": {"app": "a"},
    }
    assert len(obj["metadata"]) == 4 and obj["spec"].items()[0] == ("replicas", 2)
    assert {**obj}.keys() == {"apiVersion", "kind", "metadata", "spec"}


def test_it_cannot_be_changed_and_the_collector_does_not_track_it() -> None:
    [(_, obj)] = typed.decode_events(events(("ADDED", widget("a"))), WIDGET)
    with pytest.raises(AttributeError):
        obj.spec = None
    assert not gc.is_tracked(obj) and not gc.is_tracked(obj["metadata"])
    copy = typed.to_dict(obj)
    copy["spec"]["replicas"] = 9  # the copy is the object to edit
    assert obj["spec"].get("replicas") is None


def test_fields_the_schema_does_not_have_are_dropped() -> None:
    obj = widget("a", replicas=1, unknown="gone")
    obj["status"] = {"ready": True}
    [(_, decoded)] = typed.decode_events(events(("ADDED", obj)), WIDGET)
    expected = without_managed_fields(obj)
    expected["spec"] = {"replicas": 1}
    del expected["status"]
    assert typed.to_dict(decoded) == expected


def test_list_items_get_the_kinds_api_version_and_kind() -> None:
    body = orjson.dumps(
        {"metadata": {"resourceVersion": "7", "continue": "c"}, "items": [{"metadata": {"name": "a"}}]}
    )
    metadata, [item] = typed.decode_list(body, WIDGET)
    assert metadata == {"resourceVersion": "7", "continue": "c"}
    assert (item["apiVersion"], item["kind"], item["metadata"]["name"]) == ("example.com/v1", "Widget", "a")


def test_an_error_event_comes_as_the_status_dict() -> None:
    status = {"kind": "Status", "status": "Failure", "code": 410, "reason": "Expired", "message": "too old"}
    decoded = typed.decode_events(events(("ADDED", widget("a")), ("ERROR", status)), WIDGET)
    assert decoded[1] == ("ERROR", status)
    assert isinstance(decoded[0][1], WIDGET)  # the rest of the batch is still typed


def test_an_object_that_breaks_its_schema_is_cached_as_a_dict_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = widget("bad", replicas="three")
    with caplog.at_level(logging.WARNING, logger="irc.runtime.typed"):
        [(_, good), (_, kept)] = typed.decode_events(
            events(("ADDED", widget("good")), ("ADDED", bad)), WIDGET
        )
    assert isinstance(good, WIDGET)
    assert kept == without_managed_fields(bad) and type(kept) is dict
    assert "Widget ns/bad does not fit its schema" in caplog.text
    _, [item] = typed.decode_list(orjson.dumps({"metadata": {}, "items": [bad]}), WIDGET)
    assert item == without_managed_fields(bad)


def test_a_kind_the_document_lacks_is_a_schema_error() -> None:
    with pytest.raises(typed.SchemaError, match=r"no schema for Gadget in example\.com/v1"):
        typed.object_type(SCHEMAS, "example.com/v1", "Gadget")


# ---- a typed informer


DISCOVERY = {"resources": [{"name": "widgets", "kind": "Widget", "namespaced": True}]}
INDEX = {"paths": {"apis/example.com/v1": {"serverRelativeURL": "/openapi/v3/apis/example.com/v1?hash=ABC"}}}


class Server:
    """Discovery, the OpenAPI index and document, a list of `objects`, then one scripted watch."""

    def __init__(
        self, objects: list[dict[str, Any]], watch: bytes = b"", schemas: dict[str, Any] = SCHEMAS
    ) -> None:
        self.objects, self.watch, self.schemas = objects, watch, schemas
        self.requests: list[Request] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        if request.path == "/apis/example.com/v1":
            return Response(200, orjson.dumps(DISCOVERY))
        if request.path == "/openapi/v3":
            await asyncio.sleep(0.01)  # as over a network: informers starting together overlap here
            return Response(200, orjson.dumps(INDEX))
        if request.path == "/openapi/v3/apis/example.com/v1":
            assert dict(request.params) == {"hash": "ABC"}
            return Response(200, orjson.dumps({"components": {"schemas": self.schemas}}))
        if dict(request.params).get("watch") == "true":
            watch, self.watch = self.watch, b""
            return Response(200, watch)
        return Response(200, orjson.dumps({"metadata": {"resourceVersion": "10"}, "items": self.objects}))


class Seen:
    def __init__(self, expected: int) -> None:
        self.events: list[tuple[str, Any]] = []
        self.expected, self.all_seen = expected, asyncio.Event()

    def _saw(self, what: str, obj: Any) -> None:
        self.events.append((what, obj))
        if len(self.events) == self.expected:
            self.all_seen.set()

    def create(self, e: CreateEvent) -> None:
        self._saw("create", e.obj)

    def update(self, e: UpdateEvent) -> None:
        self._saw("update", e.new)

    def delete(self, e: DeleteEvent) -> None:
        self._saw("delete", e.obj)


def watch_lines(*pairs: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps({"type": t, "object": o}) + b"\n" for t, o in pairs)


async def test_a_typed_informer_caches_structs_and_hands_them_to_handlers() -> None:
    listed = widget("a", replicas=1)
    del listed["apiVersion"], listed["kind"]  # as list items come
    listed["metadata"]["annotations"] = {LAST_APPLIED: "{...}", "keep": "me"}
    changed = widget("a", rv=11, replicas=2)
    server = Server([listed], watch_lines(("MODIFIED", changed), ("ADDED", widget("b", rv=12))))
    client = Client(MockTransport(server.handle), qps=0)
    informer = Informer(client, "example.com/v1", "Widget", typed=True, watch_list=False, clock=FakeClock())
    seen = Seen(expected=3)
    informer.add_handler(seen)
    async with running(informer.run()):
        await asyncio.wait_for(seen.all_seen.wait(), 5)
    assert [(what, o["metadata"]["name"], o["metadata"]["resourceVersion"]) for what, o in seen.events] == [
        ("create", "a", "1"),
        ("update", "a", "11"),
        ("create", "b", "12"),
    ]
    first = seen.events[0][1]
    assert first["apiVersion"] == "example.com/v1" and first["kind"] == "Widget"  # as list items lack them
    assert first["metadata"]["annotations"] == {"keep": "me"}  # the default transform still applies
    assert (informer.store.get_by("ns", "a") or {})["spec"]["replicas"] == 2
    assert all(isinstance(o, typed.TypedObject) for _, o in seen.events)
    assert repr(informer) == "<Informer Widget.example.com/v1 (typed)>"
    assert sum(r.path == "/openapi/v3" for r in server.requests) == 1


async def test_without_a_schema_a_typed_informer_caches_dicts_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server([widget("a")], schemas={META: SCHEMAS[META]})
    client = Client(MockTransport(server.handle), qps=0)
    informer = Informer(client, "example.com/v1", "Widget", typed=True, watch_list=False, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="irc.runtime.informer"):
        async with running(informer.run()):
            await informer.wait_for_sync(within=5)
    obj = informer.store.get_by("ns", "a")
    assert type(obj) is dict and "managedFields" not in obj["metadata"]
    assert (
        "no schema to build typed objects from (the OpenAPI document has no schema for Widget" in caplog.text
    )
    assert not informer.typed


def test_typed_and_metadata_only_exclude_each_other() -> None:
    client = Client(MockTransport(Server([]).handle), qps=0)
    with pytest.raises(ValueError, match="typed or metadata-only"):
        Informer(client, "example.com/v1", "Widget", typed=True, metadata_only=True)


def test_a_schema_without_properties_is_rejected_as_a_kind() -> None:
    schemas = {
        "x.Blob": {
            "type": "string",
            "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Blob"}],
        }
    }
    with pytest.raises(typed.SchemaError, match="not an object with properties"):
        typed.object_type(schemas, "v1", "Blob")


def test_decoding_skips_what_the_type_leaves_out() -> None:
    # managedFields are never built: decoding with and without them gives the same object
    with_fields = widget("a", replicas=1)
    plain = without_managed_fields(with_fields)
    a = typed.decode_events(events(("ADDED", with_fields)), WIDGET)
    b = typed.decode_events(events(("ADDED", plain)), WIDGET)
    assert a == b and msgspec.to_builtins(a[0][1]) == plain


async def test_the_informers_of_a_kind_share_one_schema_fetch_and_one_class() -> None:
    server = Server([widget("a")])
    client = Client(MockTransport(server.handle), qps=0)
    informers = [
        Informer(
            client, "example.com/v1", "Widget", namespace=ns, typed=True, watch_list=False, clock=FakeClock()
        )
        for ns in ("ns", "other")
    ]
    async with running(informers[0].run()), running(informers[1].run()):
        await informers[0].wait_for_sync(within=5)
        await informers[1].wait_for_sync(within=5)
    assert [r.path for r in server.requests].count("/openapi/v3") == 1
    assert type(informers[0].store.list()[0]) is type(informers[1].store.list()[0])
