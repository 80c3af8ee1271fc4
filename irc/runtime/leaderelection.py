"""Lease-based leader election, with client-go's semantics (tools/leaderelection) and defaults.

`LeaderElector.run(on_started_leading)` acquires a coordination.k8s.io/v1 Lease, runs the leader work as
a child task while it renews the Lease, and raises `LeaderElectionLost` once it cannot renew. Guarantees:

- Remote timestamps are never trusted: a holder's lease is valid until this process has seen its record
  unchanged for the record's leaseDurationSeconds (client-go's observedTime), so any clock offset between
  machines is tolerated (a difference in clock *rate* is not: size the durations for it).
- A rival takes over no sooner than lease_duration after it saw our last renewal, so while renew_deadline
  (< lease_duration) has not passed since the start of our last successful renewal, on the monotonic
  clock, no rival leads: `is_current()`. The manager fences its leader work with it (`LeaseFence`): a
  reconcile starts, and a write is sent, only while it holds. That covers a leader paused past its lease
  (a frozen node, SIGSTOP): on resume its queued work finds the renewal stale and waits rather than act.
  Nothing fences a write already sent, or one paused between the check and the socket.
- The leader work is cancelled as soon as renew_deadline has passed since the start of the last successful
  renewal (when the renewal timer next runs), or as soon as a renewal finds another holder.
- On cancellation (or failure of the leader work) the work is cancelled first, then the Lease is released
  (holder "", duration 1 s) if release_on_cancel, bounded by renew_deadline; a failed release only logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from irc.runtime import errors
from irc.runtime.client import Client, Obj
from irc.runtime.clock import Clock, RealClock
from irc.runtime.metrics import RuntimeMetrics

logger = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"
JITTER_FACTOR = 1.2
"""Acquire attempts are retry_period * [1, 1 + JITTER_FACTOR) apart, as client-go's wait.JitterUntil."""
HEALTH_TOLERANCE = 20.0
"""Seconds past lease_duration that `check()` tolerates a leader without renewal (client-go's healthz)."""


class LeaderElectionLost(Exception):
    """The Lease could not be renewed in time: leader work has stopped and the process should exit."""


def _default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _micro_time(epoch: float) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionOptions:
    """Whether to elect, where the Lease lives, who we are and the timings (controller-runtime's
    defaults). The manager takes it as `ManagerOptions.leader_election`; `LeaderElector` needs
    `namespace` set (the manager fills in its default)."""

    enabled: bool = False
    """Run leader-only runnables only while holding the Lease. Defaults to off."""
    id: str = "irc-manager"
    """The Lease's name (controller-runtime's LeaderElectionID). Defaults to irc-manager."""
    namespace: str | None = None
    """The Lease's namespace. Defaults (in the manager) to the pod's namespace in a cluster, else
    $POD_NAMESPACE, else "default"."""
    identity: str = field(default_factory=_default_identity)
    """This candidate's holderIdentity. Defaults to `<hostname>_<uuid4>`."""
    lease_duration: float = 15.0
    """Seconds a rival waits, after it last saw the record change, before taking over. Defaults to 15.
    Written as leaseDurationSeconds rounded up to whole seconds."""
    renew_deadline: float = 10.0
    """Seconds after the last successful renewal at which a leader gives up. Defaults to 10."""
    retry_period: float = 2.0
    """Seconds between attempts to acquire (jittered) or renew. Defaults to 2."""
    release_on_cancel: bool = True
    """Release the Lease when `run` is cancelled, so a successor need not wait it out. Defaults to True."""

    def __post_init__(self) -> None:
        for name in ("id", "identity"):
            if not getattr(self, name):
                raise ValueError(f"leader election: {name} must not be empty")
        if not self.retry_period > 0:
            raise ValueError(f"leader election: retry_period must be > 0, got {self.retry_period}")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"leader election: renew_deadline ({self.renew_deadline}) must be greater than "
                f"{JITTER_FACTOR} * retry_period ({self.retry_period})"
            )
        if not self.lease_duration > self.renew_deadline:
            raise ValueError(
                f"leader election: lease_duration ({self.lease_duration}) must be greater than "
                f"renew_deadline ({self.renew_deadline})"
            )


class LeaderElector:
    """One candidate for one Lease. `run` once; `is_leader` is True exactly while leader work may run."""

    def __init__(
        self,
        client: Client,
        config: LeaderElectionOptions,
        *,
        clock: Clock | None = None,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        if not config.namespace:
            raise ValueError("leader election: namespace must not be empty")
        self._client = client
        self._config = config
        self._namespace = config.namespace
        self._clock = clock or RealClock()
        self._metrics = metrics
        self._duration_seconds = max(1, math.ceil(config.lease_duration))
        self._is_leader = False
        # The Lease as last read or written, and the local (monotonic) time its spec last changed.
        self._lease: Obj | None = None
        self._observed_time = 0.0
        # Local time at which the last successful acquire or renew request was started, and an event
        # set at each success (for wait_current).
        self._renewed_at = 0.0
        self._renewed = asyncio.Event()

    @property
    def identity(self) -> str:
        return self._config.identity

    @property
    def lease(self) -> str:
        """namespace/name of the Lease."""
        return f"{self._namespace}/{self._config.id}"

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    def is_current(self) -> bool:
        """Leading, and the last successful renewal started less than renew_deadline ago (monotonic):
        no rival can have taken the Lease yet."""
        return self._is_leader and self._until_deadline() > 0

    async def wait_current(self) -> None:
        """Return once `is_current()`: at once, or after the next successful renewal."""
        while not self.is_current():
            self._renewed.clear()
            await self._renewed.wait()

    async def check(self) -> None:
        """Health check: fail if we lead but have not renewed for lease_duration + HEALTH_TOLERANCE."""
        stale = self._clock.now() - self._observed_time
        if self._is_leader and stale > self._config.lease_duration + HEALTH_TOLERANCE:
            raise RuntimeError(f"failed to renew leadership on lease {self._config.id}")

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Wait to acquire the Lease, then run `on_started_leading()` while renewing it.

        Never returns normally: raises `LeaderElectionLost` when leadership is lost, the leader work's
        exception if it fails, or CancelledError when cancelled (releasing the Lease first if so configured).
        """
        cfg = self._config
        self._set_leader(False)
        await self._acquire()
        self._set_leader(True)
        logger.info("acquired lease %s/%s as %s", self._namespace, cfg.id, cfg.identity)
        work = asyncio.create_task(_call(on_started_leading), name=f"leader:{cfg.id}")
        renewing = asyncio.create_task(self._keep_renewing(), name=f"renew:{cfg.id}")
        try:
            await asyncio.wait((work, renewing), return_when=asyncio.FIRST_COMPLETED)
            if work.done() and not work.cancelled() and work.exception() is None:
                await renewing  # the work is over, the leadership is not: hold it until lost or cancelled
            if renewing.done():
                self._set_leader(False)  # lost
        finally:
            # The leader work stops first, the Lease renewed until it has: as controller-runtime stops
            # leader election last, a slow shutdown never leaves two leaders at work.
            work.cancel()
            try:
                await asyncio.wait((work,))
            finally:
                renewing.cancel()
                await asyncio.wait((renewing,))
                if self._is_leader:  # leaving for any reason but a lost lease
                    self._set_leader(False)
                    if cfg.release_on_cancel:
                        await self._release()
        if not work.cancelled() and (error := work.exception()) is not None:
            raise error
        reason = renewing.result()
        logger.error("lost lease %s/%s: %s", self._namespace, cfg.id, reason)
        raise LeaderElectionLost(f"leader election lost: lease {self._namespace}/{cfg.id} {reason}")

    def _set_leader(self, leading: bool) -> None:
        self._is_leader = leading
        if self._metrics is not None:
            self._metrics.leader_election_status.labels(self._config.id).set(int(leading))

    async def _acquire(self) -> None:
        period = self._config.retry_period
        while True:
            started = self._clock.now()
            if await self._attempt(self._config.renew_deadline):
                self._renew(started)
                return
            await self._clock.sleep(period * random.uniform(1.0, 1.0 + JITTER_FACTOR))

    async def _keep_renewing(self) -> str:
        """Renew every retry_period; return why, once leadership is lost."""
        cfg = self._config
        while True:
            await self._clock.sleep(max(0.0, min(cfg.retry_period, self._until_deadline())))
            if self._until_deadline() <= 0:
                return f"not renewed within {cfg.renew_deadline} s"
            started = self._clock.now()
            if await self._attempt(self._until_deadline()):
                self._renew(started)
            elif self._holder() not in ("", cfg.identity):
                return f"taken by {self._holder()}"  # waiting for the deadline would risk two leaders

    def _renew(self, started: float) -> None:
        self._renewed_at = started
        self._renewed.set()

    def _until_deadline(self) -> float:
        return self._renewed_at + self._config.renew_deadline - self._clock.now()

    async def _attempt(self, within: float) -> bool:
        """One try to acquire or renew within `within` seconds; True if we hold the Lease now."""
        try:
            async with asyncio.timeout(within):
                return await self._try_acquire_or_renew()
        except (errors.Conflict, errors.AlreadyExists):
            logger.debug("lease %s: lost a race to update it", self._config.id)
        except Exception as e:  # any failure is a failed attempt, as in client-go
            logger.warning("lease %s: cannot acquire or renew: %s", self._config.id, _describe(e))
        return False

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self._config
        if self._is_leader and self._lease is not None:
            try:  # fast path: renew from the record we wrote last, without a GET
                self._observe(await self._client.update(self._claim(self._lease)))
                return True
            except errors.Conflict:
                pass
        try:
            lease = await self._client.get(LEASE_API_VERSION, "Lease", cfg.id, self._namespace)
        except errors.NotFound:
            self._observe(await self._client.create(self._claim(None)))
            return True
        self._observe(lease)
        if self._holder() not in ("", cfg.identity) and self._valid():
            return False
        self._observe(await self._client.update(self._claim(lease)))
        return True

    def _observe(self, lease: Obj) -> None:
        if self._lease is None or self._lease.get("spec") != lease.get("spec"):
            self._observed_time = self._clock.now()
        self._lease = lease

    def _spec(self) -> Obj:
        return ((self._lease or {}).get("spec")) or {}

    def _holder(self) -> str:
        return str(self._spec().get("holderIdentity") or "")

    def _valid(self) -> bool:
        duration = float(self._spec().get("leaseDurationSeconds") or 0)
        return self._clock.now() < self._observed_time + duration

    def _claim(self, lease: Obj | None) -> Obj:
        """The Lease with us as holder: a renewal keeps acquireTime and leaseTransitions, a takeover
        counts one more transition, a new Lease starts at zero."""
        now = _micro_time(self._clock.wall())
        old = (lease or {}).get("spec") or {}
        ours = old.get("holderIdentity") == self._config.identity
        transitions = int(old.get("leaseTransitions") or 0)
        spec = {
            **old,
            "holderIdentity": self._config.identity,
            "leaseDurationSeconds": self._duration_seconds,
            "acquireTime": (old.get("acquireTime") if ours else None) or now,
            "renewTime": now,
            "leaseTransitions": transitions if ours or lease is None else transitions + 1,
        }
        metadata = (lease or {}).get("metadata") or {
            "name": self._config.id,
            "namespace": self._namespace,
        }
        return {"apiVersion": LEASE_API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}

    async def _release(self) -> None:
        """Give the Lease up (holder "", duration 1 s), retrying conflicts; never raises an error."""
        cfg = self._config
        try:
            async with asyncio.timeout(cfg.renew_deadline):
                while self._lease is not None and self._holder() == cfg.identity:
                    now = _micro_time(self._clock.wall())
                    spec = {**self._spec(), "holderIdentity": "", "leaseDurationSeconds": 1}
                    released = {**self._lease, "spec": {**spec, "acquireTime": now, "renewTime": now}}
                    try:
                        self._lease = await self._client.update(released)
                    except errors.Conflict:
                        self._lease = await self._client.get(
                            LEASE_API_VERSION, "Lease", cfg.id, self._namespace
                        )
                        continue
                    logger.info("released lease %s/%s", self._namespace, cfg.id)
        except Exception as e:
            logger.warning("lease %s: cannot release: %s", cfg.id, _describe(e))


@dataclass(frozen=True)
class LeaseFence:
    """The `WriteFence` of a manager's leader work: a write (and, in a controller, a reconcile) goes ahead
    only while the elector `is_current()`."""

    elector: LeaderElector

    def check(self) -> None:
        if not self.elector.is_current():
            raise errors.LeaseNotCurrent(
                f"write withheld: the leader election lease {self.elector.lease} was not renewed in the "
                "last renew deadline, so another manager may lead"
            )

    async def wait(self) -> None:
        await self.elector.wait_current()


async def _call(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


def _describe(error: Exception) -> str:
    return str(error) or type(error).__name__
