"""A manager under leader election whose controller writes a ledger entry for every ConfigMap event:
each reconcile of a ConfigMap in --watch waits WORK_SECONDS (an outside call, as a registry or Git one
would be), then creates a ConfigMap in --ledger labelled with this process's identity. The server's
resourceVersions then order every write against the Lease's hand-overs.

    python -m e2e.chaos.ledger_writer --kubeconfig K --watch NS --ledger NS --lease NAME --identity ID
"""

from __future__ import annotations

import argparse
import asyncio

from irc.runtime import ControllerBuilder, LeaderElectionOptions, Manager, ManagerOptions, Request
from irc.runtime import logging as irc_logging
from irc.runtime.client import Client

IDENTITY_LABEL = "ledger.irc.dev/identity"
LEASE_SECONDS, RENEW_DEADLINE, RETRY_PERIOD = 6.0, 4.0, 1.0
WORK_SECONDS = 0.3


class LedgerWriter:
    def __init__(self, client: Client, ledger: str, identity: str) -> None:
        self.client, self.ledger, self.identity = client, ledger, identity

    async def reconcile(self, request: Request) -> None:
        await asyncio.sleep(WORK_SECONDS)
        await self.client.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "generateName": "entry-",
                    "namespace": self.ledger,
                    "labels": {IDENTITY_LABEL: self.identity},
                },
                "data": {"for": request.name},
            }
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--kubeconfig", "--watch", "--ledger", "--lease", "--identity"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    irc_logging.configure("console", "info")
    options = ManagerOptions(
        namespaces=(args.watch,),
        metrics_bind_address="0",
        health_probe_bind_address="0",
        leader_election=LeaderElectionOptions(
            enabled=True,
            id=args.lease,
            namespace=args.ledger,
            identity=args.identity,
            lease_duration=LEASE_SECONDS,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
        ),
    )
    mgr = await Manager.from_kubeconfig(args.kubeconfig, options=options)
    writer = LedgerWriter(mgr.client, args.ledger, args.identity)
    builder = ControllerBuilder(mgr, "ledger").for_("v1", "ConfigMap")
    builder.with_options(max_concurrent_reconciles=4).complete(writer)
    await mgr.run()


if __name__ == "__main__":
    asyncio.run(main())
