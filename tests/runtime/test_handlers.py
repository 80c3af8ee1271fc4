from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from irc.runtime import predicates
from irc.runtime.handlers import EnqueueForObject, EnqueueForOwner, EnqueueMapped, Handler, Request
from irc.runtime.informer import CreateEvent, DeleteEvent, GenericEvent, UpdateEvent
from irc.runtime.predicates import Predicate, PredicateFuncs

Obj = dict[str, Any]


def obj(name: str = "a", namespace: str | None = "ns", **metadata: Any) -> Obj:
    meta: Obj = {"name": name, **metadata}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def verdicts(predicate: Predicate, old: Obj, new: Obj | None = None) -> tuple[bool, bool, bool, bool]:
    """The predicate's answer for create, update (old → new), delete and generic events."""
    current = old if new is None else new
    return (
        predicate.create(CreateEvent(current)),
        predicate.update(UpdateEvent(old, current)),
        predicate.delete(DeleteEvent(current)),
        predicate.generic(GenericEvent(current)),
    )


# Predicates


def test_predicate_funcs_let_everything_through_by_default() -> None:
    assert verdicts(PredicateFuncs(), obj()) == (True, True, True, True)
    only_creates = PredicateFuncs(update=lambda e: False, delete=lambda e: False, generic=lambda e: False)
    assert verdicts(only_creates, obj()) == (True, False, False, False)


def test_generation_changed_drops_status_only_updates() -> None:
    predicate = predicates.generation_changed()
    spec_change = (obj(generation=1, resourceVersion="1"), obj(generation=2, resourceVersion="2"))
    status_change = (obj(generation=2, resourceVersion="2"), obj(generation=2, resourceVersion="3"))
    assert verdicts(predicate, *spec_change) == (True, True, True, True)
    assert verdicts(predicate, *status_change) == (True, False, True, True)


def test_resource_version_changed_drops_resyncs() -> None:
    predicate = predicates.resource_version_changed()
    assert predicate.update(UpdateEvent(obj(resourceVersion="1"), obj(resourceVersion="2")))
    assert not predicate.update(UpdateEvent(obj(resourceVersion="2"), obj(resourceVersion="2")))
    assert predicate.create(CreateEvent(obj()))


def with_map(field: str, value: dict[str, str] | None, generation: int = 1) -> Obj:
    o = obj(generation=generation)
    if value is not None:
        o["metadata"][field] = value
    return o


@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_labels_and_annotations_changed(field: str) -> None:
    predicate = predicates.labels_changed() if field == "labels" else predicates.annotations_changed()
    other = "annotations" if field == "labels" else "labels"

    def changed(old: Obj, new: Obj) -> bool:
        return predicate.update(UpdateEvent(old, new))

    assert changed(with_map(field, {"a": "1"}), with_map(field, {"a": "2"}))
    assert changed(with_map(field, {"a": "1"}), with_map(field, None))
    assert not changed(with_map(field, {"a": "1"}), with_map(field, {"a": "1"}, generation=5))
    assert not changed(with_map(field, None), with_map(field, {}))  # absent and empty are the same
    assert not changed(with_map(other, {"x": "1"}), with_map(other, {"x": "2"}))
    assert predicate.delete(DeleteEvent(obj()))


def test_label_selector_reads_the_new_object_on_update() -> None:
    predicate = predicates.label_selector("app=web,!canary")
    web, canary, bare = obj(labels={"app": "web"}), obj(labels={"app": "web", "canary": "1"}), obj()
    assert verdicts(predicate, web) == (True, True, True, True)
    assert verdicts(predicate, canary) == (False, False, False, False)
    assert verdicts(predicate, bare) == (False, False, False, False)
    assert predicate.update(UpdateEvent(bare, web))
    assert not predicate.update(UpdateEvent(web, canary))


def test_label_selector_rejects_a_malformed_selector_at_once() -> None:
    with pytest.raises(ValueError):
        predicates.label_selector("app in web")


def test_in_namespaces() -> None:
    predicate = predicates.in_namespaces(["ns1", "ns2"])
    assert verdicts(predicate, obj(namespace="ns2")) == (True, True, True, True)
    assert verdicts(predicate, obj(namespace="ns3")) == (False, False, False, False)
    assert verdicts(predicate, obj(namespace=None)) == (False, False, False, False)
    assert predicate.update(UpdateEvent(obj(namespace="ns3"), obj(namespace="ns1")))


def test_for_objects_uses_the_function_on_every_event_kind() -> None:
    predicate = predicates.for_objects(lambda o: o["metadata"]["name"].startswith("keep"))
    assert verdicts(predicate, obj("keep-me")) == (True, True, True, True)
    assert verdicts(predicate, obj("drop-me")) == (False, False, False, False)


def fixed(create: bool, update: bool, delete: bool, generic: bool) -> Predicate:
    return PredicateFuncs(
        create=lambda e: create, update=lambda e: update, delete=lambda e: delete, generic=lambda e: generic
    )


def test_and_or_not_compose_per_event_kind() -> None:
    p = fixed(True, True, False, False)
    q = fixed(True, False, True, False)
    assert verdicts(predicates.and_(p, q), obj()) == (True, False, False, False)
    assert verdicts(predicates.or_(p, q), obj()) == (True, True, True, False)
    assert verdicts(predicates.not_(p), obj()) == (False, False, True, True)
    assert verdicts(predicates.not_(predicates.and_(p, q)), obj()) == (False, True, True, True)
    assert verdicts(predicates.and_(), obj()) == (True, True, True, True)
    assert verdicts(predicates.or_(), obj()) == (False, False, False, False)


def test_and_of_real_predicates() -> None:
    predicate = predicates.and_(predicates.generation_changed(), predicates.in_namespaces(["ns"]))
    assert predicate.update(UpdateEvent(obj(generation=1), obj(generation=2)))
    assert not predicate.update(UpdateEvent(obj(generation=1), obj(generation=1)))
    assert not predicate.update(
        UpdateEvent(obj(namespace="other", generation=1), obj(namespace="other", generation=2))
    )


# Requests


def test_request_str_and_for_object() -> None:
    assert str(Request("ns", "a")) == "ns/a"
    assert str(Request("", "node-1")) == "node-1"
    assert Request.for_object(obj("a", "ns")) == Request("ns", "a")
    assert Request.for_object(obj("n", None)) == Request("", "n")
    assert Request.for_object({"metadata": {"name": "n", "namespace": None}}) == Request("", "n")
    assert sorted([Request("b", "a"), Request("a", "z"), Request("a", "b")]) == [
        Request("a", "b"),
        Request("a", "z"),
        Request("b", "a"),
    ]
    with pytest.raises(KeyError):
        Request.for_object({"metadata": {}})


def requests(handler: Handler, old: Obj, new: Obj | None = None) -> list[set[Request]]:
    """The Requests for create, update (old → new), delete and generic events, as sets."""
    current = old if new is None else new
    results: list[Iterable[Request]] = [
        handler.create(CreateEvent(current)),
        handler.update(UpdateEvent(old, current)),
        handler.delete(DeleteEvent(current)),
        handler.generic(GenericEvent(current)),
    ]
    return [set(r) for r in results]


# EnqueueForObject


def test_enqueue_for_object() -> None:
    handler = EnqueueForObject()
    assert requests(handler, obj("a", "ns")) == [{Request("ns", "a")}] * 4
    assert requests(handler, obj("n", None)) == [{Request("", "n")}] * 4


def test_enqueue_for_object_update_enqueues_old_and_new_once_each() -> None:
    handler = EnqueueForObject()
    assert set(handler.update(UpdateEvent(obj("old"), obj("new")))) == {
        Request("ns", "old"),
        Request("ns", "new"),
    }
    assert list(handler.update(UpdateEvent(obj("a"), obj("a", generation=2)))) == [Request("ns", "a")]


# EnqueueForOwner


def ref(kind: str, name: str, api_version: str = "apps/v1", controller: bool | None = True) -> Obj:
    r: Obj = {"apiVersion": api_version, "kind": kind, "name": name, "uid": f"uid-{name}"}
    if controller is not None:
        r["controller"] = controller
    return r


def owned(*refs: Obj, namespace: str | None = "ns") -> Obj:
    return obj("child", namespace, ownerReferences=list(refs))


def test_enqueue_for_owner_matches_group_and_kind_of_the_controller() -> None:
    handler = EnqueueForOwner("apps", "ReplicaSet")
    child = owned(
        ref("ReplicaSet", "rs-1"),
        ref("ReplicaSet", "rs-2", controller=False),
        ref("ReplicaSet", "rs-3", controller=None),
        ref("Deployment", "deploy", controller=True),
        ref("ReplicaSet", "other-group", "example.com/v1"),
        ref("ReplicaSet", "core", "v1"),
    )
    assert requests(handler, child) == [{Request("ns", "rs-1")}] * 4


def test_enqueue_for_owner_ignores_the_version() -> None:
    handler = EnqueueForOwner("example.com", "Widget")
    child = owned(ref("Widget", "w1", "example.com/v1"), ref("Widget", "w2", "example.com/v2beta1"))
    assert set(handler.create(CreateEvent(child))) == {Request("ns", "w1"), Request("ns", "w2")}


def test_enqueue_for_owner_in_the_core_group() -> None:
    handler = EnqueueForOwner("", "ConfigMap")
    child = owned(ref("ConfigMap", "core", "v1"), ref("ConfigMap", "grouped", "example.com/v1"))
    assert set(handler.create(CreateEvent(child))) == {Request("ns", "core")}


def test_enqueue_for_owner_all_owners_when_not_only_controller() -> None:
    handler = EnqueueForOwner("apps", "ReplicaSet", only_controller=False)
    child = owned(ref("ReplicaSet", "rs-1"), ref("ReplicaSet", "rs-2", controller=False), ref("Pod", "p"))
    assert set(handler.generic(GenericEvent(child))) == {Request("ns", "rs-1"), Request("ns", "rs-2")}


def test_enqueue_for_owner_cluster_scoped_owner_has_no_namespace() -> None:
    handler = EnqueueForOwner("rbac.authorization.k8s.io", "ClusterRole", owner_namespaced=False)
    child = owned(ref("ClusterRole", "admin", "rbac.authorization.k8s.io/v1"))
    assert requests(handler, child) == [{Request("", "admin")}] * 4
    namespaced = EnqueueForOwner("", "Namespace")
    assert set(namespaced.create(CreateEvent(owned(ref("Namespace", "ns", "v1"), namespace=None)))) == {
        Request("", "ns")
    }


def test_enqueue_for_owner_update_enqueues_old_and_new_owners() -> None:
    handler = EnqueueForOwner("apps", "ReplicaSet")
    old, new = owned(ref("ReplicaSet", "rs-1")), owned(ref("ReplicaSet", "rs-2"))
    assert set(handler.update(UpdateEvent(old, new))) == {Request("ns", "rs-1"), Request("ns", "rs-2")}
    assert set(handler.update(UpdateEvent(old, owned()))) == {Request("ns", "rs-1")}
    assert set(handler.update(UpdateEvent(old, old))) == {Request("ns", "rs-1")}


def test_enqueue_for_owner_without_owner_references() -> None:
    handler = EnqueueForOwner("apps", "ReplicaSet")
    assert requests(handler, obj()) == [set()] * 4
    assert requests(handler, owned()) == [set()] * 4


# EnqueueMapped


def test_enqueue_mapped_uses_the_function_and_maps_old_and_new_on_update() -> None:
    calls: list[str] = []

    def to_policies(o: Obj) -> list[Request]:
        calls.append(o["metadata"]["name"])
        return [
            Request("policies", p) for p in o["metadata"].get("annotations", {}).get("policies", "").split()
        ]

    handler = EnqueueMapped(to_policies)
    secret = obj("s", annotations={"policies": "p1 p2"})
    assert requests(handler, secret) == [{Request("policies", "p1"), Request("policies", "p2")}] * 4
    moved = obj("s2", annotations={"policies": "p2 p3"})
    assert set(handler.update(UpdateEvent(secret, moved))) == {
        Request("policies", "p1"),
        Request("policies", "p2"),
        Request("policies", "p3"),
    }
    assert calls[-2:] == ["s", "s2"]
    assert requests(handler, obj("none")) == [set()] * 4
