"""Session-scoped, lazily started test bed servers: a test that asks for a fixture starts it once
for the whole run; a run that asks for none starts nothing. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from e2e.support import temporary_namespace
from hack.testbed import cluster, ecr, git, images, procs, registries
from hack.testbed.oracle import Oracle
from irc.runtime.client import Client
from irc.runtime.transport import KubeTransport

# A run killed before its fixtures' teardown must not leave servers behind.
procs.DIE_WITH_PARENT = True


@pytest.fixture(scope="session")
def testbed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session")
def kube(testbed_dir: Path) -> Iterator[cluster.Cluster]:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK with Ready fake Nodes."""
    started = cluster.start(testbed_dir / "cluster")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def crds(kube: cluster.Cluster) -> None:
    """irc's CustomResourceDefinitions (manifests/crds), installed and Established."""
    kube.install_crds()


@pytest.fixture(scope="session")
def registry_bed(testbed_dir: Path) -> Iterator[registries.Registries]:
    started = registries.start(testbed_dir / "registries")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def source_images(registry_bed: registries.Registries, testbed_dir: Path) -> dict[str, images.Built]:
    """The fixture images, pushed to the source registry; keyed by `repository:tag`."""
    return images.push(images.FIXTURES, registry_bed["source"], testbed_dir / "fixture-build")


@pytest.fixture(scope="session")
def ecr_server(testbed_dir: Path) -> Iterator[ecr.ECR]:
    started = ecr.start(testbed_dir / "ecr")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def ecr_images(ecr_server: ecr.ECR) -> dict[str, dict[str, str]]:
    """ecr.FIXTURE_IMAGES pushed to the ECR endpoint: repository → tag → digest."""
    return ecr.populate(ecr_server)


@pytest.fixture(scope="session")
def git_servers(testbed_dir: Path) -> Iterator[git.GitServers]:
    started = git.start(testbed_dir / "git")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    """hack/go-oracle: the Go libraries irc reimplements (semver ranges, path.Match, regexp,
    distribution/reference, fluxcd/pkg/version)."""
    started = Oracle()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
async def client(kube: cluster.Cluster) -> AsyncIterator[Client]:
    """An irc.runtime client of the test bed cluster, as cluster-admin."""
    c = Client(await KubeTransport.from_config(str(kube.kubeconfig)))
    yield c
    await c.close()


@pytest.fixture
async def namespace(client: Client) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    async with temporary_namespace(client, "e2e") as name:
        yield name


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session
