"""Fixtures of the fault-injection tests: a ledger namespace and the writer processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from e2e.chaos.ledger import Writers
from e2e.support import temporary_namespace
from hack.testbed import cluster
from irc.runtime.client import Client


@pytest.fixture
async def ledger(client: Client) -> AsyncIterator[str]:
    """A namespace of its own for the ledger entries (not the watched one: they would be work too)."""
    async with temporary_namespace(client, "ledger") as name:
        yield name


@pytest.fixture
def writers(kube: cluster.Cluster, namespace: str, ledger: str, tmp_path: Path) -> Iterator[Writers]:
    group = Writers(kube, namespace, ledger, tmp_path)
    yield group
    group.stop_all()
