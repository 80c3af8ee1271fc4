"""The cache a reconciler reads: `Store`, the objects behind one informer, keyed `namespace/name`
(or `name` when cluster-scoped) with named indexers kept in step on every write; and `Cache`, the
`Reader` over every informer the manager runs.

Reads are plain synchronous lookups (no API call, nothing to await), so an `EnqueueMapped` function
can read the cache as well as a reconciler can. They return the stored objects themselves, not
copies: they are shared with every reader and must be treated as read-only (`copy.deepcopy` one
before changing it). Copying every read would cost more than the reconcile it serves;
controller-runtime makes the same trade with UnsafeDisableDeepCopy.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from irc.runtime import errors, labels

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]


def key_of(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def index_by_namespace(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def index_by_owner_uid(obj: Obj) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if "uid" in ref]


NAMESPACE_INDEX = "namespace"


class Store:
    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace, **(indexers or {})}
        # index name → indexed value → keys; and key → values it was indexed under, for removal
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        self._indexed: dict[str, dict[str, tuple[str, ...]]] = {name: {} for name in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Add an index; existing objects are indexed at once."""
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name], self._indices[name], self._indexed[name] = func, {}, {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def list(
        self, namespace: str | None = None, label_selector: str | labels.Selector | None = None
    ) -> list[Obj]:
        """Objects in `namespace` (all when None) whose labels match the selector."""
        if namespace:
            candidates: Iterable[Obj] = (
                self._items[k] for k in self._indices[NAMESPACE_INDEX].get(namespace, ())
            )
        else:
            candidates = self._items.values()
        if label_selector is None:
            return list(candidates)
        selector = labels.parse(label_selector) if isinstance(label_selector, str) else label_selector
        return [o for o in candidates if selector.matches((o.get("metadata") or {}).get("labels"))]

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        if index not in self._indices:
            raise KeyError(f"no indexer {index!r}; known: {', '.join(sorted(self._indices))}")
        return [self._items[k] for k in self._indices[index].get(value, ())]

    def upsert(self, obj: Obj, key: str | None = None) -> Obj | None:
        """Store `obj` (under `key`, its `key_of` when the caller has it already); returns the object it
        replaced, if any."""
        key = key_of(obj) if key is None else key
        old = self._items.get(key)
        self._items[key] = obj
        for name in self._indexers:
            self._unindex(name, key)
            self._index(name, key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._indexers:
                self._unindex(name, key)
        return old

    def _index(self, name: str, key: str, obj: Obj) -> None:
        values = tuple(dict.fromkeys(self._indexers[name](obj)))
        if values:
            self._indexed[name][key] = values
            index = self._indices[name]
            for v in values:
                index.setdefault(v, set()).add(key)

    def _unindex(self, name: str, key: str) -> None:
        index = self._indices[name]
        for v in self._indexed[name].pop(key, ()):
            keys = index.get(v)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[v]


@dataclass(frozen=True)
class Index:
    """A named index over one kind's cached objects: `func(obj)` gives the values `obj` is found
    under by `Reader.by_index(api_version, kind, name, value)`. Declared by a reconciler module and
    registered with `Manager.add_index` (or a `FakeClient`), so the same definition serves both."""

    api_version: str
    kind: str
    name: str
    func: IndexFunc
    metadata_only: bool = False


class Reader(Protocol):
    """What a reconciler reads: `Cache` in a manager, `FakeClient.cache` in a test.

    `get` raises `errors.NotFound`; every read raises `LookupError` for a kind (or namespace) that is
    not watched. `metadata_only=True` reads the metadata-only view of a kind."""

    def get(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> Obj: ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> builtins.list[Obj]: ...

    def by_index(
        self, api_version: str, kind: str, index: str, value: str, *, metadata_only: bool = False
    ) -> builtins.list[Obj]: ...


class Source(Protocol):
    """What `Cache` needs of an informer: the namespace it watches (None: all) and its store."""

    @property
    def namespace(self) -> str | None: ...

    @property
    def store(self) -> Store: ...


class Cache:
    """The `Reader` over a manager's informers. Objects are shared: do not mutate them.

    Reads go to the full informers of a kind, or with `metadata_only=True` to its metadata-only ones:
    the two views are never mixed. `sources(api_version, kind, metadata_only)` lists the informers."""

    def __init__(self, sources: Callable[[str, str, bool], Iterable[Source]]) -> None:
        self._sources = sources

    def _stores(self, api_version: str, kind: str, namespace: str | None, metadata_only: bool) -> list[Store]:
        found = [
            s.store
            for s in self._sources(api_version, kind, metadata_only)
            if s.namespace is None or namespace is None or s.namespace == namespace
        ]
        if not found:
            view = "metadata-only informer" if metadata_only else "informer"
            where = f" in namespace {namespace}" if namespace else ""
            raise LookupError(
                f"no {view} for {kind}.{api_version}{where}: watch it (for_/owns/watches or "
                "mgr.informers()) before reading it from the cache"
            )
        return found

    def get(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        metadata_only: bool = False,
    ) -> Obj:
        for store in self._stores(api_version, kind, namespace, metadata_only):
            obj = store.get_by(namespace, name)
            if obj is not None:
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
        return unique(
            o
            for s in self._stores(api_version, kind, namespace, metadata_only)
            for o in s.list(namespace, label_selector)
        )

    def by_index(
        self, api_version: str, kind: str, index: str, value: str, *, metadata_only: bool = False
    ) -> builtins.list[Obj]:
        return unique(
            o for s in self._stores(api_version, kind, None, metadata_only) for o in s.by_index(index, value)
        )


def not_found(kind: str, name: str, namespace: str | None) -> errors.NotFound:
    return errors.NotFound(404, "NotFound", f"{kind} {namespace + '/' if namespace else ''}{name} not found")


def unique(objects: Iterable[Obj]) -> builtins.list[Obj]:
    """Each object once: informers of one kind with different selectors may hold the same object."""
    seen: dict[tuple[str | None, str], Obj] = {}
    for obj in objects:
        metadata = obj["metadata"]
        seen.setdefault((metadata.get("namespace"), metadata["name"]), obj)
    return builtins.list(seen.values())
