"""irc.runtime: a mini controller-runtime for asyncio.

    API server ──list/watch──▶ Informer ──▶ Store (cache)          reads: mgr.cache
                                 │ events
                                 ▼
                    Predicates ─▶ Handler ─▶ WorkQueue ─▶ workers ─▶ Reconciler.reconcile(Request)
                                                                      │ writes: mgr.client
                                                                      ▼
                                                                 Result / error → requeue policy

A `Manager` owns the client, the shared informers, the health/metrics servers, the Event
broadcaster and leader election, and runs controllers built with `mgr.controller(name)`. It knows
nothing about images. See docs/library.md for a complete example.
"""

from irc.runtime.builder import ControllerBuilder as ControllerBuilder
from irc.runtime.client import Client as Client
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
from irc.runtime.errors import Gone as Gone
from irc.runtime.errors import NotFound as NotFound
from irc.runtime.errors import TerminalError as TerminalError
from irc.runtime.errors import ignore_not_found as ignore_not_found
from irc.runtime.events import EventRecorder as EventRecorder
from irc.runtime.handlers import EnqueueForObject as EnqueueForObject
from irc.runtime.handlers import EnqueueForOwner as EnqueueForOwner
from irc.runtime.handlers import EnqueueMapped as EnqueueMapped
from irc.runtime.handlers import Request as Request
from irc.runtime.informer import CreateEvent as CreateEvent
from irc.runtime.informer import DeleteEvent as DeleteEvent
from irc.runtime.informer import GenericEvent as GenericEvent
from irc.runtime.informer import Informer as Informer
from irc.runtime.informer import UpdateEvent as UpdateEvent
from irc.runtime.leaderelection import LeaderElectionLost as LeaderElectionLost
from irc.runtime.manager import Cache as Cache
from irc.runtime.manager import LeaderElectionOptions as LeaderElectionOptions
from irc.runtime.manager import Manager as Manager
from irc.runtime.manager import ManagerOptions as ManagerOptions
from irc.runtime.manager import RunnableFunc as RunnableFunc
from irc.runtime.predicates import PredicateFuncs as PredicateFuncs
from irc.runtime.rbac import PolicyRule as PolicyRule
from irc.runtime.rbac import cluster_role as cluster_role
from irc.runtime.rbac import merge_rules as merge_rules
from irc.runtime.rbac import rbac_manifests as rbac_manifests
from irc.runtime.workqueue import WorkQueue as WorkQueue

__all__ = [
    "AlreadyExists",
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
    "GenericEvent",
    "Gone",
    "Informer",
    "LeaderElectionLost",
    "LeaderElectionOptions",
    "Manager",
    "ManagerOptions",
    "NotFound",
    "ObjectList",
    "PolicyRule",
    "PredicateFuncs",
    "RealClock",
    "Reconciler",
    "Request",
    "Resource",
    "Result",
    "RunnableFunc",
    "TerminalError",
    "UpdateEvent",
    "WatchEvent",
    "WorkQueue",
    "cluster_role",
    "ignore_not_found",
    "merge_rules",
    "rbac_manifests",
]
