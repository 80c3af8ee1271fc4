"""The leader killed (SIGKILL) under load, again and again (issue 15's leader-election scenario): each
time a standby takes the Lease, no write of the killed leader's comes after the hand-over, and no change
goes unreconciled. The takeover times are printed (`-s`) for docs/reliability.md; no test asserts a
timing. One kill in `make test`, 2 times IRC_CHAOS_CYCLES in `make test-chaos` (10).

e2e.chaos.ledger_writer processes (Lease 6 s, renew deadline 4 s) write a ledger entry per reconcile;
the server's resourceVersions order every entry against the Lease's hand-overs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from functools import partial

import pytest

from e2e.chaos.ledger import CYCLES, Writers, churn, covers, entries, held_by, holder, synced
from e2e.support import eventually
from irc.runtime.client import Client

pytestmark = pytest.mark.e2e

KILLS = 2 * CYCLES if CYCLES > 1 else 1


async def test_a_killed_leader_is_replaced_and_nothing_is_written_twice_or_lost(
    client: Client, namespace: str, ledger: str, writers: Writers
) -> None:
    names = [f"k{i}" for i in range(KILLS + 2)]
    writers.start(names[0])
    await eventually(partial(held_by, client, ledger, names[0]), within=60, what="the Lease taken")
    created: list[str] = []
    # 2 changes a second: each new leader reconciles every ConfigMap from its initial list (the
    # earlier ones at low priority), so a faster churn outgrows what a leader finishes between kills.
    churning = asyncio.create_task(churn(client, namespace, "k", created, every=0.5))
    takeovers: list[float] = []
    try:
        for kill in range(KILLS):
            leader, standby = names[kill], names[kill + 1]
            writers.start(standby)
            await eventually(partial(synced, writers, standby), within=60, what=f"{standby} starts electing")
            await asyncio.sleep(2)  # the leader at work
            writers.procs[leader].kill()
            killed = time.monotonic()
            await asyncio.to_thread(writers.procs[leader].wait, 30)
            taken = await eventually(
                partial(_taken_by, client, ledger, standby), within=60, what=f"{standby} takes over"
            )
            takeovers.append(time.monotonic() - killed)
            late = [e for e in await entries(client, ledger, leader) if e[0] > taken]
            assert late == [], f"{leader} wrote after {standby} took the Lease (at resourceVersion {taken})"
    finally:
        churning.cancel()
        await asyncio.gather(churning, return_exceptions=True)
    everything = partial(covers, client, ledger, tuple(names), created)
    await eventually(everything, within=120, what="all reconciled")
    print(
        f"\n{KILLS} leader kills, {len(created)} changes, all reconciled; takeover after the kill: "
        f"median {statistics.median(takeovers):.1f} s (max {max(takeovers):.1f})"
    )


async def _taken_by(client: Client, ledger: str, identity: str) -> int | None:
    """The Lease's resourceVersion once `identity` holds it."""
    seen = await holder(client, ledger)
    return seen[1] if seen and seen[0] == identity else None
