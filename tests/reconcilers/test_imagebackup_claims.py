"""Claims on copies through reconcile(): two managers (two reconcilers with their own identities over
one FakeClient) never copy one ImageBackup at once. Another manager's claim is waited out without a
registry request; one not renewed for the lease is taken over (Warning CopyTakenOver); of two claims
on one resourceVersion the API server lets one through (409 for the other, which decides again on
the newer object); the holder renews its claim while a copy makes no progress, stops when it finds
the claim taken over, and gives it up when cancelled, Completed or Failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from irc.api import API_VERSION
from irc.api.conditions import rfc3339
from irc.images.testing import FakeRegistry, Fault
from irc.reconcilers.settings import Settings
from irc.runtime import Request, Result
from irc.runtime.testing import FAKE_EPOCH
from tests.reconcilers.test_imagebackup import (
    KIND,
    NAME,
    HoldingRegistry,
    Make,
    World,
    assert_copied,
    between,
    push,
    registry_writes,
)
from tests.reconcilers.test_imagebackup import make as make  # the fixture

LEASE = Settings().copy_lease
HOUR = 3600.0


def claimed(holder: str, at: float = FAKE_EPOCH) -> dict[str, Any]:
    """The status another manager's Copying write leaves."""
    return {"phase": "Copying", "claim": {"holder": holder, "renewedAt": rfc3339(at)}}


async def write_claim(w: World, holder: str, at: float) -> None:
    """Another manager's claim (or its renewal), written as it would."""
    claim = {"holder": holder, "renewedAt": rfc3339(at)}
    await w.client.patch(API_VERSION, KIND, NAME, {"status": {"claim": claim}}, subresource="status")


def claims(w: World, result: str) -> float:
    return w.metric("irc_image_backup_claims_total", result=result)


@pytest.fixture
async def held(src: FakeRegistry) -> AsyncIterator[tuple[FakeRegistry, HoldingRegistry]]:
    """src, and a backup registry that holds the manifest PUT (every blob is in) until released."""
    dst = HoldingRegistry(("PUT", "/manifests/"))
    await dst.server.start_server()
    try:
        yield src, dst
    finally:
        dst.release.set()
        await dst.server.close()


# ---- another manager's claim


async def test_a_claim_of_another_manager_is_waited_out_without_touching_a_registry(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    push(src)
    w = make(between(src, dst, status=claimed("manager-b")))
    assert await w.reconcile() == Result(requeue_after=LEASE)
    w.clock.advance(LEASE / 2)
    assert await w.reconcile() == Result(requeue_after=LEASE / 2)  # the lease runs from first sight
    assert src.log == [] and dst.log == []
    assert w.client.writes() == [] and w.events() == []


async def test_a_claim_not_renewed_for_a_lease_is_taken_over(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """The holder crashed: seen unchanged for the lease, its claim is taken and the copy made."""
    image = push(src)
    w = make(between(src, dst, status=claimed("manager-b", at=FAKE_EPOCH - 2 * HOUR)))
    assert await w.reconcile() == Result(requeue_after=LEASE)  # the old timestamp is not trusted
    w.clock.advance(LEASE)
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert_copied(w, image)
    assert "claim" not in w.status()  # given up with the Completed write
    copying = w.status_writes()[0]
    assert copying["phase"] == "Copying"
    assert copying["claim"] == {"holder": "manager-a", "renewedAt": "2023-11-14T22:14:20.000000Z"}
    takeover = w.recorder.events[0]
    assert (takeover.type, takeover.reason, takeover.message) == (
        "Warning",
        "CopyTakenOver",
        f"manager-b did not renew its claim for {LEASE:.0f} s: copying in its place",
    )
    assert w.events()[1:] == [("Normal", "Copying"), ("Normal", "Copied")]
    assert (claims(w, "taken_over"), claims(w, "acquired"), claims(w, "lost")) == (1, 0, 0)


async def test_a_renewed_claim_is_waited_out_again(make: Make, src: FakeRegistry, dst: FakeRegistry) -> None:
    push(src)
    w = make(between(src, dst, status=claimed("manager-b")))
    await w.reconcile()
    w.clock.advance(LEASE - 1)
    await write_claim(w, "manager-b", w.clock.wall())  # its holder is alive and copying
    w.clock.advance(1)
    assert await w.reconcile() == Result(requeue_after=LEASE)
    assert src.log == [] and registry_writes(dst) == []


async def test_our_own_claim_left_behind_is_no_reason_to_wait(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """A claim with this manager's identity that no copy of ours holds (its release failed)."""
    image = push(src)
    w = make(between(src, dst, status=claimed("manager-a")))
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert_copied(w, image)
    assert (claims(w, "acquired"), claims(w, "taken_over")) == (1, 0)


# ---- two managers at once


async def test_a_second_manager_waits_while_the_first_copies(
    held: tuple[FakeRegistry, HoldingRegistry], http: aiohttp.ClientSession
) -> None:
    src, dst = held
    image = push(src)
    w = World([between(src, dst)], [src, dst], http)
    b = w.manager("manager-b", CollectorRegistry())
    copy = asyncio.create_task(w.reconcile())
    await dst.held.wait()
    assert w.status()["claim"]["holder"] == "manager-a"
    requests = (len(src.log), len(dst.log))
    assert await b.reconcile(Request("", NAME)) == Result(requeue_after=LEASE)
    assert (len(src.log), len(dst.log)) == requests  # not even a preflight
    dst.release.set()
    assert await copy == Result(requeue_after=HOUR)
    w.clock.advance(LEASE)
    assert await b.reconcile(Request("", NAME)) == Result(requeue_after=HOUR)  # Completed: checked only
    assert_copied(w, image)
    assert w.metric("irc_image_backup_copies_total", result="success") == 1
    assert w.events() == [("Normal", "Copying"), ("Normal", "Copied")]


async def test_a_409_on_claiming_means_another_manager_was_quicker(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """Both decided on the same resourceVersion (this cache had not seen the other's claim yet): the
    API server refuses the second claim, and the newer object says who holds it."""
    push(src)
    w = make(between(src, dst))
    w.client.cache.freeze()
    await write_claim(w, "manager-b", w.clock.wall())
    assert await w.reconcile() == Result(requeue_after=LEASE)
    assert registry_writes(dst) == []  # nothing copied
    assert w.status()["claim"]["holder"] == "manager-b"
    refused = w.client.writes()[-1]
    assert (refused.verb, refused.subresource) == ("patch", "status")
    assert refused.body["metadata"]["resourceVersion"] != w.backup()["metadata"]["resourceVersion"]
    assert refused.body["status"]["claim"]["holder"] == "manager-a"
    assert w.events() == []
    assert (claims(w, "lost"), claims(w, "acquired")) == (1, 0)
    assert w.metric("irc_image_backup_copies_total", result="success") == 0


async def test_a_409_from_another_write_is_decided_again_and_copied_once(
    make: Make, src: FakeRegistry, dst: FakeRegistry
) -> None:
    """workload-rewrite stamped lastReferencedAt after this cache was filled: no claim on the newer
    object, so the copy goes ahead, and the stamp is kept."""
    image = push(src)
    w = make(between(src, dst))
    w.client.cache.freeze()
    stamp = rfc3339(w.clock.wall())
    await w.client.patch(
        API_VERSION, KIND, NAME, {"status": {"lastReferencedAt": stamp}}, subresource="status"
    )
    assert await w.reconcile() == Result(requeue_after=HOUR)
    assert_copied(w, image)
    assert w.status()["lastReferencedAt"] == stamp
    assert (claims(w, "acquired"), claims(w, "lost")) == (1, 0)


# ---- the holder


async def test_the_claim_is_renewed_while_a_copy_makes_no_progress(
    held: tuple[FakeRegistry, HoldingRegistry], http: aiohttp.ClientSession
) -> None:
    src, dst = held
    push(src)
    w = World([between(src, dst)], [src, dst], http)
    copy = asyncio.create_task(w.reconcile())
    await dst.held.wait()
    await w.clock.wait_for_sleepers(1)
    step = w.settings.progress_interval
    renew_every = LEASE / 4
    elapsed = 0.0
    while elapsed < step + renew_every:  # one progress write (every blob is in), then none to show
        w.clock.advance(step)
        elapsed += step
        await w.clock.wait_for_sleepers(1)
    writes = w.status_writes()
    assert len(writes) == 3  # the claim, the progress, a renewal
    renewed = writes[-1]["claim"]
    assert renewed["holder"] == "manager-a"
    assert renewed["renewedAt"] > writes[1]["claim"]["renewedAt"] > writes[0]["claim"]["renewedAt"]
    assert writes[-1]["bytesCopied"] == writes[1]["bytesCopied"]
    dst.release.set()
    await copy
    assert "claim" not in w.status()


async def test_a_holder_whose_claim_was_taken_over_stops_copying(
    held: tuple[FakeRegistry, HoldingRegistry], http: aiohttp.ClientSession
) -> None:
    """Its renewals did not get through for a lease (say, a partition): another manager took over.
    Its next write meets the other's claim, and the copy stops without a word in the status."""
    src, dst = held
    push(src)
    w = World([between(src, dst)], [src, dst], http)
    copy = asyncio.create_task(w.reconcile())
    await dst.held.wait()
    await w.clock.wait_for_sleepers(1)
    await write_claim(w, "manager-b", w.clock.wall())
    w.clock.advance(w.settings.progress_interval)
    assert await copy == Result(requeue_after=LEASE)
    assert w.status()["claim"]["holder"] == "manager-b"
    assert w.status()["phase"] == "Copying"
    assert "v1" not in dst.repos["backup/app"].tags  # stopped before the tag
    assert claims(w, "lost") == 1
    assert w.metric("irc_image_backup_copies_total", result="success") == 0
    assert w.events() == [("Normal", "Copying")]
    assert w.clock.sleepers == 0  # the progress writer stopped too


async def test_a_cancelled_copy_gives_its_claim_up_for_the_next_manager(
    held: tuple[FakeRegistry, HoldingRegistry], http: aiohttp.ClientSession
) -> None:
    """The manager is stopping: the next one need not wait out the lease."""
    src, dst = held
    image = push(src)
    w = World([between(src, dst)], [src, dst], http)
    copy = asyncio.create_task(w.reconcile())
    await dst.held.wait()
    copy.cancel()
    with pytest.raises(asyncio.CancelledError):
        await copy
    assert "claim" not in w.status()
    assert w.status()["phase"] == "Copying"
    dst.release.set()
    b = w.manager("manager-b", CollectorRegistry())
    assert await b.reconcile(Request("", NAME)) == Result(requeue_after=HOUR)
    assert_copied(w, image, attempts=2)


async def test_a_failed_copy_gives_its_claim_up(make: Make, src: FakeRegistry, dst: FakeRegistry) -> None:
    push(src)
    dst.faults.append(Fault("PUT", "/manifests/", 403))
    w = make(between(src, dst))
    error = await w.fail()
    assert error.reason == "TargetUnauthorized"
    assert w.status()["phase"] == "Failed"
    assert "claim" not in w.status()
    assert w.status_writes()[0]["claim"]["holder"] == "manager-a"
