"""A leader paused (SIGSTOP) for longer than its lease, then resumed: the standby has taken the Lease
meanwhile, and the old leader must not write anything once resumed, though its socket holds the watch
events of the pause and its queue the work they bring (issue 15's paused-leader case).

Two e2e.chaos.ledger_writer processes share a Lease; every reconcile of theirs creates a ledger entry (a
ConfigMap labelled with the writer's identity) in a namespace of its own. The server orders every write:
resourceVersions of one etcd are its revisions, so an entry of the paused leader's with a higher one
than the Lease had when the standby was seen holding it is a write by two leaders at once.
IRC_CHAOS_CYCLES (default 1) repeats the pause with the roles swapped; `make test-chaos` runs 5.
"""

from __future__ import annotations

import asyncio
import signal
import time
from functools import partial

import pytest

from e2e.chaos.ledger import CYCLES, Writers, churn, covers, entries, has_entry, held_by, holder, synced
from e2e.chaos.ledger_writer import LEASE_SECONDS
from e2e.support import configmap, eventually
from irc.runtime.client import Client

pytestmark = pytest.mark.e2e


async def test_a_leader_paused_past_its_lease_writes_nothing_once_the_standby_has_taken_over(
    client: Client, namespace: str, ledger: str, writers: Writers
) -> None:
    identities = [f"w{i}" for i in range(CYCLES + 1)]
    writers.start(identities[0])
    await eventually(partial(held_by, client, ledger, identities[0]), within=60, what="the Lease taken")
    for cycle in range(CYCLES):
        leader, standby = identities[cycle], identities[cycle + 1]
        writers.start(standby)
        await eventually(partial(synced, writers, standby), within=60, what=f"{standby} starts electing")
        warm = f"warm-{cycle}"
        await client.create(configmap(namespace, warm))
        await eventually(partial(has_entry, client, ledger, leader, warm), within=60, what=f"{leader} acts")

        created: list[str] = []
        churning = asyncio.create_task(churn(client, namespace, f"c{cycle}", created))
        await asyncio.sleep(2)  # the leader's workers are busy when it stops
        writers.procs[leader].send_signal(signal.SIGSTOP)
        paused_at, taken_at_rv = time.monotonic(), None
        # Its socket fills with the events of the pause; stay stopped past the hand-over and the lease.
        while taken_at_rv is None or time.monotonic() - paused_at < LEASE_SECONDS + 2:
            if taken_at_rv is None and (seen := await holder(client, ledger)) and seen[0] == standby:
                taken_at_rv = seen[1]
            assert time.monotonic() - paused_at < 60, "the standby never took the Lease"
            await asyncio.sleep(0.2)
        writers.procs[leader].send_signal(signal.SIGCONT)

        code = await asyncio.to_thread(writers.procs[leader].wait, 60)
        churning.cancel()
        await asyncio.gather(churning, return_exceptions=True)
        assert code == 1, f"{leader} exited {code}, not 1 for a lost lease:\n{writers.log(leader)[-3000:]}"
        assert "lost lease" in writers.log(leader)
        late = [(rv, name) for rv, name in await entries(client, ledger, leader) if rv > taken_at_rv]
        assert late == [], f"{leader} wrote after {standby} took the Lease (at resourceVersion {taken_at_rv})"
        # Nothing was lost: every ConfigMap of the cycle has an entry, the old leader's or the new one's.
        covered = partial(covers, client, ledger, (leader, standby), created)
        await eventually(covered, within=60, what="every change reconciled")
