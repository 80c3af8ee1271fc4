"""Keep the label `example.irc.dev/managed=true` on every ConfigMap: a complete irc.runtime controller.

Run it against any cluster:  python examples/configmap_labeler.py [--kubeconfig PATH] [--namespace NS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket

from irc.runtime import (
    ControllerBuilder,
    LeaderElectionOptions,
    Manager,
    ManagerOptions,
    NotFound,
    Request,
    Result,
)
from irc.runtime import logging as irc_logging

LABEL, VALUE = "example.irc.dev/managed", "true"
LABELED_BY = "example.irc.dev/labeled-by"  # which process set the label (the e2e test reads it)


class ConfigMapLabeler:
    def __init__(self, mgr: Manager) -> None:
        self.client, self.cache = mgr.client, mgr.cache
        self.recorder = mgr.recorder("configmap-labeler")
        self.me = f"{socket.gethostname()}-{os.getpid()}"

    async def reconcile(self, request: Request) -> Result | None:
        try:
            configmap = self.cache.get("v1", "ConfigMap", request.name, request.namespace)
        except NotFound:
            return None  # deleted since it was queued: nothing to do
        if (configmap["metadata"].get("labels") or {}).get(LABEL) == VALUE:
            return None
        patch = {"metadata": {"labels": {LABEL: VALUE}, "annotations": {LABELED_BY: self.me}}}
        await self.client.patch("v1", "ConfigMap", request.name, patch, namespace=request.namespace)
        self.recorder.event(configmap, "Normal", "Labeled", f"set {LABEL}={VALUE}")
        return None


def setup(mgr: Manager) -> None:
    ControllerBuilder(mgr, "configmap-labeler").for_("v1", "ConfigMap").complete(ConfigMapLabeler(mgr))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig")
    parser.add_argument("--namespace", action="append", default=[])
    parser.add_argument("--leader-elect", action="store_true")
    parser.add_argument("--lease-duration", type=float, default=15.0)
    args = parser.parse_args()
    irc_logging.configure("console", "info")
    lease = args.lease_duration
    options = ManagerOptions(
        namespaces=tuple(args.namespace),
        metrics_bind_address="0",  # no servers in the example; the manager binary serves both
        health_probe_bind_address="0",
        leader_election=LeaderElectionOptions(
            enabled=args.leader_elect,
            id="configmap-labeler",
            lease_duration=lease,
            renew_deadline=lease * 2 / 3,
            retry_period=lease * 2 / 15,
        ),
    )
    mgr = await Manager.from_kubeconfig(args.kubeconfig, options=options)
    setup(mgr)
    await mgr.run()


if __name__ == "__main__":
    asyncio.run(main())
