"""Fixtures shared by the irc.images unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from irc.images.testing import FakeRegistry


@pytest.fixture
async def fake() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry()
    await registry.server.start_server()
    yield registry
    await registry.server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
