"""Predicates filter watch events before they reach the queue (controller-runtime's predicate package).

A predicate has the four methods of an event kind each returning bool; `PredicateFuncs` builds one
from functions, and `and_`, `or_`, `not_` compose them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from irc.runtime import labels
from irc.runtime.informer import CreateEvent, DeleteEvent, GenericEvent, UpdateEvent

Event = CreateEvent | UpdateEvent | DeleteEvent | GenericEvent


class Predicate(Protocol):
    def create(self, event: CreateEvent) -> bool: ...

    def update(self, event: UpdateEvent) -> bool: ...

    def delete(self, event: DeleteEvent) -> bool: ...

    def generic(self, event: GenericEvent) -> bool: ...


def _yes(_: Any) -> bool:
    return True


@dataclass(frozen=True)
class PredicateFuncs:
    """A predicate from functions; a missing one lets its events through."""

    create: Callable[[CreateEvent], bool] = _yes
    update: Callable[[UpdateEvent], bool] = _yes
    delete: Callable[[DeleteEvent], bool] = _yes
    generic: Callable[[GenericEvent], bool] = _yes


def for_objects(keep: Callable[[dict[str, Any]], bool]) -> Predicate:
    """Let an event through when `keep(obj)` holds (for updates: the new object)."""
    return PredicateFuncs(
        create=lambda e: keep(e.obj),
        update=lambda e: keep(e.new),
        delete=lambda e: keep(e.obj),
        generic=lambda e: keep(e.obj),
    )


def _meta(obj: dict[str, Any], field: str) -> Any:
    return (obj.get("metadata") or {}).get(field)


def generation_changed() -> Predicate:
    """Updates only when metadata.generation changed: drops status-only writes and resyncs."""
    return PredicateFuncs(update=lambda e: _meta(e.old, "generation") != _meta(e.new, "generation"))


def resource_version_changed() -> Predicate:
    return PredicateFuncs(update=lambda e: _meta(e.old, "resourceVersion") != _meta(e.new, "resourceVersion"))


def labels_changed() -> Predicate:
    return PredicateFuncs(update=lambda e: (_meta(e.old, "labels") or {}) != (_meta(e.new, "labels") or {}))


def annotations_changed() -> Predicate:
    return PredicateFuncs(
        update=lambda e: (_meta(e.old, "annotations") or {}) != (_meta(e.new, "annotations") or {})
    )


def label_selector(selector: str) -> Predicate:
    parsed = labels.parse(selector)
    return for_objects(lambda obj: parsed.matches(_meta(obj, "labels")))


def in_namespaces(namespaces: Iterable[str]) -> Predicate:
    allowed = frozenset(namespaces)
    return for_objects(lambda obj: _meta(obj, "namespace") in allowed)


def and_(*predicates: Predicate) -> Predicate:
    return PredicateFuncs(
        create=lambda e: all(p.create(e) for p in predicates),
        update=lambda e: all(p.update(e) for p in predicates),
        delete=lambda e: all(p.delete(e) for p in predicates),
        generic=lambda e: all(p.generic(e) for p in predicates),
    )


def or_(*predicates: Predicate) -> Predicate:
    return PredicateFuncs(
        create=lambda e: any(p.create(e) for p in predicates),
        update=lambda e: any(p.update(e) for p in predicates),
        delete=lambda e: any(p.delete(e) for p in predicates),
        generic=lambda e: any(p.generic(e) for p in predicates),
    )


def not_(predicate: Predicate) -> Predicate:
    return PredicateFuncs(
        create=lambda e: not predicate.create(e),
        update=lambda e: not predicate.update(e),
        delete=lambda e: not predicate.delete(e),
        generic=lambda e: not predicate.generic(e),
    )
