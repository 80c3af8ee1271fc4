"""A registry that goes silent in the middle of a blob (issue 15's registries, "slowed mid-blob"): the
source or the backup registry of the test bed sits behind the TCP proxy of e2e/chaos/proxy.py, which
holds every chunk a while (a slow link) and, once the copy has moved its first blob bytes, black-holes
every open connection (no FIN, no RST: a dead NAT entry). No read timeout would fire for minutes; the
copy's pace must give the transfer up, blame the registry that went silent, and push no manifest.
Then the same copy again, through new connections of the same client, must complete with the
source's digest (skopeo) and nothing dangling in the backup registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid

import aiohttp
import pytest

from e2e.chaos.proxy import Proxy
from e2e.test_images_copy import digest_of, skopeo_raw
from e2e.test_images_registry import client_for
from hack.testbed import images, registries
from irc.images.copy import SOURCE, TARGET, BlobStalled, Pace, Progress, copy_image, failed_side
from irc.images.errors import RetryPolicy
from irc.images.registry import RegistryClient

pytestmark = pytest.mark.e2e

IMAGE = "testbed/multilayer:1.0.0"  # layers of 1 KiB, 64 KiB, 300 KB and 2 KiB
PACE = Pace(bytes=16 << 10, seconds=2.0)
REQUEST_TIMEOUT = 2.0  # the requests that are not blob streams: a frozen pooled connection's next use
CYCLES = int(os.environ.get("IRC_CHAOS_CYCLES", "1"))


def through(
    http: aiohttp.ClientSession, registry: registries.Registry, proxy: Proxy | None
) -> RegistryClient:
    reached = registry if proxy is None else dataclasses.replace(registry, host=f"127.0.0.1:{proxy.port}")
    return client_for(
        http,
        reached,
        request_timeout=REQUEST_TIMEOUT,
        retry=RetryPolicy(initial=0.1, maximum=0.5),
    )


@pytest.mark.parametrize("side", [SOURCE, TARGET])
async def test_a_registry_silent_mid_blob_is_given_up_at_the_pace_and_the_next_copy_completes(
    registry_bed: registries.Registries, source_images: dict[str, images.Built], side: str
) -> None:
    built = source_images[IMAGE]
    source, backup = registry_bed["source"], registry_bed["backup"]
    silent = source if side == SOURCE else backup
    port = int(silent.host.rsplit(":", 1)[1])
    stalls: list[float] = []
    recoveries: list[float] = []
    async with Proxy(port) as proxy, aiohttp.ClientSession() as http:
        proxy.delay = 0.02  # each chunk of 64 KiB: the 300 KB layer takes a few chunks
        src = through(http, source, proxy if side == SOURCE else None)
        dst = through(http, backup, proxy if side == TARGET else None)
        direct = through(http, backup, None)
        frozen: list[int] = []  # connections frozen by this cycle's freeze

        def freeze_at_first_bytes(progress: Progress) -> None:
            if progress.bytes_done and not frozen:
                frozen.append(proxy.freeze())

        for cycle in range(CYCLES):
            repo = f"irc-stall/{side.lower()}-{uuid.uuid4().hex[:6]}"
            frozen.clear()
            started = asyncio.get_running_loop().time()
            with pytest.raises(BlobStalled) as caught:
                await copy_image(
                    src,
                    "testbed/multilayer",
                    "1.0.0",
                    dst,
                    repo,
                    "1.0.0",
                    progress=freeze_at_first_bytes,
                    pace=PACE,
                    blob_attempts=1,
                )
            stalls.append(asyncio.get_running_loop().time() - started)
            assert frozen and frozen[0] > 0, "the copy moved no bytes through the proxy"
            assert failed_side(caught.value) == side
            assert f"in {PACE.seconds:g} s" in str(caught.value)
            assert await direct.head_manifest(repo, "1.0.0") is None

            started = asyncio.get_running_loop().time()
            result = await copy_image(src, "testbed/multilayer", "1.0.0", dst, repo, "1.0.0", pace=PACE)
            recoveries.append(asyncio.get_running_loop().time() - started)
            assert result.source_digest == built.digest
            assert digest_of(skopeo_raw(backup, f"{repo}:1.0.0")) == built.digest, f"cycle {cycle}"
    print(f"\n{side} silent mid-blob: given up after {', '.join(f'{s:.2f}' for s in stalls)} s;")
    print(f"the next copy took {', '.join(f'{s:.2f}' for s in recoveries)} s")
