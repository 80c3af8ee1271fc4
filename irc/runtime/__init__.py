"""irc.runtime: a mini controller-runtime for asyncio.

    API server ──list/watch──▶ Informer ──▶ Store (cache)          reads: mgr.cache
                                 │ events
                                 ▼
                    Predicates ─▶ Handler ─▶ WorkQueue ─▶ workers ─▶ Reconciler.reconcile(Request)
                                                                      │ writes: mgr.client
                                                                      ▼
                                                                 Result / error → requeue policy

A `Manager` owns the client, the shared informers, the health/metrics servers, the Event
broadcaster and leader election, and runs controllers built with `ControllerBuilder(mgr, name)`. It knows
nothing about images. Reconcilers get what they use through their constructor: an `ApiClient`
(writes), a `Reader` (the cache), an `EventRecorder` and a `Clock`; `irc.runtime.testing` has the
fakes of each. See docs/library.md for a complete example.
"""

# Lazy on purpose (PEP 562): `import irc.runtime.errors` runs this file first, and irc.ecr,
# irc.images.auth and the CLI's `--version`, `crds` and `scan` use only the runtime's light leaves
# (errors, clock, rbac). Importing every submodule here would load aiohttp, prometheus_client,
# structlog and (through transport) kubernetes-asyncio for them. A name of `__all__` is imported
# from its submodule on first access (`from irc.runtime import Manager` works as before) and kept in
# the module's namespace. mypy reads the imports under TYPE_CHECKING and never sees `__getattr__`, so
# a misspelt name is still an error there. tests/test_import_weight.py checks that the table, those
# imports and `__all__` agree.
import importlib
import typing

if typing.TYPE_CHECKING:
    from irc.runtime.builder import ControllerBuilder as ControllerBuilder
    from irc.runtime.cache import Cache as Cache
    from irc.runtime.cache import Index as Index
    from irc.runtime.cache import IndexFunc as IndexFunc
    from irc.runtime.cache import Reader as Reader
    from irc.runtime.client import ApiClient as ApiClient
    from irc.runtime.client import Client as Client
    from irc.runtime.client import Obj as Obj
    from irc.runtime.client import ObjectList as ObjectList
    from irc.runtime.client import Resource as Resource
    from irc.runtime.client import WatchEvent as WatchEvent
    from irc.runtime.clock import Clock as Clock
    from irc.runtime.clock import RealClock as RealClock
    from irc.runtime.controller import Controller as Controller
    from irc.runtime.controller import ControllerOptions as ControllerOptions
    from irc.runtime.controller import Reconciler as Reconciler
    from irc.runtime.controller import Result as Result
    from irc.runtime.errors import AlreadyExists as AlreadyExists
    from irc.runtime.errors import ApiError as ApiError
    from irc.runtime.errors import Conflict as Conflict
    from irc.runtime.errors import Forbidden as Forbidden
    from irc.runtime.errors import Gone as Gone
    from irc.runtime.errors import Invalid as Invalid
    from irc.runtime.errors import NotFound as NotFound
    from irc.runtime.errors import ReconcileError as ReconcileError
    from irc.runtime.errors import TerminalError as TerminalError
    from irc.runtime.errors import first_failure as first_failure
    from irc.runtime.errors import ignore_not_found as ignore_not_found
    from irc.runtime.events import EventRecorder as EventRecorder
    from irc.runtime.events import summarize as summarize
    from irc.runtime.handlers import EnqueueForObject as EnqueueForObject
    from irc.runtime.handlers import EnqueueForOwner as EnqueueForOwner
    from irc.runtime.handlers import EnqueueMapped as EnqueueMapped
    from irc.runtime.handlers import Handler as Handler
    from irc.runtime.handlers import Request as Request
    from irc.runtime.informer import CreateEvent as CreateEvent
    from irc.runtime.informer import DeleteEvent as DeleteEvent
    from irc.runtime.informer import GenericEvent as GenericEvent
    from irc.runtime.informer import Informer as Informer
    from irc.runtime.informer import UpdateEvent as UpdateEvent
    from irc.runtime.leaderelection import LeaderElectionLost as LeaderElectionLost
    from irc.runtime.leaderelection import LeaderElectionOptions as LeaderElectionOptions
    from irc.runtime.manager import Manager as Manager
    from irc.runtime.manager import ManagerOptions as ManagerOptions
    from irc.runtime.manager import RunnableFunc as RunnableFunc
    from irc.runtime.predicates import Predicate as Predicate
    from irc.runtime.predicates import PredicateFuncs as PredicateFuncs
    from irc.runtime.predicates import and_ as and_
    from irc.runtime.predicates import annotations_changed as annotations_changed
    from irc.runtime.predicates import generation_changed as generation_changed
    from irc.runtime.predicates import in_namespaces as in_namespaces
    from irc.runtime.predicates import label_selector as label_selector
    from irc.runtime.predicates import labels_changed as labels_changed
    from irc.runtime.predicates import not_ as not_
    from irc.runtime.predicates import or_ as or_
    from irc.runtime.predicates import resource_version_changed as resource_version_changed
    from irc.runtime.rbac import PolicyRule as PolicyRule
    from irc.runtime.rbac import cluster_role as cluster_role
    from irc.runtime.rbac import merge_rules as merge_rules
    from irc.runtime.rbac import rbac_manifests as rbac_manifests
    from irc.runtime.typed import TypedObject as TypedObject
    from irc.runtime.typed import to_dict as to_dict
    from irc.runtime.workqueue import WorkQueue as WorkQueue
else:

    def __getattr__(name: str) -> object:
        if name not in _MODULE_OF:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})


# submodule → the names of `__all__` it defines
_EXPORTS: dict[str, tuple[str, ...]] = {
    "builder": ("ControllerBuilder",),
    "cache": ("Cache", "Index", "IndexFunc", "Reader"),
    "client": ("ApiClient", "Client", "Obj", "ObjectList", "Resource", "WatchEvent"),
    "clock": ("Clock", "RealClock"),
    "controller": ("Controller", "ControllerOptions", "Reconciler", "Result"),
    "errors": (
        "AlreadyExists",
        "ApiError",
        "Conflict",
        "Forbidden",
        "Gone",
        "Invalid",
        "NotFound",
        "ReconcileError",
        "TerminalError",
        "first_failure",
        "ignore_not_found",
    ),
    "events": ("EventRecorder", "summarize"),
    "handlers": ("EnqueueForObject", "EnqueueForOwner", "EnqueueMapped", "Handler", "Request"),
    "informer": ("CreateEvent", "DeleteEvent", "GenericEvent", "Informer", "UpdateEvent"),
    "leaderelection": ("LeaderElectionLost", "LeaderElectionOptions"),
    "manager": ("Manager", "ManagerOptions", "RunnableFunc"),
    "predicates": (
        "Predicate",
        "PredicateFuncs",
        "and_",
        "annotations_changed",
        "generation_changed",
        "in_namespaces",
        "label_selector",
        "labels_changed",
        "not_",
        "or_",
        "resource_version_changed",
    ),
    "rbac": ("PolicyRule", "cluster_role", "merge_rules", "rbac_manifests"),
    "typed": ("TypedObject", "to_dict"),
    "workqueue": ("WorkQueue",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AlreadyExists",
    "ApiClient",
    "ApiError",
    "Cache",
    "Client",
    "Clock",
    "Conflict",
    "Controller",
    "ControllerBuilder",
    "ControllerOptions",
    "CreateEvent",
    "DeleteEvent",
    "EnqueueForObject",
    "EnqueueForOwner",
    "EnqueueMapped",
    "EventRecorder",
    "Forbidden",
    "GenericEvent",
    "Gone",
    "Handler",
    "Index",
    "IndexFunc",
    "Informer",
    "Invalid",
    "LeaderElectionLost",
    "LeaderElectionOptions",
    "Manager",
    "ManagerOptions",
    "NotFound",
    "Obj",
    "ObjectList",
    "PolicyRule",
    "Predicate",
    "PredicateFuncs",
    "Reader",
    "RealClock",
    "ReconcileError",
    "Reconciler",
    "Request",
    "Resource",
    "Result",
    "RunnableFunc",
    "TerminalError",
    "TypedObject",
    "UpdateEvent",
    "WatchEvent",
    "WorkQueue",
    "and_",
    "annotations_changed",
    "cluster_role",
    "first_failure",
    "generation_changed",
    "ignore_not_found",
    "in_namespaces",
    "label_selector",
    "labels_changed",
    "merge_rules",
    "not_",
    "or_",
    "rbac_manifests",
    "resource_version_changed",
    "summarize",
    "to_dict",
]
