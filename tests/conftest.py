"""Fixtures shared by the unit tests: in-memory registries served on 127.0.0.1 and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from irc.images.testing import FakeRegistry


async def _served() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry()
    await registry.server.start_server()
    yield registry
    await registry.server.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeRegistry]:
    async for registry in _served():
        yield registry


@pytest.fixture
async def src() -> AsyncIterator[FakeRegistry]:
    """A source registry, beside `dst`."""
    async for registry in _served():
        yield registry


@pytest.fixture
async def dst() -> AsyncIterator[FakeRegistry]:
    async for registry in _served():
        yield registry


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
