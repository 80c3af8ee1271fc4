"""An in-memory API server behind the client's verbs (controller-runtime's client/fake), and the
`Reader` over it that a manager's cache would be.

What it does as the API server does:
- every write assigns a new resourceVersion; `update`, a patch carrying `metadata.resourceVersion`
  and `delete(resource_version=...)` fail with `Conflict` when the object has moved on;
- `create` fails with `AlreadyExists`, reads and writes of a missing object with `NotFound`;
- kinds with a status subresource (all kinds unless `status_subresource` names them) ignore status
  in `create`, `update` and patches of the object, and change only status through
  `subresource="status"`; `metadata.generation` moves when anything but metadata and status changes;
- `delete` of an object with finalizers sets `deletionTimestamp` (and moves `generation`, as the
  API server's markAsDeleting does); removing the last finalizer of such an object deletes it;
- a namespace of "" means no namespace (a cluster-scoped object; every namespace for a list), as
  `Request.namespace` is "" for cluster-scoped objects;
- lists filter by namespace, label selector and `metadata.name`/`metadata.namespace` field selectors.

Objects given to the constructor are stored as given (status included), as a test's starting state;
typed objects (irc.runtime.typed, such as `slim` workloads), as the dicts they read as.
Writes replace the stored dict instead of changing it, so an object read earlier stays as it was: a
stale read for a Conflict test is just a read taken before a write. `inject(verb, kind, error)`
makes the next matching call fail; `actions` lists every call made, for asserting what was written.
Strategic merge patches merge lists of named objects (containers, env, volumes) by name and
replace other lists; `$patch` directives are not supported.
"""

from __future__ import annotations

import builtins
import copy
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from irc.runtime import errors, labels
from irc.runtime.cache import Index, not_found
from irc.runtime.client import Obj, ObjectList, PatchType, api_version_of, metadata_view
from irc.runtime.clock import Clock
from irc.runtime.testing.clock import FakeClock
from irc.runtime.typed import TypedObject, to_dict

Verb = Literal["get", "list", "create", "update", "patch", "delete"]
_Key = tuple[str, str, str | None, str]  # api_version, kind, namespace, name


@dataclass(frozen=True)
class Action:
    """One call made to the fake: its verb, the object's kind, namespace and name, the subresource,
    and what a write sent (the object, or the patch), as it was sent."""

    verb: Verb
    kind: str
    namespace: str | None
    name: str
    subresource: str | None = None
    body: Any = field(default=None, compare=False)


class FakeClient:
    """The client's verbs (`irc.runtime.client.ApiClient`) over objects in memory (module docstring)."""

    def __init__(
        self,
        objects: Iterable[Obj] = (),
        *,
        indexes: Iterable[Index] = (),
        clock: Clock | None = None,
        status_subresource: Iterable[str] | None = None,
        namespaces: Sequence[str] = (),
    ) -> None:
        self.clock = clock or FakeClock()
        self._status_kinds = None if status_subresource is None else frozenset(status_subresource)
        self._objects: dict[_Key, Obj] = {}
        self._revision = 0  # the last resourceVersion assigned; a list answers it
        self._injected: list[tuple[Verb, str, errors.ApiError]] = []
        self._reviews: dict[str, Callable[[Obj], dict[str, Any]]] = {}
        self.actions: list[Action] = []
        self.cache = FakeCache(self, indexes, namespaces)
        for obj in objects:
            # A typed object (irc.runtime.typed) is stored as the dict it reads as: writes edit it.
            stored = to_dict(obj) if isinstance(obj, TypedObject) else copy.deepcopy(obj)
            self._stamp(stored, generation=stored["metadata"].get("generation", 1))
            self._objects[_key(stored)] = stored

    # ---- what tests use

    def get_now(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        """The stored object (shared: read only), without recording an action; NotFound if missing."""
        obj = self._objects.get((api_version, kind, namespace or None, name))
        if obj is None:
            raise not_found(kind, name, namespace)
        return obj

    def objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        _at: Mapping[_Key, Obj] | None = None,
    ) -> builtins.list[Obj]:
        """Every stored object of a kind (in `namespace` if given), sorted by namespace and name."""
        found = [
            o
            for (a, k, ns, _), o in (self._objects if _at is None else _at).items()
            if (a, k) == (api_version, kind) and (not namespace or namespace == ns)
        ]
        return sorted(found, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))

    def inject(self, verb: Verb, kind: str, error: errors.ApiError, times: int = 1) -> None:
        """Make the next `times` calls of `verb` on `kind` raise `error` instead of acting."""
        self._injected += [(verb, kind, error)] * times

    def answer_reviews(self, kind: str, decide: Callable[[Obj], dict[str, Any]]) -> None:
        """Answer a create of `kind` as the API server answers a review (TokenReview,
        SubjectAccessReview, ...): the object back with `status = decide(obj)`, nothing stored."""
        self._reviews[kind] = decide

    def writes(self) -> builtins.list[Action]:
        """The actions that changed (or tried to change) something: create, update, patch, delete."""
        return [a for a in self.actions if a.verb not in ("get", "list")]

    # ---- reads

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        self._act("get", kind, namespace, name)
        return copy.deepcopy(self.get_now(api_version, kind, name, namespace))

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        metadata_only: bool = False,
    ) -> ObjectList:
        self._act("list", kind, namespace, "")
        found = select(self.objects(api_version, kind, namespace), label_selector, field_selector)
        view = (metadata_view(o, api_version, kind) if metadata_only else copy.deepcopy(o) for o in found)
        return ObjectList(builtins.list(view), str(self._revision))

    # ---- writes

    async def create(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        _, kind = api_version_of(obj)
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or ""
        if not name and metadata.get("generateName"):
            name = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
        self._act("create", kind, metadata.get("namespace"), name, body=obj)
        if kind in self._reviews:
            return {**copy.deepcopy(obj), "status": self._reviews[kind](obj)}
        if not name:
            raise errors.Invalid(422, "Invalid", f"{kind}: metadata.name: Required value")
        stored = copy.deepcopy(obj)
        stored["metadata"]["name"] = name
        key = _key(stored)
        if key in self._objects:
            raise errors.AlreadyExists(409, "AlreadyExists", f"{kind} {name!r} already exists")
        stored["metadata"].pop("resourceVersion", None)
        if self._has_status(kind):
            stored.pop("status", None)
        self._stamp(stored, generation=1)
        if not dry_run:
            self._objects[key] = stored
        return copy.deepcopy(stored)

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        api_version, kind = api_version_of(obj)
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata["name"]
        self._act("update", kind, namespace, name, subresource, body=obj)
        current = self.get_now(api_version, kind, name, namespace)
        _precondition(current, metadata.get("resourceVersion"))
        return self._store(current, copy.deepcopy(obj), subresource)

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
        self._act("patch", kind, namespace, name, subresource, body=patch)
        current = self.get_now(api_version, kind, name, namespace)
        if patch_type == "json":
            assert isinstance(patch, Sequence), "a JSON patch is a list of operations"
            patched = json_patch(current, patch)
        else:
            assert isinstance(patch, Mapping), f"a {patch_type} patch is an object"
            if patch_type == "apply":
                raise NotImplementedError("FakeClient does not implement server-side apply")
            _precondition(current, (patch.get("metadata") or {}).get("resourceVersion"))
            patched = merge_patch(current, patch, strategic=patch_type == "strategic")
        return self._store(current, patched, subresource)

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
        self._act("delete", kind, namespace, name)
        current = self.get_now(api_version, kind, name, namespace)
        _precondition(current, resource_version)
        if current["metadata"].get("finalizers"):
            if current["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(current)
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = _rfc3339(self.clock.wall())
            self._stamp(marked, marked["metadata"].get("generation", 1) + 1)
            self._objects[_key(marked)] = marked
            return copy.deepcopy(marked)
        del self._objects[_key(current)]
        return {"apiVersion": "v1", "kind": "Status", "status": "Success"}

    # ---- the server's rules

    def _act(
        self,
        verb: Verb,
        kind: str,
        namespace: str | None,
        name: str,
        subresource: str | None = None,
        *,
        body: Any = None,
    ) -> None:
        self.actions.append(Action(verb, kind, namespace, name, subresource, copy.deepcopy(body)))
        for i, (v, k, error) in enumerate(self._injected):
            if (v, k) == (verb, kind):
                del self._injected[i]
                raise error

    def _has_status(self, kind: str) -> bool:
        return self._status_kinds is None or kind in self._status_kinds

    def _store(self, current: Obj, new: Obj, subresource: str | None) -> Obj:
        """Store `new` in place of `current` with the subresource rules, or delete it when it has lost
        the last finalizer that held its deletion."""
        kind = current["kind"]
        if subresource == "status":
            new = {**copy.deepcopy(current), "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
        elif subresource is not None:
            raise NotImplementedError(f"FakeClient: subresource {subresource!r}")
        elif self._has_status(kind):
            new.pop("status", None)
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
        # What the client may not change.
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "name", "namespace"):
            if kept in current["metadata"]:
                new["metadata"][kept] = current["metadata"][kept]
        generation = current["metadata"].get("generation", 1)
        if _spec_of(new) != _spec_of(current):
            generation += 1
        if current["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            del self._objects[_key(current)]
            return copy.deepcopy(new)
        self._stamp(new, generation)
        self._objects[_key(new)] = new
        return copy.deepcopy(new)

    def _stamp(self, obj: Obj, generation: int) -> None:
        metadata = obj["metadata"]
        self._revision += 1
        metadata["resourceVersion"] = str(self._revision)
        metadata["generation"] = generation
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", _rfc3339(self.clock.wall()))


class FakeCache:
    """The `Reader` over a FakeClient's objects, current with every write (`FakeClient.cache`) until
    `freeze()`: then it serves the objects as they were, as an informer that has not seen the
    latest writes yet, until `catch_up()` (a stale read for a Conflict test).

    `indexes` are the reconciler's `Index` declarations, as a manager would register them;
    `namespaces`, when given, are the only ones watched, and reads elsewhere raise LookupError as a
    manager with `ManagerOptions(namespaces=...)` does."""

    def __init__(self, client: FakeClient, indexes: Iterable[Index], namespaces: Sequence[str]) -> None:
        self._client = client
        self._indexes = {(i.api_version, i.kind, i.name, i.metadata_only): i.func for i in indexes}
        self._namespaces = tuple(namespaces)
        self._frozen: dict[_Key, Obj] | None = None

    def freeze(self) -> None:
        """Serve the objects as they are now, whatever is written later, until `catch_up()`."""
        self._frozen = dict(self._client._objects)  # stored objects are replaced, never changed

    def catch_up(self) -> None:
        self._frozen = None

    def _objects(
        self, api_version: str, kind: str, namespace: str | None, metadata_only: bool
    ) -> builtins.list[Obj]:
        if namespace and self._namespaces and namespace not in self._namespaces:
            raise LookupError(f"no informer for {kind}.{api_version} in namespace {namespace}")
        found = self._client.objects(api_version, kind, namespace, _at=self._frozen)
        if self._namespaces:
            found = [o for o in found if o["metadata"].get("namespace") in (None, *self._namespaces)]
        return [metadata_view(o, api_version, kind) for o in found] if metadata_only else found

    def get(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> Obj:
        for obj in self._objects(api_version, kind, namespace, metadata_only):
            metadata = obj["metadata"]
            if metadata["name"] == name and (metadata.get("namespace") or None) == (namespace or None):
                return obj
        raise not_found(kind, name, namespace)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> builtins.list[Obj]:
        return select(self._objects(api_version, kind, namespace, metadata_only), label_selector, None)

    def by_index(
        self, api_version: str, kind: str, index: str, value: str, *, metadata_only: bool = False
    ) -> builtins.list[Obj]:
        func = self._indexes.get((api_version, kind, index, metadata_only))
        if func is None:
            raise KeyError(f"no index {index!r} on {kind}; pass its Index to FakeClient(indexes=...)")
        return [o for o in self._objects(api_version, kind, None, metadata_only) if value in func(o)]


# ---- pure helpers


def select(
    objects: Iterable[Obj], label_selector: str | None, field_selector: str | None
) -> builtins.list[Obj]:
    """The objects matching a label selector and a `metadata.name`/`metadata.namespace` field selector."""
    chosen = labels.parse(label_selector) if label_selector else None
    fields = []
    for term in filter(None, (field_selector or "").split(",")):
        negated = "!=" in term
        path, _, value = term.partition("!=" if negated else "=")
        if path.strip() not in ("metadata.name", "metadata.namespace"):
            raise NotImplementedError(f"FakeClient: field selector {term!r}")
        fields.append((path.strip().partition(".")[2], value.lstrip("=").strip(), negated))
    out = []
    for obj in objects:
        metadata = obj["metadata"]
        if chosen is not None and not chosen.matches(metadata.get("labels")):
            continue
        if all((metadata.get(f) == v) != negated for f, v, negated in fields):
            out.append(obj)
    return out


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386 JSON merge patch (null deletes, objects merge, everything else replaces); with
    `strategic`, lists whose items are all objects with a name merge by name."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif strategic and _named_list(value) and _named_list(out.get(key)):
            merged = {item["name"]: item for item in out[key]}
            for item in value:
                merged[item["name"]] = merge_patch(merged.get(item["name"]), item, strategic=True)
            out[key] = builtins.list(merged.values())
        else:
            out[key] = merge_patch(out.get(key), value, strategic=strategic)
    return out


def json_patch(target: Obj, operations: Sequence[Obj]) -> Obj:
    """RFC 6902 JSON patch: add, remove, replace and test (a failed test is 422 Invalid)."""
    doc = copy.deepcopy(target)
    for op in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if op["op"] == "test":
            actual = node[int(last)] if isinstance(node, list) else node.get(last)
            if actual != op["value"]:
                raise errors.Invalid(422, "Invalid", f"test of {op['path']} failed")
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif op["op"] in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if op["op"] == "add":
                    node.insert(index, copy.deepcopy(op["value"]))
                else:
                    node[index] = copy.deepcopy(op["value"])
            else:
                node[last] = copy.deepcopy(op["value"])
        else:
            raise NotImplementedError(f"FakeClient: JSON patch op {op['op']!r}")
    return doc


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, Mapping) and "name" in i for i in value)


def _precondition(current: Obj, resource_version: str | None) -> None:
    if resource_version is not None and resource_version != current["metadata"]["resourceVersion"]:
        raise errors.Conflict(
            409,
            "Conflict",
            f"Operation cannot be fulfilled on {current['kind']} {current['metadata']['name']!r}: "
            "the object has been modified; please apply your changes to the latest version and try again",
        )


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _key(obj: Obj) -> _Key:
    api_version, kind = api_version_of(obj)
    metadata = obj["metadata"]
    return api_version, kind, metadata.get("namespace") or None, metadata["name"]


def _rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
