"""Keep the label `example.irc.dev/managed=true` on every ConfigMap: a complete irc.runtime controller.

Run it against any cluster:  python examples/configmap_labeler.py [--kubeconfig PATH] [--namespace NS]

docs/library.md shows the reconciler and `setup` below (tests/test_library_docs.py keeps the two the
same), and tests/test_example_labeler.py tests the reconciler through `reconcile()` with the fakes of
irc.runtime.testing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket

from irc.runtime import (
    ApiClient,
    ControllerBuilder,
    EventRecorder,
    LeaderElectionOptions,
    Manager,
    ManagerOptions,
    NotFound,
    Reader,
    Request,
    Result,
)
from irc.runtime import logging as irc_logging

NAME = "configmap-labeler"
LABEL, VALUE = "example.irc.dev/managed", "true"
LABELED_BY = "example.irc.dev/labeled-by"  # who set the label (the e2e test reads the pid from it)


class ConfigMapLabeler:
    """Labels each ConfigMap once; `identity` names this process in the LABELED_BY annotation."""

    def __init__(self, *, client: ApiClient, reader: Reader, recorder: EventRecorder, identity: str) -> None:
        self.client, self.reader, self.recorder, self.identity = client, reader, recorder, identity

    async def reconcile(self, request: Request) -> Result | None:
        try:
            configmap = self.reader.get("v1", "ConfigMap", request.name, request.namespace)
        except NotFound:
            return None  # deleted since it was queued: nothing to do
        if (configmap["metadata"].get("labels") or {}).get(LABEL) == VALUE:
            return None
        patch = {"metadata": {"labels": {LABEL: VALUE}, "annotations": {LABELED_BY: self.identity}}}
        await self.client.patch("v1", "ConfigMap", request.name, patch, namespace=request.namespace)
        self.recorder.event(configmap, "Normal", "Labeled", f"set {LABEL}={VALUE}")
        return None


def setup(mgr: Manager) -> None:
    reconciler = ConfigMapLabeler(
        client=mgr.client,
        reader=mgr.cache,
        recorder=mgr.recorder(NAME),
        identity=f"{socket.gethostname()}-{os.getpid()}",
    )
    ControllerBuilder(mgr, NAME).for_("v1", "ConfigMap").complete(reconciler)


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
            id=NAME,
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
