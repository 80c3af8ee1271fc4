"""The manager runs everything a controller needs, in controller-runtime's order:

    1. health-probe and metrics servers
    2. informers (the cache), waiting until every one has synced
    3. runnables that do not need leadership (the Event broadcaster, user runnables)
    4. leader election, if enabled
    5. leader-only runnables: the controllers

One TaskGroup owns every task: the first failure cancels the rest and ends `start()` with it, raised
as itself (not as the ExceptionGroup the TaskGroup makes; that group is its `__cause__`), as
controller-runtime's `mgr.Start` returns the first error.
`run()` adds signal handling: SIGTERM or SIGINT cancels gracefully (bounded by
`graceful_shutdown_timeout`), a second signal exits 1 at once. Losing leadership raises
LeaderElectionLost out of `start()`: the process must exit, as controller-runtime's does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from irc.runtime import errors
from irc.runtime.cache import Cache, Index
from irc.runtime.client import WRITE_FENCE, Client
from irc.runtime.clock import Clock, RealClock
from irc.runtime.controller import Controller
from irc.runtime.events import EventBroadcaster, EventRecorder
from irc.runtime.health import HealthProbes, HttpServer, health_server, metrics_server
from irc.runtime.informer import Informer, Transform, strip_managed_fields
from irc.runtime.leaderelection import LeaderElectionOptions, LeaderElector, LeaseFence
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.transport import KubeTransport

log = logging.getLogger(__name__)

IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class Runnable(Protocol):
    """Something the manager runs: `start()` runs until cancelled."""

    needs_leader_election: bool

    async def start(self) -> None: ...


@dataclass
class RunnableFunc:
    """A runnable from an async function."""

    fn: Callable[[], Any]
    needs_leader_election: bool = True

    async def start(self) -> None:
        await self.fn()


@dataclass(frozen=True)
class ManagerOptions:
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces (one informer each). Defaults to all."""
    metrics_bind_address: str = ":8080"
    """Where /metrics is served; "0" disables it. Defaults to :8080."""
    metrics_secure: bool = False
    """Serve /metrics over HTTPS to bearer tokens allowed `get` on it (irc.runtime.metrics_auth)."""
    metrics_cert_dir: str | None = None
    """With metrics_secure: tls.crt and tls.key to serve; defaults to a self-signed certificate."""
    health_probe_bind_address: str = ":8081"
    """Where /healthz and /readyz are served; "0" disables them. Defaults to :8081."""
    leader_election: LeaderElectionOptions = field(default_factory=LeaderElectionOptions)
    graceful_shutdown_timeout: float = 30.0
    """Seconds runnables get to stop after a signal before the process exits 1. Defaults to 30."""
    cache_sync_timeout: float = 120.0
    """Seconds the informers get to sync before start fails. Defaults to 2 minutes."""
    sync_period: float | None = None
    """Resync period of every informer (replay the cache to handlers). Defaults to none."""
    watch_list: bool = True
    """Use streaming lists where the server supports them. Defaults to on."""
    max_concurrent_reconciles: Mapping[str, int] = field(default_factory=dict)
    """Workers per controller name, overriding what the controller was built with."""


def pod_namespace() -> str | None:
    """The namespace this process runs in: its service account's in a cluster, else $POD_NAMESPACE,
    else None."""
    try:
        with open(IN_CLUSTER_NAMESPACE) as f:
            return f.read().strip() or None
    except OSError:
        return os.environ.get("POD_NAMESPACE") or None


def _readyz_name(informer: Informer) -> str:
    """`informer:<kind>[-metadata]:<namespace or *>`, plus its selectors: informers of one kind differ
    by view, namespace or selectors, and each needs a check of its own."""
    view = "-metadata" if informer.metadata_only else ""
    selectors = ";".join(s for s in (informer.label_selector, informer.field_selector) if s)
    return f"informer:{informer.kind.lower()}{view}:{informer.namespace or '*'}" + (
        f"[{selectors}]" if selectors else ""
    )


class Manager:
    def __init__(
        self,
        client: Client,
        options: ManagerOptions | None = None,
        *,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.client = client
        self.options = options or ManagerOptions()
        self.clock = clock or RealClock()
        self.metrics = metrics or RuntimeMetrics()
        self.probes = HealthProbes()
        self.cache = Cache(
            lambda api_version, kind, metadata_only: self.informers_of(
                api_version, kind, metadata_only=metadata_only
            )
        )
        self.broadcaster = EventBroadcaster(client, clock=self.clock)
        self.elector: LeaderElector | None = None
        self.elected = asyncio.Event()
        self.http_servers: list[HttpServer] = []
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._indexes: list[Index] = []
        self._transforms: dict[tuple[str, str], Transform] = {}
        self._typed: set[tuple[str, str]] = set()
        self._runnables: list[Runnable] = []
        self._controllers: list[Controller] = []
        # Run at start, before the informers are fixed: a builder's binding of watches to informers.
        self._before_start: list[Callable[[], Awaitable[None]]] = []
        self._started = False

    @classmethod
    async def from_kubeconfig(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        options: ManagerOptions | None = None,
        *,
        qps: float = -1.0,
        burst: int = 10,
    ) -> Manager:
        """A manager whose client uses the kubeconfig (or in-cluster config, or ~/.kube/config)."""
        metrics = RuntimeMetrics()
        client = Client(
            await KubeTransport.from_config(kubeconfig, context), qps=qps, burst=burst, metrics=metrics
        )
        return cls(client, options, metrics=metrics)

    # ---- building

    def add(self, runnable: Runnable) -> None:
        if self._started:
            raise RuntimeError("runnables must be added before the manager starts")
        self._runnables.append(runnable)

    def add_controller(self, controller: Controller, bind: Callable[[], Awaitable[None]]) -> None:
        """Run `controller` (a leader-only runnable); `bind()` is awaited at start, before the informers
        are fixed, to connect its watches (`ControllerBuilder.complete` calls this)."""
        if self._started:
            raise RuntimeError("controllers must be added before the manager starts")
        if any(c.name == controller.name for c in self._controllers):
            raise ValueError(f"a controller named {controller.name!r} already exists")
        self._controllers.append(controller)
        self._before_start.append(bind)

    def recorder(self, name: str) -> EventRecorder:
        return self.broadcaster.recorder(name)

    def set_transform(self, api_version: str, kind: str, transform: Transform) -> None:
        """Cache only what `transform(obj)` keeps of a kind (controller-runtime's ByObject Transform),
        after managedFields and last-applied are dropped: every full informer of the kind uses it, so
        every controller that reads the kind must be content with it. One transform per kind; set it
        before the kind's informers are made (in `setup`)."""
        held = self._transforms.get((api_version, kind))
        if held is not None and held is not transform:
            raise ValueError(f"{kind}.{api_version} already has another transform")
        if self.informers_of(api_version, kind):
            raise RuntimeError(f"set the transform of {kind} before its informers are made")
        self._transforms[(api_version, kind)] = transform

    def set_typed(self, api_version: str, kind: str) -> None:
        """Cache a kind as read-only typed objects (irc.runtime.typed) in every full informer of it:
        less memory and CPU than dicts, read alike, but never changed in place (`typed.to_dict` makes
        the copy to edit). Set it before the kind's informers are made (in `setup`)."""
        if self.informers_of(api_version, kind):
            raise RuntimeError(f"make {kind} typed before its informers are made")
        self._typed.add((api_version, kind))

    def add_index(self, index: Index) -> None:
        """Index every informer of a kind (or every metadata-only one): `cache.by_index` reads it."""
        if any(
            (i.api_version, i.kind, i.metadata_only, i.name)
            == (index.api_version, index.kind, index.metadata_only, index.name)
            for i in self._indexes
        ):
            raise ValueError(f"index {index.name!r} of {index.kind} already exists")
        self._indexes.append(index)
        for informer in self.informers_of(index.api_version, index.kind, metadata_only=index.metadata_only):
            informer.store.add_indexer(index.name, index.func)

    async def informers(
        self,
        api_version: str,
        kind: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ) -> list[Informer]:
        """The shared informers of a kind: one per configured namespace for namespaced kinds, else one.
        Metadata-only informers are shared apart from full ones: both may watch the same kind."""
        resource = await self.client.resource(api_version, kind)
        namespaces: Sequence[str | None] = (
            self.options.namespaces if resource.namespaced and self.options.namespaces else [None]
        )
        out = []
        for ns in namespaces:
            key = (api_version, kind, ns, label_selector, field_selector, metadata_only)
            if key not in self._informers:
                if self._started:
                    raise RuntimeError(f"informer for {kind} requested after the manager started")
                self._informers[key] = Informer(
                    self.client,
                    api_version,
                    kind,
                    namespace=ns,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    indexers={
                        i.name: i.func
                        for i in self._indexes
                        if (i.api_version, i.kind, i.metadata_only) == (api_version, kind, metadata_only)
                    },
                    transform=self._transform(api_version, kind, metadata_only),
                    resync_period=self.options.sync_period,
                    watch_list=self.options.watch_list,
                    clock=self.clock,
                    metadata_only=metadata_only,
                    typed=not metadata_only and (api_version, kind) in self._typed,
                )
            out.append(self._informers[key])
        return out

    def _transform(self, api_version: str, kind: str, metadata_only: bool) -> Transform:
        transform = None if metadata_only else self._transforms.get((api_version, kind))
        if transform is None:
            return strip_managed_fields
        return lambda obj: transform(strip_managed_fields(obj))

    def informers_of(self, api_version: str, kind: str, *, metadata_only: bool = False) -> list[Informer]:
        return [
            i
            for i in self._informers.values()
            if (i.api_version, i.kind, i.metadata_only) == (api_version, kind, metadata_only)
        ]

    # ---- running

    async def start(self) -> None:
        """Run until cancelled (or a runnable fails, or leadership is lost).

        A failure is raised as itself: the first real exception of the task groups (nested groups
        flattened, cancellations skipped), chained from the whole group. Cancellation raises
        CancelledError, as ever."""
        if self._started:
            raise RuntimeError("a manager can be started once")
        for bind in self._before_start:
            await bind()
        self._started = True
        leader_work = [r for r in [*self._controllers, *self._runnables] if r.needs_leader_election]
        others = [r for r in self._runnables if not r.needs_leader_election]
        for informer in self._informers.values():
            self.probes.add_readyz(_readyz_name(informer), informer.check)
        if self.options.leader_election.enabled:
            le = self.options.leader_election
            self.elector = LeaderElector(
                self.client,
                replace(le, namespace=le.namespace or pod_namespace() or "default"),
                clock=self.clock,
                metrics=self.metrics,
            )
            self.probes.add_healthz("leader-election", self.elector.check)

        self.http_servers = [
            health_server(self.options.health_probe_bind_address, self.probes),
            self._metrics_server(),
        ]
        try:
            async with asyncio.TaskGroup() as tg:
                for server in self.http_servers:  # 1
                    await server.start()
                for informer in self._informers.values():  # 2
                    tg.create_task(informer.run(), name=f"informer {informer!r}")
                await self._wait_for_caches()
                tg.create_task(self.broadcaster.run(), name="event-broadcaster")  # 3
                for r in others:
                    tg.create_task(r.start(), name=f"runnable {r!r}")
                if self.elector is not None:  # 4, 5
                    tg.create_task(self.elector.run(lambda: self._lead(leader_work)), name="leader-election")
                else:
                    tg.create_task(self._lead(leader_work), name="leader-runnables")
        except BaseExceptionGroup as group:
            first = errors.first_failure(group)
            if first is None:
                raise
            raise first from group
        finally:
            for server in self.http_servers:
                await server.stop()

    def _metrics_server(self) -> HttpServer:
        address, registry = self.options.metrics_bind_address, self.metrics.registry
        if not self.options.metrics_secure:
            return metrics_server(address, registry, process_collectors=True)
        from irc.runtime.metrics_auth import MetricsAuth, serving_context

        auth, context = MetricsAuth(self.client, self.clock), serving_context(self.options.metrics_cert_dir)
        return metrics_server(address, registry, process_collectors=True, auth=auth, ssl_context=context)

    async def _wait_for_caches(self) -> None:
        timeout = self.options.cache_sync_timeout
        await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        log.info("caches synced (%d informers)", len(self._informers))

    async def _lead(self, runnables: list[Runnable]) -> None:
        """Run the leader work; under leader election, fenced: its tasks inherit WRITE_FENCE, so every
        write they send, and every reconcile a controller starts, waits for a current lease."""
        if self.elector is not None:
            WRITE_FENCE.set(LeaseFence(self.elector))
        self.elected.set()
        async with asyncio.TaskGroup() as tg:
            for r in runnables:
                tg.create_task(r.start(), name=getattr(r, "name", repr(r)))

    async def run(self) -> None:
        """`start()` with signal handling: the first SIGTERM/SIGINT stops gracefully, a second exits 1."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stopping = False
        overrun: asyncio.TimerHandle | None = None

        def on_signal(signum: int) -> None:
            nonlocal stopping
            if stopping:
                log.error("second signal %s: exiting now", signal.Signals(signum).name)
                os._exit(1)
            stopping = True
            log.info(
                "signal %s: shutting down (grace %s s)",
                signal.Signals(signum).name,
                self.options.graceful_shutdown_timeout,
            )
            nonlocal overrun
            overrun = loop.call_later(self.options.graceful_shutdown_timeout, self._overrun)
            task.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await self.start()
        except asyncio.CancelledError:
            if not stopping:
                raise
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self.client.close()
            if overrun is not None:  # stopped in time: a program that goes on must not be exited later
                overrun.cancel()
        log.info("stopped")

    def _overrun(self) -> None:
        log.error(
            "runnables did not stop within the grace period of %s s", self.options.graceful_shutdown_timeout
        )
        os._exit(1)
