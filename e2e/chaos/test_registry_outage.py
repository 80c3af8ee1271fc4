"""A registry down for a while, then back (issue 15's registry scenario, at the reconciler): the backup
registry or the source answers 503 to everything (down behind its load balancer) or refuses
connections (the proxy in front of it stopped), then comes back. Each time the ImageBackup is Failed
with the reason while the registry is down, the reconcile raises (so the controller retries with
backoff), and the next reconcile once it is back completes the copy with the source's digest; the
backup registry never holds a manifest whose blobs it lacks (the proxy's log of the target side).

Every message names the registry that failed. The reconciler runs through `reconcile()` with
irc.runtime.testing's FakeClient; the registries are the test bed's, behind FaultyProxy
(e2e/test_images_copy.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from e2e.test_images_copy import FaultyProxy, assert_no_manifest_before_its_blobs, digest_of, skopeo_raw
from hack.testbed import images, registries
from irc.api import API_VERSION
from irc.api.conditions import get_condition
from irc.ecr.credentials import AwsClients
from irc.images.auth import RegistryOptions
from irc.reconcilers.imagebackup import ImageBackupReconciler, Metrics
from irc.reconcilers.settings import Settings
from irc.runtime import Request
from irc.runtime.errors import ReconcileError
from irc.runtime.testing import FakeClient, FakeClock, FakeRecorder

pytestmark = pytest.mark.e2e

# Each failure takes the registry client's own retries (5 attempts, ≈8 s): `make test` runs two of
# the four outages, `make test-chaos` (IRC_CHAOS_CYCLES > 1) all of them.
ALL = [("backup", "503"), ("backup", "refused"), ("source", "503"), ("source", "refused")]
OUTAGES = ALL if int(os.environ.get("IRC_CHAOS_CYCLES", "1")) > 1 else [ALL[0], ALL[3]]
REASONS = {"503": "RegistryError", "refused": "NetworkError"}


@dataclass
class Outage(FaultyProxy):
    """Passes everything through, unless `down`: then every request is answered 503."""

    down: bool = False

    def fault_for(self, request: web.Request) -> str:
        return "503" if self.down else "ok"


class Proxied:
    """An Outage proxy on a fixed port, which can be stopped (connections refused) and started again."""

    def __init__(self, upstream: registries.Registry) -> None:
        self.proxy = Outage(upstream.url, schedule=())
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self.proxy.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def proxies(registry_bed: registries.Registries) -> AsyncIterator[tuple[Proxied, Proxied]]:
    source, backup = Proxied(registry_bed["source"]), Proxied(registry_bed["backup"])
    await source.start()
    await backup.start()
    yield source, backup
    await source.stop()
    await backup.stop()


async def test_a_registry_down_fails_the_backup_with_its_reason_and_the_copy_completes_once_it_is_back(
    registry_bed: registries.Registries,
    source_images: dict[str, images.Built],
    proxies: tuple[Proxied, Proxied],
) -> None:
    source, backup = proxies
    built = source_images["testbed/multilayer:1.0.0"]
    repo = f"irc-outage-{uuid.uuid4().hex[:6]}/multilayer"
    obj = {
        "apiVersion": API_VERSION,
        "kind": "ImageBackup",
        "metadata": {"name": "outage"},
        "spec": {
            "source": f"{source.host}/testbed/multilayer:1.0.0",
            "target": f"{backup.host}/{repo}:1.0.0",
        },
    }
    client = FakeClient([obj])
    plain = RegistryOptions(plain_http=True)
    reconciler = ImageBackupReconciler(
        client=client,
        reader=client.cache,
        recorder=FakeRecorder(),
        clock=FakeClock(),
        metrics=Metrics.register(CollectorRegistry()),
        settings=Settings(registries={source.host: plain, backup.host: plain}),
        aws=AwsClients(),
        identity="outage-test",
    )

    async def failure() -> tuple[str, str]:
        with pytest.raises(ReconcileError) as raised:
            await reconciler.reconcile(Request("", "outage"))
        status = client.get_now(API_VERSION, "ImageBackup", "outage")["status"]
        ready = get_condition(status, "Ready") or {}
        assert status["phase"] == "Failed" and ready.get("reason") == raised.value.reason
        return raised.value.reason, ready.get("message", "")

    seen = []
    try:
        for name, fault in OUTAGES:
            side = backup if name == "backup" else source
            label = "source" if side is source else "target"
            if fault == "503":
                side.proxy.down = True
            else:
                await side.stop()
            reason, message = await failure()
            seen.append((name, fault, reason))
            assert message.startswith(f"{label} registry {side.host}: "), message
            side.proxy.down = False
            if side.runner is None:
                await side.start()
        await reconciler.reconcile(Request("", "outage"))
    finally:
        await reconciler.close()
    status = client.get_now(API_VERSION, "ImageBackup", "outage")["status"]
    assert (status["phase"], status["targetDigest"]) == ("Completed", built.digest)
    assert digest_of(skopeo_raw(registry_bed["backup"], f"{repo}:1.0.0")) == built.digest
    assert seen == [(name, fault, REASONS[fault]) for name, fault in OUTAGES], seen
    assert_no_manifest_before_its_blobs(backup.proxy.log, registry_bed["backup"], manifests=1)
