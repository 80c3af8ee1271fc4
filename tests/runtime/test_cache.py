from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.runtime import labels
from irc.runtime.cache import NAMESPACE_INDEX, Store, index_by_owner_uid, key_of

Obj = dict[str, Any]


def obj(
    name: str,
    namespace: str | None = None,
    label_map: dict[str, str] | None = None,
    owners: Iterable[str] = (),
    **extra: Any,
) -> Obj:
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if label_map is not None:
        metadata["labels"] = label_map
    if owners:
        metadata["ownerReferences"] = [{"uid": uid, "kind": "X", "name": uid} for uid in owners]
    return {"metadata": metadata, **extra}


def names(objs: Iterable[Obj]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


def by_image(o: Obj) -> list[str]:
    return list(o.get("images", []))


@pytest.mark.parametrize(
    ("o", "key"),
    [
        (obj("a", "ns"), "ns/a"),
        (obj("a"), "a"),
        (obj("a", ""), "a"),
        ({"metadata": {"name": "a", "namespace": None}}, "a"),
    ],
)
def test_key_of(o: Obj, key: str) -> None:
    assert key_of(o) == key


def test_key_of_needs_a_name() -> None:
    with pytest.raises(KeyError):
        key_of({"metadata": {"namespace": "ns"}})


def test_upsert_get_and_delete() -> None:
    store = Store()
    first, second, node = obj("a", "ns", spec=1), obj("a", "ns", spec=2), obj("n1")
    assert store.upsert(first) is None
    assert store.upsert(node) is None
    assert store.upsert(second) is first
    assert len(store) == 2
    assert ("ns/a" in store, "n1" in store, "a" in store) == (True, True, False)
    assert sorted(store.keys()) == ["n1", "ns/a"]
    assert store.get("ns/a") is second
    assert store.get_by("ns", "a") is second
    assert store.get_by(None, "n1") is node
    assert store.get_by("", "n1") is node
    assert store.get_by("other", "a") is None
    assert store.delete("ns/a") is second
    assert store.delete("ns/a") is None
    assert store.get("ns/a") is None
    assert len(store) == 1


def test_list_by_namespace_and_label_selector() -> None:
    store = Store()
    for o in (
        obj("a", "ns1", {"app": "web", "tier": "front"}),
        obj("b", "ns1", {"app": "db"}),
        obj("c", "ns2", {"app": "web"}),
        obj("d", "ns2"),
        obj("cluster", label_map={"app": "web"}),
    ):
        store.upsert(o)
    assert names(store.list()) == ["a", "b", "c", "cluster", "d"]
    assert names(store.list("ns1")) == ["a", "b"]
    assert names(store.list("ns3")) == []
    assert names(store.list(label_selector="app=web")) == ["a", "c", "cluster"]
    assert names(store.list("ns2", "app=web")) == ["c"]
    assert names(store.list("ns2", "app!=web")) == ["d"]
    assert names(store.list(label_selector="")) == ["a", "b", "c", "cluster", "d"]
    assert names(store.list(label_selector=labels.parse("app in (web,db),!tier"))) == ["b", "c", "cluster"]
    store.delete("ns1/a")
    assert names(store.list("ns1")) == ["b"]
    with pytest.raises(ValueError):
        store.list(label_selector="app in web")


def test_reads_return_the_stored_objects_themselves() -> None:
    store = Store()
    o = obj("a", "ns")
    store.upsert(o)
    assert store.list("ns")[0] is o
    assert store.by_index(NAMESPACE_INDEX, "ns")[0] is o


def test_indexers_follow_updates_and_deletes() -> None:
    store = Store({"owner": index_by_owner_uid, "image": by_image})
    store.upsert(obj("a", "ns", owners=["u1", "u2"], images=["nginx", "nginx", "redis"]))
    store.upsert(obj("b", "ns", owners=["u1"]))
    assert names(store.by_index("owner", "u1")) == ["a", "b"]
    assert names(store.by_index("owner", "u2")) == ["a"]
    assert names(store.by_index("image", "nginx")) == ["a"]

    store.upsert(obj("a", "ns", owners=["u3"], images=["redis"]))
    assert names(store.by_index("owner", "u1")) == ["b"]
    assert store.by_index("owner", "u2") == []
    assert names(store.by_index("owner", "u3")) == ["a"]
    assert store.by_index("image", "nginx") == []
    assert names(store.by_index("image", "redis")) == ["a"]

    store.delete("ns/a")
    assert store.by_index("owner", "u3") == []
    assert store.by_index("image", "redis") == []
    assert names(store.by_index("owner", "u1")) == ["b"]
    assert names(store.by_index(NAMESPACE_INDEX, "ns")) == ["b"]


def test_owner_references_without_uid_are_not_indexed() -> None:
    o = obj("a", "ns")
    o["metadata"]["ownerReferences"] = [{"kind": "X", "name": "x"}, {"uid": "u1"}]
    assert index_by_owner_uid(o) == ["u1"]


def test_add_indexer_indexes_existing_objects_and_then_keeps_in_step() -> None:
    store = Store()
    store.upsert(obj("a", "ns", images=["nginx"]))
    store.upsert(obj("b", "ns", images=["nginx", "redis"]))
    store.add_indexer("image", by_image)
    assert names(store.by_index("image", "nginx")) == ["a", "b"]
    store.upsert(obj("b", "ns", images=[]))
    store.upsert(obj("c", "other", images=["redis"]))
    assert names(store.by_index("image", "nginx")) == ["a"]
    assert names(store.by_index("image", "redis")) == ["c"]


@pytest.mark.parametrize("name", ["image", NAMESPACE_INDEX])
def test_add_indexer_refuses_a_known_name(name: str) -> None:
    store = Store({"image": by_image})
    with pytest.raises(ValueError, match=name):
        store.add_indexer(name, by_image)


def test_by_index_of_an_unknown_index_names_the_known_ones() -> None:
    store = Store({"image": by_image})
    with pytest.raises(KeyError, match="no indexer 'owner'; known: image, namespace"):
        store.by_index("owner", "u1")


NAMES = st.sampled_from(["a", "b", "c"])
NAMESPACES = st.sampled_from([None, "ns1", "ns2"])
IMAGES = st.lists(st.sampled_from(["nginx", "redis", "busybox"]), max_size=3)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), NAMES, NAMESPACES, IMAGES),
        st.tuples(st.just("delete"), NAMES, NAMESPACES, st.just([])),
    ),
    max_size=30,
)


@settings(max_examples=200)
@given(ops=OPS, late_indexer=st.booleans())
def test_indices_always_agree_with_the_stored_objects(
    ops: list[tuple[str, str, str | None, list[str]]], late_indexer: bool
) -> None:
    store = Store() if late_indexer else Store({"image": by_image})
    model: dict[str, Obj] = {}
    for op, name, namespace, images in ops:
        o = obj(name, namespace, images=images)
        if op == "upsert":
            assert store.upsert(o) is model.get(key_of(o))
            model[key_of(o)] = o
        else:
            assert store.delete(key_of(o)) is model.pop(key_of(o), None)
    if late_indexer:
        store.add_indexer("image", by_image)
    assert sorted(store.keys()) == sorted(model)
    for image in ("nginx", "redis", "busybox"):
        expected = sorted(k for k, o in model.items() if image in o["images"])
        assert sorted(key_of(o) for o in store.by_index("image", image)) == expected
    for namespace in ("ns1", "ns2"):
        expected = sorted(k for k, o in model.items() if o["metadata"].get("namespace") == namespace)
        assert sorted(key_of(o) for o in store.list(namespace)) == expected
