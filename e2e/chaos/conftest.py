"""Fixtures of the fault-injection tests: a ledger namespace and the writer processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from e2e.chaos.ledger import Writers
from hack.testbed import cluster
from irc.runtime.client import Client


@pytest.fixture
async def ledger(client: Client) -> AsyncIterator[str]:
    """A namespace of its own for the ledger entries (not the watched one: they would be work too)."""
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await client.delete("v1", "Namespace", name)


@pytest.fixture
def writers(kube: cluster.Cluster, namespace: str, ledger: str, tmp_path: Path) -> Iterator[Writers]:
    group = Writers(kube, namespace, ledger, tmp_path)
    yield group
    group.stop_all()
