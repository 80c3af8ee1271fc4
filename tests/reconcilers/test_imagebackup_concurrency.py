"""--registry-concurrency through reconcile(): copies from or to one registry host are limited across
the manager's image-backup workers. A copy beyond the limit is requeued without a registry request
(its worker goes on to other registries' copies) and made once a slot is free; the gauge
irc_image_backup_copies_in_progress shows each host's count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from irc.images.auth import normalize_host
from irc.images.testing import FakeRegistry
from irc.reconcilers.imagebackup import QUEUED_RETRY
from irc.reconcilers.settings import Settings
from irc.runtime import Result
from tests.reconcilers.test_imagebackup import HoldingRegistry, World, backup, push

HOUR = 3600.0


@pytest.fixture
async def held() -> AsyncIterator[HoldingRegistry]:
    """A target registry holding every blob upload's final PUT until released."""
    registry = HoldingRegistry(("PUT", "/blobs/uploads/"))
    await registry.server.start_server()
    yield registry
    registry.release.set()
    await registry.server.close()


async def test_copies_beyond_the_limit_wait_their_turn_without_touching_a_registry(
    src: FakeRegistry, held: HoldingRegistry, http: aiohttp.ClientSession
) -> None:
    images = {name: push(src, f"team/{name}", layer=f"layer of {name}".encode()) for name in "abc"}
    objects = [backup(f"{src.host}/team/{n}:v1", f"{held.host}/backup/{n}:v1", name=n) for n in images]
    w = World(objects, [src, held], http, settings=Settings(registry_concurrency=2))

    def in_progress(host: str) -> float:
        return w.metric("irc_image_backup_copies_in_progress", registry=normalize_host(host))

    copying = [asyncio.create_task(w.reconcile(n)) for n in "ab"]
    await held.wait_in_flight(2)  # both copies are uploading
    assert in_progress(src.host) == in_progress(held.host) == 2
    requests = len(src.log) + len(held.log)
    assert await w.reconcile("c") == Result(requeue_after=QUEUED_RETRY)
    assert len(src.log) + len(held.log) == requests  # not even a preflight
    assert "phase" not in w.status("c")

    held.release.set()
    assert await asyncio.gather(*copying) == [Result(requeue_after=HOUR)] * 2
    assert in_progress(src.host) == in_progress(held.host) == 0
    assert await w.reconcile("c") == Result(requeue_after=HOUR)
    for name, image in images.items():
        status = w.status(name)
        assert (status["phase"], status["sourceDigest"]) == ("Completed", image.digest)


async def test_the_limit_is_per_host(
    src: FakeRegistry, dst: FakeRegistry, held: HoldingRegistry, http: aiohttp.ClientSession
) -> None:
    """With src and the held target at their limit of 1, a copy within another registry goes ahead,
    and a copy from src waits."""
    image, other = push(src), push(dst)
    objects = [
        backup(f"{src.host}/team/app:v1", f"{held.host}/backup/app:v1", name="held"),
        backup(f"{dst.host}/team/app:v1", f"{dst.host}/backup/app:v1", name="elsewhere"),
        backup(f"{src.host}/team/app:v1", f"{dst.host}/backup/from-src:v1", name="from-src"),
    ]
    w = World(objects, [src, dst, held], http, settings=Settings(registry_concurrency=1))
    copying = asyncio.create_task(w.reconcile("held"))
    await held.held.wait()
    assert await w.reconcile("from-src") == Result(requeue_after=QUEUED_RETRY)
    assert await w.reconcile("elsewhere") == Result(requeue_after=HOUR)
    held.release.set()
    await copying
    assert await w.reconcile("from-src") == Result(requeue_after=HOUR)
    digests = {n: w.status(n)["targetDigest"] for n in ("held", "elsewhere", "from-src")}
    assert digests == {"held": image.digest, "elsewhere": other.digest, "from-src": image.digest}
