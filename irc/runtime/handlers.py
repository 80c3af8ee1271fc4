"""Event handlers turn watch events into Requests on a controller's queue (controller-runtime's
handler package): for the object itself, for its owner, or through a mapping function."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from irc.runtime.informer import CreateEvent, DeleteEvent, GenericEvent, UpdateEvent

Obj = dict[str, Any]


@dataclass(frozen=True, order=True)
class Request:
    """What to reconcile: a name, and a namespace ("" for cluster-scoped objects). Nothing else: the
    reconciler reads the current state, so it converges whatever happened."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def for_object(cls, obj: Obj) -> Request:
        metadata = obj.get("metadata") or {}
        return cls(metadata.get("namespace") or "", metadata["name"])


class Queue(Protocol):
    def add(self, item: Request) -> None: ...


class Handler(Protocol):
    """Maps one event to the Requests to enqueue."""

    def create(self, event: CreateEvent) -> Iterable[Request]: ...

    def update(self, event: UpdateEvent) -> Iterable[Request]: ...

    def delete(self, event: DeleteEvent) -> Iterable[Request]: ...

    def generic(self, event: GenericEvent) -> Iterable[Request]: ...


class EnqueueForObject:
    """The object's own namespace/name (the old object's on an update, in case the name changed)."""

    def create(self, event: CreateEvent) -> Iterable[Request]:
        return [Request.for_object(event.obj)]

    def update(self, event: UpdateEvent) -> Iterable[Request]:
        return {Request.for_object(event.old), Request.for_object(event.new)}

    def delete(self, event: DeleteEvent) -> Iterable[Request]:
        return [Request.for_object(event.obj)]

    def generic(self, event: GenericEvent) -> Iterable[Request]:
        return [Request.for_object(event.obj)]


@dataclass(frozen=True)
class EnqueueForOwner:
    """The owners of the object whose ownerReferences match group and kind; on an update, the owners
    of the old and the new object. `only_controller` keeps only the controller reference (`Owns`)."""

    owner_group: str  # "" for the core group
    owner_kind: str
    owner_namespaced: bool = True
    only_controller: bool = True

    def _owners(self, obj: Obj) -> set[Request]:
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace") or "" if self.owner_namespaced else ""
        out = set()
        for ref in metadata.get("ownerReferences") or []:
            group = ref.get("apiVersion", "").rpartition("/")[0]
            if ref.get("kind") != self.owner_kind or group != self.owner_group:
                continue
            if self.only_controller and not ref.get("controller"):
                continue
            out.add(Request(namespace, ref["name"]))
        return out

    def create(self, event: CreateEvent) -> Iterable[Request]:
        return self._owners(event.obj)

    def update(self, event: UpdateEvent) -> Iterable[Request]:
        return self._owners(event.old) | self._owners(event.new)

    def delete(self, event: DeleteEvent) -> Iterable[Request]:
        return self._owners(event.obj)

    def generic(self, event: GenericEvent) -> Iterable[Request]:
        return self._owners(event.obj)


@dataclass(frozen=True)
class EnqueueMapped:
    """Whatever `fn(obj)` returns: how a second kind reaches the reconciler of the first."""

    fn: Callable[[Obj], Iterable[Request]]

    def create(self, event: CreateEvent) -> Iterable[Request]:
        return self.fn(event.obj)

    def update(self, event: UpdateEvent) -> Iterable[Request]:
        return {*self.fn(event.old), *self.fn(event.new)}

    def delete(self, event: DeleteEvent) -> Iterable[Request]:
        return self.fn(event.obj)

    def generic(self, event: GenericEvent) -> Iterable[Request]:
        return self.fn(event.obj)
