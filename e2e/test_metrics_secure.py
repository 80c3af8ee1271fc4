"""--metrics-secure against the test bed's kube-apiserver (RBAC authorizer): a manager serves /metrics
over HTTPS, and the API server's TokenReview and SubjectAccessReview decide who reads them. A token
of a ServiceAccount bound to the shipped irc-metrics-reader ClusterRole gets the metrics; no token
or a garbage one is 401; a valid token without that role is 403."""

from __future__ import annotations

import contextlib
import ssl
import uuid
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest
import yaml

from e2e.support import MANIFESTS, eventually, running
from hack.testbed import cluster
from irc.runtime import Manager, ManagerOptions
from irc.runtime.health import HttpServer


@pytest.fixture
def tokens(kube: cluster.Cluster) -> Iterator[dict[str, str]]:
    """Tokens (TokenRequest) of a ServiceAccount bound to irc-metrics-reader and of one bound to nothing."""
    ns = f"metrics-{uuid.uuid4().hex[:6]}"
    reader = yaml.safe_load((MANIFESTS / "base" / "metrics-reader.yaml").read_text())
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(reader))
    kube.kubectl("create", "serviceaccount", "prometheus", "-n", ns)
    kube.kubectl("create", "serviceaccount", "nobody", "-n", ns)
    binding = f"{ns}-prometheus"
    kube.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=irc-metrics-reader",
        f"--serviceaccount={ns}:prometheus",
    )
    try:
        yield {
            name: kube.kubectl("create", "token", name, "-n", ns, "--duration=10m").strip()
            for name in ("prometheus", "nobody")
        }
    finally:
        kube.kubectl("delete", "clusterrolebinding", binding)
        kube.kubectl("delete", "namespace", ns, "--wait=false")


def listening(mgr: Manager) -> Callable[[], Awaitable[HttpServer | None]]:
    async def check() -> HttpServer | None:
        for server in mgr.http_servers:
            if server.name == "metrics":
                with contextlib.suppress(RuntimeError):  # not listening yet
                    return server if server.port else None
        return None

    return check


async def test_metrics_are_served_only_to_tokens_allowed_to_get_them(
    kube: cluster.Cluster, tokens: dict[str, str]
) -> None:
    mgr = await Manager.from_kubeconfig(
        str(kube.kubeconfig),
        options=ManagerOptions(
            metrics_bind_address="127.0.0.1:0", health_probe_bind_address="0", metrics_secure=True
        ),
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # the self-signed certificate
    try:
        async with running(mgr.start()), aiohttp.ClientSession() as session:
            metrics = await eventually(listening(mgr), what="the metrics server listens")
            assert metrics.url.startswith("https://")

            async def scrape(authorization: str | None) -> tuple[int, str]:
                headers = {"Authorization": authorization} if authorization else {}
                async with session.get(f"{metrics.url}/metrics", ssl=insecure, headers=headers) as response:
                    return response.status, await response.text()

            status, text = await scrape(f"Bearer {tokens['prometheus']}")
            assert status == 200 and "controller_runtime_" in text and "process_resident_memory_bytes" in text
            assert (await scrape(None))[0] == 401
            assert (await scrape("Bearer not-a-token"))[0] == 401
            assert (await scrape(f"Bearer {tokens['nobody']}"))[0] == 403
    finally:
        await mgr.client.close()
