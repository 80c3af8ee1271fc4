"""Claims: which manager copies an ImageBackup when several reconcile it at once (leader election
off, or an old and a new leader overlapping in a hand-over).

    no claim, ours, or stale ──▶ claim: the Copying status write ──409──▶ Superseded: decide again
                                      │                                   on the newer object
                                      ▼
        copy; every status write renews the claim (progress, and at least every lease/4)
                                      │
                                      ▼
        release: Completed, Failed, or cancelled (manager stopping) ── a renewal that finds another
                                                                       holder raises ClaimLost

The claim is `status.claim` = {holder, renewedAt}. Every status write carries the resourceVersion
it was decided on (metadata.resourceVersion in the merge patch), so of two managers claiming at
once the API server lets one through and answers 409 Conflict to the other.

Another holder's claim is honoured until this process has seen it unchanged for the lease. As in
leader election (irc.runtime.leaderelection), the remote timestamp is never trusted, only its
changes, so clock offsets between machines do not matter; a manager that has just started waits
one lease before taking over a claim a crashed holder left.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from irc.runtime import ApiClient, Clock, Obj, errors

RENEWALS_PER_LEASE = 4
"""A holder renews its claim at least this often per lease, so one or two slow writes never lose it."""


def _micro_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Claim:
    holder: str
    renewed_at: str
    """As the holder wrote it: compared for change, never trusted as a time."""

    @classmethod
    def of(cls, obj: Obj) -> Claim | None:
        raw = (obj.get("status") or {}).get("claim") or {}
        holder = raw.get("holder")
        return cls(str(holder), str(raw.get("renewedAt") or "")) if holder else None

    def to_status(self) -> dict[str, str]:
        return {"holder": self.holder, "renewedAt": self.renewed_at}


class ClaimLost(Exception):
    """Another holder has the claim now (it found ours stale): this copy stops and reports nothing."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(f"the claim is now {holder}'s" if holder else "the claim was released")
        self.holder = holder


class Superseded(errors.Conflict):
    """A write made without holding the claim met a newer object: decide again on `current`."""

    def __init__(self, conflict: errors.Conflict, current: Obj) -> None:
        super().__init__(conflict.status, conflict.reason, conflict.message, conflict.body)
        self.current = current


class Claims:
    """One manager's side of the claims: its identity, the lease, and when it first saw each other
    holder's claim as it is now."""

    def __init__(self, identity: str, lease: float, clock: Clock) -> None:
        self.identity, self.lease, self.clock = identity, lease, clock
        self._seen: dict[tuple[str | None, str], tuple[Claim, float]] = {}

    @property
    def renew_every(self) -> float:
        return self.lease / RENEWALS_PER_LEASE

    def held_elsewhere(self, obj: Obj) -> float | None:
        """Seconds until another holder's claim on `obj` may be taken over; None when there is no
        claim, it is ours, or it has not changed for a lease (its holder is gone)."""
        key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        claim = Claim.of(obj)
        if claim is None or claim.holder == self.identity:
            self._seen.pop(key, None)
            return None
        now = self.clock.now()
        seen = self._seen.get(key)
        if seen is None or seen[0] != claim:
            seen = self._seen[key] = (claim, now)
        left = seen[1] + self.lease - now
        return left if left > 0 else None

    def forget(self, name: str, namespace: str | None = None) -> None:
        """The object is gone: drop what was seen of its claim."""
        self._seen.pop((namespace or None, name), None)

    def mine(self) -> Claim:
        return Claim(self.identity, _micro_time(self.clock.wall()))


class StatusWriter:
    """Writes one object's status for one reconcile, each write on the resourceVersion of the last
    one seen, leaving the `foreign` fields (another controller's) alone.

    Until `claim()` succeeds, a 409 raises Superseded. While the claim is held, each write renews
    it, and a 409 (someone else's write, e.g. a foreign field) is retried on the newer object as
    long as the claim there is still ours; otherwise it raises ClaimLost."""

    def __init__(self, client: ApiClient, claims: Claims, obj: Obj, *, foreign: Collection[str] = ()) -> None:
        self._client, self._claims, self._foreign = client, claims, frozenset(foreign)
        self._api_version, self._kind = obj["apiVersion"], obj["kind"]
        metadata = obj["metadata"]
        self._name, self._namespace = metadata["name"], metadata.get("namespace")
        self._version: str = metadata["resourceVersion"]
        self.held = False
        self.renewed_at = -math.inf
        """clock.now() of the last write that renewed the claim."""
        self._claim_sent = False

    async def claim(self, status: dict[str, Any]) -> None:
        """Write `status` with this manager's claim: Superseded if the object has moved on."""
        status["claim"] = self._claims.mine().to_status()
        self._claim_sent = True
        await self._patch(self._owned(status))
        self.held, self.renewed_at = True, self._claims.clock.now()

    async def write(self, status: dict[str, Any]) -> None:
        if self.held:
            status["claim"] = self._claims.mine().to_status()
        await self._patch(self._owned(status))
        if self.held:
            self.renewed_at = self._claims.clock.now()

    async def release(self, status: dict[str, Any] | None = None) -> None:
        """Write `status` (only the claim, when None) without the claim. A writer that does not
        hold the claim writes `status` as it is."""
        if not self.held:
            if status is not None:
                await self._patch(self._owned(status))
            return
        body: dict[str, Any] = {}
        if status is not None:
            status["claim"] = None  # a merge patch deletes it
            body = self._owned(status)
        await self._patch({**body, "claim": None})
        self.held = False

    async def let_go(self) -> None:
        """Give the claim up if it is, or may be, ours: a claim write cancelled before its answer
        may have landed. Written as a holder's: a 409 then shows whether the claim there is ours
        (retried) or not (ClaimLost: nothing to give up)."""
        if self.held or self._claim_sent:
            self.held = True
            await self.release()

    def _owned(self, status: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in status.items() if k not in self._foreign}

    async def _patch(self, status: dict[str, Any]) -> None:
        while True:  # each round needs another writer's write in between: it ends
            body = {"metadata": {"resourceVersion": self._version}, "status": status}
            try:
                written = await self._client.patch(
                    self._api_version,
                    self._kind,
                    self._name,
                    body,
                    namespace=self._namespace,
                    subresource="status",
                )
            except errors.Conflict as conflict:
                current = await self._client.get(self._api_version, self._kind, self._name, self._namespace)
                if not self.held:
                    raise Superseded(conflict, current) from None
                claim = Claim.of(current)
                if claim is None or claim.holder != self._claims.identity:
                    self.held = False
                    raise ClaimLost(claim.holder if claim else None) from None
                self._version = current["metadata"]["resourceVersion"]
                continue
            self._version = written["metadata"]["resourceVersion"]
            return
