"""KubeTransport against an HTTP server on 127.0.0.1: how it reads a watch's body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s_client

from irc.runtime.transport import KubeTransport, Request

LINES = 100


async def flushed_one_by_one(request: web.Request) -> web.StreamResponse:
    """A watch as the apiserver sends it: every line flushed on its own, the server yielding between
    them. A reader that reads whenever bytes arrive gets about one line per read."""
    response = web.StreamResponse()
    await response.prepare(request)
    for i in range(LINES):
        await response.write(b'{"type":"ADDED","object":{"n":%d}}\n' % i)
        await asyncio.sleep(0)
    await response.write_eof()
    return response


@pytest.fixture
async def transport() -> AsyncIterator[KubeTransport]:
    app = web.Application()
    app.router.add_get("/watch", flushed_one_by_one)
    async with TestServer(app, host="127.0.0.1") as server:
        configuration = k8s_client.Configuration(host=f"http://127.0.0.1:{server.port}")
        kube = KubeTransport(k8s_client.ApiClient(configuration=configuration))
        yield kube
        await kube.close()


async def test_a_watch_read_gathers_a_burst_of_flushed_events_into_few_pieces(
    transport: KubeTransport,
) -> None:
    """A streaming list is a burst of small flushed events: read as they come, each would cost a
    wake-up of the event loop, aiohttp and every generator above. After a small piece the reader lets
    the next ones gather first, so the burst arrives in a few pieces, intact and in order."""
    async with transport.stream(Request("GET", "/watch"), read_timeout=10) as stream:
        assert stream.status == 200
        pieces = [piece async for piece in stream.chunks()]
    body = b"".join(pieces)
    assert [json.loads(line)["object"]["n"] for line in body.splitlines()] == list(range(LINES))
    # Read as they come, the lines came in 50 pieces here; gathered, in 3 or 4.
    assert len(pieces) <= LINES // 4, f"{len(pieces)} pieces for {LINES} flushed lines"
