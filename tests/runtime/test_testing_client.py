"""irc.runtime.testing keeps the promises of its docstrings: FakeClient answers as the API server does
(resourceVersions, preconditions, the status subresource, generation, finalizers, selectors, patches),
FakeCache reads as a manager's cache does (indexes, metadata-only views, watched namespaces), and
FakeRecorder keeps every Event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from irc.runtime import (
    AlreadyExists,
    ApiClient,
    Conflict,
    EventRecorder,
    Forbidden,
    Index,
    Invalid,
    NotFound,
    Obj,
    Reader,
    Request,
)
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder, RecordedEvent
from irc.runtime.testing.client import Action

API = "example.irc.dev/v1"
CREATED = "2023-11-14T22:13:20Z"  # FAKE_EPOCH, the wall time of a fresh FakeClock


def widget(name: str = "w", namespace: str = "ns", **fields: Any) -> Obj:
    """An object of a custom kind with spec and status."""
    return {
        "apiVersion": API,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": 1},
        **fields,
    }


def configmap(name: str, namespace: str = "ns", labels: dict[str, str] | None = None) -> Obj:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_the_fakes_are_what_a_reconciler_takes() -> None:
    client = FakeClient()
    api: ApiClient = client  # mypy checks the protocols; this checks the attributes exist
    reader: Reader = client.cache
    recorder: EventRecorder = FakeRecorder()
    assert api is client and reader is client.cache and callable(recorder.event)


# ---- resourceVersions and preconditions


async def test_every_write_assigns_a_new_resource_version_and_reads_assign_none() -> None:
    client = FakeClient([widget("a")])
    a = client.get_now(API, "Widget", "a", "ns")
    created = await client.create(widget("b"))
    assert rv(created) > rv(a)
    await client.get(API, "Widget", "b", "ns")
    client.cache.get(API, "Widget", "b", "ns")
    listed = await client.list(API, "Widget", "ns")
    assert listed.resource_version == created["metadata"]["resourceVersion"]  # the latest write's
    updated = await client.update(created)
    patched = await client.patch(API, "Widget", "b", {"metadata": {"labels": {"x": "y"}}}, namespace="ns")
    status = await client.patch(
        API, "Widget", "b", {"status": {"ok": True}}, namespace="ns", subresource="status"
    )
    assert rv(created) < rv(updated) < rv(patched) < rv(status)
    assert client.get_now(API, "Widget", "b", "ns") == status


async def test_a_stale_resource_version_is_a_conflict_for_update_patch_and_delete() -> None:
    client = FakeClient([widget()])
    stale = client.cache.get(API, "Widget", "w", "ns")  # a read taken before the next write
    await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    changed = copy.deepcopy(stale)
    changed["spec"]["size"] = 3
    with pytest.raises(Conflict) as e:
        await client.update(changed)
    assert e.value.status == 409 and e.value.reason == "Conflict"
    with pytest.raises(Conflict):
        await client.update_status({**changed, "status": {"ok": True}})
    guarded = {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]}, "spec": {"size": 3}}
    with pytest.raises(Conflict):
        await client.patch(API, "Widget", "w", guarded, namespace="ns")
    with pytest.raises(Conflict):
        await client.patch(API, "Widget", "w", guarded, namespace="ns", subresource="status")
    with pytest.raises(Conflict):
        await client.delete(API, "Widget", "w", "ns", resource_version=stale["metadata"]["resourceVersion"])
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {"size": 2}  # nothing was written

    current = client.get_now(API, "Widget", "w", "ns")
    await client.patch(
        API,
        "Widget",
        "w",
        {**guarded, "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}},
        namespace="ns",
    )
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {"size": 3}


async def test_writes_without_a_resource_version_are_unconditional() -> None:
    client = FakeClient([widget()])
    stale = copy.deepcopy(client.get_now(API, "Widget", "w", "ns"))
    await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    del stale["metadata"]["resourceVersion"]
    stale["spec"]["size"] = 5
    assert (await client.update(stale))["spec"] == {"size": 5}
    await client.delete(API, "Widget", "w", "ns")
    assert client.objects(API, "Widget") == []


async def test_already_exists_and_not_found() -> None:
    client = FakeClient([widget()])
    with pytest.raises(AlreadyExists) as exists:
        await client.create(widget())
    assert exists.value.status == 409 and exists.value.reason == "AlreadyExists"
    missing = widget("missing")
    calls = [
        client.get(API, "Widget", "missing", "ns"),
        client.update(missing),
        client.update_status(missing),
        client.patch(API, "Widget", "missing", {"spec": {}}, namespace="ns"),
        client.delete(API, "Widget", "missing", "ns"),
        client.get(API, "Widget", "w", "elsewhere"),
        client.get(API, "Gadget", "w", "ns"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as e:
            await call
        assert e.value.status == 404
    with pytest.raises(NotFound):
        client.cache.get(API, "Widget", "missing", "ns")
    with pytest.raises(NotFound):
        client.get_now(API, "Widget", "missing", "ns")


# ---- what create stores


async def test_create_stamps_the_server_fields_and_returns_a_copy() -> None:
    clock = FakeClock()
    clock.advance(60)
    client = FakeClient(clock=clock)
    created = await client.create(
        {**widget(), "metadata": {"name": "w", "namespace": "ns", "resourceVersion": "99"}}
    )
    metadata = created["metadata"]
    assert (
        metadata["generation"] == 1
        and metadata["uid"]
        and metadata["creationTimestamp"] == "2023-11-14T22:14:20Z"
    )
    assert metadata["resourceVersion"] != "99"
    created["spec"]["size"] = 100
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {"size": 1}
    assert client.writes() == [Action("create", "Widget", "ns", "w")]


async def test_a_dry_run_create_stores_nothing() -> None:
    client = FakeClient()
    assert (await client.create(widget(), dry_run=True))["metadata"]["name"] == "w"
    assert client.objects(API, "Widget") == []


async def test_generate_name_gives_a_fresh_name_with_the_prefix() -> None:
    client = FakeClient()
    generated = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"generateName": "job-", "namespace": "ns"},
    }
    first, second = await client.create(generated), await client.create(generated)
    names = [first["metadata"]["name"], second["metadata"]["name"]]
    assert all(n.startswith("job-") and len(n) > len("job-") for n in names) and names[0] != names[1]
    assert [o["metadata"]["name"] for o in client.objects("v1", "ConfigMap", "ns")] == sorted(names)
    assert client.writes() == [Action("create", "ConfigMap", "ns", n) for n in names]
    with pytest.raises(Invalid):
        await client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "ns"}})


async def test_the_constructor_stores_objects_as_given_status_included() -> None:
    client = FakeClient(
        [
            widget(status={"phase": "Ready"}),
            {**widget("old"), "metadata": {"name": "old", "namespace": "ns", "generation": 5, "uid": "u-1"}},
        ]
    )
    stored = client.get_now(API, "Widget", "w", "ns")
    assert stored["status"] == {"phase": "Ready"} and stored["metadata"]["creationTimestamp"] == CREATED
    old = client.get_now(API, "Widget", "old", "ns")["metadata"]
    assert old["generation"] == 5 and old["uid"] == "u-1" and old["resourceVersion"]
    assert client.actions == []


# ---- the status subresource and generation


async def test_create_update_and_patch_ignore_status_of_a_kind_with_the_subresource() -> None:
    client = FakeClient()
    created = await client.create(widget(status={"phase": "Made-up"}))
    assert "status" not in created
    await client.update_status({**created, "status": {"phase": "Ready"}})
    current = client.get_now(API, "Widget", "w", "ns")
    await client.update({**current, "status": {"phase": "Overwritten"}})
    await client.patch(API, "Widget", "w", {"status": {"phase": "Patched"}}, namespace="ns")
    await client.patch(
        API,
        "Widget",
        "w",
        [{"op": "replace", "path": "/status/phase", "value": "J"}],
        namespace="ns",
        patch_type="json",
    )
    assert client.get_now(API, "Widget", "w", "ns")["status"] == {"phase": "Ready"}


async def test_status_subresource_changes_only_status() -> None:
    client = FakeClient([widget()])
    before = client.get_now(API, "Widget", "w", "ns")
    change = copy.deepcopy(before)
    change["spec"]["size"] = 9
    change["metadata"]["labels"] = {"sneaky": "yes"}
    change["status"] = {"phase": "Ready"}
    written = await client.update_status(change)
    assert written["spec"] == {"size": 1} and "labels" not in written["metadata"]
    assert written["status"] == {"phase": "Ready"} and written["metadata"]["generation"] == 1
    await client.patch(
        API, "Widget", "w", {"spec": {"size": 7}, "status": {"seen": 1}}, namespace="ns", subresource="status"
    )
    after = client.get_now(API, "Widget", "w", "ns")
    assert after["spec"] == {"size": 1} and after["status"] == {"phase": "Ready", "seen": 1}
    assert client.writes() == [
        Action("update", "Widget", "ns", "w", "status"),
        Action("patch", "Widget", "ns", "w", "status"),
    ]


async def test_status_subresource_names_the_kinds_that_have_it() -> None:
    client = FakeClient(status_subresource=["Widget"])
    assert "status" not in await client.create(widget(status={"phase": "x"}))
    gadget = {**widget("g", status={"phase": "kept"}), "kind": "Gadget"}
    created = await client.create(gadget)
    assert created["status"] == {"phase": "kept"}  # status is part of a kind without the subresource
    await client.update({**created, "status": {"phase": "updated"}})
    assert client.get_now(API, "Gadget", "g", "ns")["status"] == {"phase": "updated"}
    await client.patch(API, "Gadget", "g", {"status": {"phase": "patched"}}, namespace="ns")
    assert client.get_now(API, "Gadget", "g", "ns")["status"] == {"phase": "patched"}


async def test_generation_moves_only_when_the_spec_changes() -> None:
    client = FakeClient([widget()])

    def generation() -> int:
        return int(client.get_now(API, "Widget", "w", "ns")["metadata"]["generation"])

    await client.patch(
        API, "Widget", "w", {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}}, namespace="ns"
    )
    await client.patch(
        API, "Widget", "w", {"status": {"phase": "Ready"}}, namespace="ns", subresource="status"
    )
    await client.patch(API, "Widget", "w", {"spec": {"size": 1}}, namespace="ns")  # the same spec
    assert generation() == 1
    await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    assert generation() == 2
    current = copy.deepcopy(client.get_now(API, "Widget", "w", "ns"))
    current["spec"]["color"] = "red"
    current["metadata"]["generation"] = 40  # the client cannot set it
    assert (await client.update(current))["metadata"]["generation"] == 3


async def test_the_client_cannot_change_identity_fields() -> None:
    client = FakeClient([widget()])
    before = client.get_now(API, "Widget", "w", "ns")["metadata"]
    change = copy.deepcopy(client.get_now(API, "Widget", "w", "ns"))
    change["metadata"].update(uid="other", creationTimestamp="2000-01-01T00:00:00Z")
    after = (await client.update(change))["metadata"]
    assert (after["uid"], after["creationTimestamp"]) == (before["uid"], before["creationTimestamp"])


# ---- finalizers and deletion


async def test_delete_without_finalizers_removes_the_object() -> None:
    client = FakeClient([widget()])
    await client.delete(API, "Widget", "w", "ns", propagation_policy="Foreground")
    with pytest.raises(NotFound):
        client.cache.get(API, "Widget", "w", "ns")


async def test_finalizers_hold_a_deletion_until_the_last_one_is_removed() -> None:
    clock = FakeClock()
    client = FakeClient(
        [widget(metadata={"name": "w", "namespace": "ns", "finalizers": ["a", "b"]})], clock=clock
    )
    clock.advance(1)
    marked = await client.delete(API, "Widget", "w", "ns")
    assert marked["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:21Z"
    assert marked["metadata"]["generation"] == 2  # the API server's markAsDeleting moves it
    stored = client.get_now(API, "Widget", "w", "ns")
    assert stored == marked

    clock.advance(1)
    again = await client.delete(API, "Widget", "w", "ns")  # already deleting: nothing changes
    assert again == stored and client.get_now(API, "Widget", "w", "ns") is stored

    change = copy.deepcopy(stored)
    change["metadata"]["deletionTimestamp"] = None  # cannot be undone
    change["metadata"]["finalizers"] = ["b"]
    await client.update(change)
    remaining = client.get_now(API, "Widget", "w", "ns")["metadata"]
    assert remaining["finalizers"] == ["b"] and remaining["deletionTimestamp"] == "2023-11-14T22:13:21Z"

    await client.patch(
        API,
        "Widget",
        "w",
        [{"op": "remove", "path": "/metadata/finalizers/0"}],
        namespace="ns",
        patch_type="json",
    )
    assert client.objects(API, "Widget") == []


async def test_removing_finalizers_of_a_live_object_keeps_it() -> None:
    client = FakeClient([widget(metadata={"name": "w", "namespace": "ns", "finalizers": ["a"]})])
    await client.patch(API, "Widget", "w", {"metadata": {"finalizers": None}}, namespace="ns")
    assert "finalizers" not in client.get_now(API, "Widget", "w", "ns")["metadata"]


# ---- lists: namespaces, selectors, metadata-only views


async def test_list_filters_by_namespace_label_selector_and_field_selector() -> None:
    client = FakeClient(
        [
            configmap("a", "one", {"app": "x", "tier": "web"}),
            configmap("b", "one", {"app": "y"}),
            configmap("c", "two", {"app": "x"}),
            configmap("d", "two"),
        ]
    )

    async def names(
        namespace: str | None = None, labels: str | None = None, fields: str | None = None
    ) -> list[str]:
        found = await client.list("v1", "ConfigMap", namespace, label_selector=labels, field_selector=fields)
        return [o["metadata"]["name"] for o in found.items]

    assert await names() == ["a", "b", "c", "d"]
    assert await names("") == ["a", "b", "c", "d"]  # "" is every namespace, as for the real client
    assert await names("two") == ["c", "d"]
    assert await names(labels="app=x") == ["a", "c"]
    assert await names(labels="app in (x,y),!tier") == ["b", "c"]
    assert await names(labels="app!=x") == ["b", "d"]
    assert await names("one", labels="app") == ["a", "b"]
    assert await names(fields="metadata.name=c") == ["c"]
    assert await names(fields="metadata.namespace!=one") == ["c", "d"]
    assert await names(fields="metadata.namespace==two,metadata.name!=c") == ["d"]
    assert await names(labels="app=x", fields="metadata.namespace=one") == ["a"]
    with pytest.raises(NotImplementedError):
        await names(fields="status.phase=Running")

    assert [o["metadata"]["name"] for o in client.cache.list("v1", "ConfigMap", "one", "app=x")] == ["a"]
    assert [o["metadata"]["name"] for o in client.cache.list("v1", "ConfigMap", label_selector="!app")] == [
        "d"
    ]


async def test_metadata_only_views_carry_the_kind_and_metadata_only() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "data": {"k": "dg=="},
    }
    by_namespace = Index("v1", "Secret", "ns", lambda o: [o["metadata"]["namespace"]], metadata_only=True)
    client = FakeClient([secret], indexes=[by_namespace])
    view = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": client.get_now("v1", "Secret", "s", "ns")["metadata"],
    }
    assert (await client.list("v1", "Secret", metadata_only=True)).items == [view]
    assert client.cache.get("v1", "Secret", "s", "ns", metadata_only=True) == view
    assert client.cache.list("v1", "Secret", metadata_only=True) == [view]
    assert client.cache.by_index("v1", "Secret", "ns", "ns", metadata_only=True) == [view]
    assert client.cache.get("v1", "Secret", "s", "ns")["data"] == {"k": "dg=="}  # the full view too
    with pytest.raises(KeyError):  # the index was declared on the metadata-only view only
        client.cache.by_index("v1", "Secret", "ns", "ns")


async def test_cluster_scoped_objects_are_read_with_an_empty_namespace_as_requests_carry() -> None:
    client = FakeClient([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}])
    request = Request.for_object(client.get_now("v1", "Namespace", "team"))
    assert request == Request("", "team")
    assert client.cache.get("v1", "Namespace", request.name, request.namespace)["metadata"]["name"] == "team"
    assert (await client.get("v1", "Namespace", request.name, request.namespace))["metadata"][
        "name"
    ] == "team"
    await client.patch("v1", "Namespace", "team", {"metadata": {"labels": {"a": "b"}}}, namespace="")
    assert client.get_now("v1", "Namespace", "team", "")["metadata"]["labels"] == {"a": "b"}
    assert [o["metadata"]["name"] for o in client.cache.list("v1", "Namespace")] == ["team"]
    with pytest.raises(NotFound):
        client.cache.get("v1", "Namespace", "team", "default")


# ---- patches


async def test_merge_patch_merges_objects_replaces_lists_and_deletes_nulls() -> None:
    client = FakeClient(
        [
            widget(
                spec={
                    "size": 1,
                    "ports": [1, 2],
                    "nested": {"a": 1, "b": 2},
                    "items": [{"name": "x", "v": 1}],
                }
            )
        ]
    )
    await client.patch(
        API,
        "Widget",
        "w",
        {"spec": {"ports": [3], "nested": {"a": None, "c": 3}, "items": [{"name": "y"}], "size": None}},
        namespace="ns",
    )
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {
        "ports": [3],
        "nested": {"b": 2, "c": 3},
        "items": [{"name": "y"}],
    }


async def test_strategic_merge_patch_merges_named_lists_by_name() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "containers": [
                {"name": "app", "image": "app:1", "args": ["a", "b"]},
                {"name": "side", "image": "side:1"},
            ],
        },
    }
    client = FakeClient([pod])
    patch = {
        "spec": {
            "containers": [{"name": "app", "image": "app:2", "args": ["c"]}, {"name": "new", "image": "n:1"}]
        }
    }
    await client.patch("v1", "Pod", "p", patch, namespace="ns", patch_type="strategic")
    assert client.get_now("v1", "Pod", "p", "ns")["spec"]["containers"] == [
        {"name": "app", "image": "app:2", "args": ["c"]},  # a list of strings is replaced
        {"name": "side", "image": "side:1"},
        {"name": "new", "image": "n:1"},
    ]
    await client.patch("v1", "Pod", "p", patch, namespace="ns")  # a merge patch replaces the list
    assert [c["name"] for c in client.get_now("v1", "Pod", "p", "ns")["spec"]["containers"]] == ["app", "new"]
    with pytest.raises(NotImplementedError):
        await client.patch("v1", "Pod", "p", patch, namespace="ns", patch_type="apply")


async def test_json_patch_adds_replaces_removes_and_tests() -> None:
    client = FakeClient([widget(spec={"size": 1, "tags": ["a"], "a/b": 0, "drop": True})])
    ops: list[Obj] = [
        {"op": "test", "path": "/spec/size", "value": 1},
        {"op": "replace", "path": "/spec/size", "value": 2},
        {"op": "add", "path": "/spec/tags/-", "value": "c"},
        {"op": "add", "path": "/spec/tags/1", "value": "b"},
        {"op": "replace", "path": "/spec/a~1b", "value": 1},
        {"op": "remove", "path": "/spec/drop"},
        {"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
    ]
    await client.patch(API, "Widget", "w", ops, namespace="ns", patch_type="json")
    patched = client.get_now(API, "Widget", "w", "ns")
    assert patched["spec"] == {"size": 2, "tags": ["a", "b", "c"], "a/b": 1}
    assert patched["metadata"]["labels"] == {"k": "v"}
    before = rv(patched)
    with pytest.raises(Invalid):  # a failed test op is the JSON patch's precondition
        await client.patch(
            API,
            "Widget",
            "w",
            [{"op": "test", "path": "/spec/size", "value": 1}, {"op": "remove", "path": "/spec/tags"}],
            namespace="ns",
            patch_type="json",
        )
    assert rv(client.get_now(API, "Widget", "w", "ns")) == before
    with pytest.raises(NotImplementedError):
        await client.patch(
            API,
            "Widget",
            "w",
            [{"op": "move", "from": "/spec/size", "path": "/spec/x"}],
            namespace="ns",
            patch_type="json",
        )


# ---- reads are snapshots


async def test_an_object_read_earlier_stays_as_it_was_after_later_writes() -> None:
    client = FakeClient([widget(metadata={"name": "w", "namespace": "ns", "finalizers": ["f"]})])
    cached = client.cache.get(API, "Widget", "w", "ns")
    fetched = await client.get(API, "Widget", "w", "ns")
    listed = client.cache.list(API, "Widget")[0]
    snapshot = copy.deepcopy(cached)
    await client.patch(
        API, "Widget", "w", {"spec": {"size": 2}, "metadata": {"labels": {"a": "b"}}}, namespace="ns"
    )
    await client.update_status({**client.get_now(API, "Widget", "w", "ns"), "status": {"phase": "x"}})
    await client.delete(API, "Widget", "w", "ns")
    assert cached == snapshot and fetched == snapshot and listed == snapshot
    assert client.cache.get(API, "Widget", "w", "ns") != snapshot


async def test_client_reads_are_copies_the_caller_may_change() -> None:
    client = FakeClient([widget()])
    fetched = await client.get(API, "Widget", "w", "ns")
    fetched["spec"]["size"] = 10
    (await client.list(API, "Widget")).items[0]["spec"]["size"] = 11
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {"size": 1}


# ---- injected errors and the record of calls


async def test_inject_fails_the_next_matching_calls_only() -> None:
    client = FakeClient([widget(), configmap("c")])
    denied = Forbidden(403, "Forbidden", "no")
    client.inject("patch", "Widget", Conflict(409, "Conflict", "injected"), times=2)
    client.inject("get", "ConfigMap", denied)
    await client.patch("v1", "ConfigMap", "c", {"data": {"x": "y"}}, namespace="ns")  # another kind
    await client.get(API, "Widget", "w", "ns")  # another verb
    for _ in range(2):
        with pytest.raises(Conflict, match="injected"):
            await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    assert client.get_now(API, "Widget", "w", "ns")["spec"] == {"size": 1}
    await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    with pytest.raises(Forbidden) as e:
        await client.get("v1", "ConfigMap", "c", "ns")
    assert e.value is denied
    assert (await client.get("v1", "ConfigMap", "c", "ns"))["data"] == {"k": "v", "x": "y"}
    assert client.cache.get("v1", "ConfigMap", "c", "ns")  # cache reads are not API calls: never injected


async def test_actions_record_every_call_and_writes_the_changing_ones() -> None:
    client = FakeClient([widget(), widget("gone")])
    await client.get(API, "Widget", "w", "ns")
    await client.list(API, "Widget", "ns", label_selector="a=b")
    client.cache.list(API, "Widget")
    await client.patch(API, "Widget", "w", {"spec": {"size": 2}}, namespace="ns")
    await client.update_status({**widget(), "status": {}})
    with pytest.raises(AlreadyExists):
        await client.create(widget())
    await client.delete(API, "Widget", "gone", "ns")
    assert client.actions == [
        Action("get", "Widget", "ns", "w"),
        Action("list", "Widget", "ns", ""),
        Action("patch", "Widget", "ns", "w"),
        Action("update", "Widget", "ns", "w", "status"),
        Action("create", "Widget", "ns", "w"),  # failed, still recorded: it was tried
        Action("delete", "Widget", "ns", "gone"),
    ]
    assert client.writes() == client.actions[2:]


# ---- FakeCache


def by_color(obj: Obj) -> list[str]:
    color = (obj.get("spec") or {}).get("color")
    return [color] if color else []


async def test_cache_indexes_follow_every_write() -> None:
    client = FakeClient(
        [widget("a", spec={"color": "red"}), widget("b", "other", spec={"color": "red"}), widget("c")],
        indexes=[Index(API, "Widget", "color", by_color)],
    )

    def red() -> list[tuple[str, str]]:
        return [
            (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in client.cache.by_index(API, "Widget", "color", "red")
        ]

    assert red() == [("ns", "a"), ("other", "b")]
    await client.patch(API, "Widget", "c", {"spec": {"color": "red"}}, namespace="ns")
    await client.patch(API, "Widget", "a", {"spec": {"color": "blue"}}, namespace="ns")
    await client.delete(API, "Widget", "b", "other")
    assert red() == [("ns", "c")]
    assert client.cache.by_index(API, "Widget", "color", "green") == []
    with pytest.raises(KeyError, match="indexes="):
        client.cache.by_index(API, "Widget", "size", "1")
    with pytest.raises(KeyError):
        client.cache.by_index(API, "Gadget", "color", "red")  # an index is declared per kind


def test_cache_reads_outside_the_watched_namespaces_raise_lookup_error() -> None:
    objects = [
        widget("a", "one"),
        widget("b", "two"),
        widget("c", "three"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "one"}},
    ]
    client = FakeClient(
        objects, indexes=[Index(API, "Widget", "all", lambda o: ["all"])], namespaces=["one", "two"]
    )
    cache = client.cache
    assert cache.get(API, "Widget", "a", "one")["metadata"]["name"] == "a"
    assert [o["metadata"]["name"] for o in cache.list(API, "Widget")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in cache.by_index(API, "Widget", "all", "all")] == ["a", "b"]
    assert cache.get("v1", "Namespace", "one")  # cluster-scoped objects are watched everywhere
    with pytest.raises(LookupError):
        cache.get(API, "Widget", "c", "three")
    with pytest.raises(LookupError):
        cache.list(API, "Widget", "three")
    with pytest.raises(NotFound):  # a watched namespace: the object is just not there
        cache.get(API, "Widget", "c", "one")


# ---- FakeRecorder


def test_fake_recorder_keeps_every_event_in_order() -> None:
    recorder = FakeRecorder()
    obj = widget()
    recorder.event(obj, "Normal", "Scaled", "size 1")
    recorder.event(obj, "Normal", "Scaled", "size 1")  # identical: kept, not merged into a count
    recorder.event({"kind": "Namespace", "metadata": {"name": "team"}}, "Warning", "Broken", "why")
    assert recorder.events == [
        RecordedEvent("Widget", "ns", "w", "Normal", "Scaled", "size 1"),
        RecordedEvent("Widget", "ns", "w", "Normal", "Scaled", "size 1"),
        RecordedEvent("Namespace", None, "team", "Warning", "Broken", "why"),
    ]
    assert recorder.reasons() == ["Scaled", "Scaled", "Broken"]
    assert FakeRecorder().events == []  # one list per recorder


async def test_writes_record_what_they_sent_and_a_frozen_cache_serves_the_past() -> None:
    client = FakeClient(
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"}}]
    )
    client.cache.freeze()
    patch = {"metadata": {"labels": {"x": "1"}}}
    await client.patch("v1", "ConfigMap", "a", patch, namespace="ns")
    patch["metadata"]["labels"]["x"] = "2"  # recorded as sent, not as changed afterwards
    assert [a.body for a in client.writes()] == [{"metadata": {"labels": {"x": "1"}}}]
    assert "labels" not in client.cache.get("v1", "ConfigMap", "a", "ns")["metadata"]
    await client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "ns"}}
    )
    assert [o["metadata"]["name"] for o in client.cache.list("v1", "ConfigMap", "ns")] == ["a"]
    client.cache.catch_up()
    assert client.cache.get("v1", "ConfigMap", "a", "ns")["metadata"]["labels"] == {"x": "1"}
    assert len(client.cache.list("v1", "ConfigMap", "ns")) == 2
