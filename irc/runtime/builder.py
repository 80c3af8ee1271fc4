"""Wiring a controller to its watches, like controller-runtime's builder:

    ControllerBuilder(mgr, "image-backup").for_(API, "ImageBackup").owns("batch/v1", "Job").complete(r)

`for_` watches the primary kind (events enqueue the object), `owns` watches kinds the controller
creates (events enqueue the owning primary object), `watches` takes any handler. Kinds are resolved
through discovery when the manager starts, so building needs no API call: `complete` registers
the controller with `Manager.add_controller`, whose bind step connects the watches then.

`owns` and `watches` take `metadata_only=True` (controller-runtime's OnlyMetadata): the kind is then
watched through a metadata-only informer, and handlers see objects with metadata only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from irc.runtime.client import Resource
from irc.runtime.controller import Controller, ControllerOptions, Reconciler
from irc.runtime.errors import NotFound
from irc.runtime.handlers import EnqueueForObject, EnqueueForOwner, Handler
from irc.runtime.predicates import Predicate

if TYPE_CHECKING:
    from irc.runtime.manager import Manager


@dataclass
class _WatchSpec:
    api_version: str
    kind: str
    handler: Callable[[Resource], Handler]  # built once the primary kind's resource is known
    predicates: tuple[Predicate, ...]
    label_selector: str | None = None
    metadata_only: bool = False


@dataclass
class _Binding:
    """A built controller's watches, bound to the manager's informers when it starts."""

    manager: Manager
    controller: Controller
    primary: tuple[str, str]
    watches: list[_WatchSpec] = field(default_factory=list)

    async def __call__(self) -> None:
        try:
            primary = await self.manager.client.resource(*self.primary)
            for spec in self.watches:
                handler = spec.handler(primary)
                for informer in await self.manager.informers(
                    spec.api_version,
                    spec.kind,
                    label_selector=spec.label_selector,
                    metadata_only=spec.metadata_only,
                ):
                    self.controller.watch(informer, handler, spec.predicates)
        except NotFound as e:
            raise LookupError(
                f"controller {self.controller.name}: {e.message}; is its CustomResourceDefinition installed?"
            ) from None


class ControllerBuilder:
    """Builds one controller on `manager`: `for_` once, any `owns`/`watches`, then `complete`."""

    def __init__(self, manager: Manager, name: str) -> None:
        if not name or not name.replace("-", "").isalnum():
            raise ValueError(f"controller name {name!r} must be non-empty letters, digits and dashes")
        self._mgr, self._name = manager, name
        self._primary: tuple[str, str] | None = None
        self._watches: list[_WatchSpec] = []
        self._filters: tuple[Predicate, ...] = ()
        self._options = ControllerOptions()

    def for_(
        self, api_version: str, kind: str, *predicates: Predicate, label_selector: str | None = None
    ) -> ControllerBuilder:
        if self._primary is not None:
            raise ValueError(f"controller {self._name}: for_() may be called once")
        self._primary = (api_version, kind)
        self._watches.append(
            _WatchSpec(api_version, kind, lambda _: EnqueueForObject(), predicates, label_selector)
        )
        return self

    def owns(
        self, api_version: str, kind: str, *predicates: Predicate, metadata_only: bool = False
    ) -> ControllerBuilder:
        def handler(primary: Resource) -> Handler:
            group = primary.api_version.rpartition("/")[0]
            return EnqueueForOwner(group, primary.kind, owner_namespaced=primary.namespaced)

        self._watches.append(_WatchSpec(api_version, kind, handler, predicates, metadata_only=metadata_only))
        return self

    def watches(
        self,
        api_version: str,
        kind: str,
        handler: Handler,
        *predicates: Predicate,
        label_selector: str | None = None,
        metadata_only: bool = False,
    ) -> ControllerBuilder:
        self._watches.append(
            _WatchSpec(api_version, kind, lambda _: handler, predicates, label_selector, metadata_only)
        )
        return self

    def with_event_filter(self, *predicates: Predicate) -> ControllerBuilder:
        """Predicates applied to every watch of this controller."""
        self._filters += predicates
        return self

    def with_options(self, **options: Any) -> ControllerBuilder:
        self._options = replace(self._options, **options)
        return self

    def complete(self, reconciler: Reconciler) -> Controller:
        if self._primary is None:
            raise ValueError(f"controller {self._name}: for_() is required")
        options = self._options
        if self._name in self._mgr.options.max_concurrent_reconciles:
            workers = self._mgr.options.max_concurrent_reconciles[self._name]
            options = replace(options, max_concurrent_reconciles=workers)
        controller = Controller(self._name, reconciler, options, self._mgr.metrics, self._mgr.clock)
        watches = [replace(w, predicates=(*self._filters, *w.predicates)) for w in self._watches]
        self._mgr.add_controller(controller, _Binding(self._mgr, controller, self._primary, watches))
        return controller
