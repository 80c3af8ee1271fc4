"""BatchWriter: writes arriving while another is in flight share one commit, unless they would
write one file with different content."""

from __future__ import annotations

import asyncio

from irc.gitops import GitWriter, RepoSpec
from irc.gitops.batch import BatchWriter
from tests.gitops.conftest import Origin


async def test_writes_queued_behind_one_in_flight_share_the_next_commit(
    writer: GitWriter, origin: Origin
) -> None:
    batcher = BatchWriter(writer)
    repo = RepoSpec(origin.url, "main", "apps")
    results = await asyncio.gather(
        *(batcher.write(repo, {f"app-{i}.yaml": f"kind: A{i}\n".encode()}, f"add app {i}") for i in range(6))
    )
    assert batcher.requests == 6 and batcher.batches < 6
    written = {f"apps/app-{i}.yaml": f"kind: A{i}\n".encode() for i in range(6)}
    assert origin.files() == {"README.md": b"fleet\n", **written}
    assert len(origin.history()) == 1 + batcher.batches  # the first commit of the origin, then one per batch
    assert {r.commit for r in results} <= {c.id.decode() for c in origin.history()}
    assert any("Add Kubernetes resources for" in c.message.decode() for c in origin.history())


async def test_two_writes_of_one_file_with_different_content_go_in_different_commits(
    writer: GitWriter, origin: Origin
) -> None:
    batcher = BatchWriter(writer)
    repo = RepoSpec(origin.url, "main", "")
    _, second, third = await asyncio.gather(
        batcher.write(repo, {"a.yaml": b"one\n"}, "first"),
        batcher.write(repo, {"b.yaml": b"x\n"}, "second"),
        batcher.write(repo, {"b.yaml": b"y\n"}, "third"),
    )
    assert second.commit != third.commit  # b.yaml's two contents never share a commit
    assert origin.files()["b.yaml"] == b"y\n"  # in arrival order
    assert origin.files()["a.yaml"] == b"one\n"


async def test_a_failed_batch_fails_each_of_its_writes(writer: GitWriter, origin: Origin) -> None:
    batcher = BatchWriter(writer)
    missing = RepoSpec(origin.url, "no-such-branch", "")
    outcomes = await asyncio.gather(
        batcher.write(missing, {"a.yaml": b"1\n"}, "a"),
        batcher.write(missing, {"b.yaml": b"2\n"}, "b"),
        return_exceptions=True,
    )
    assert [type(o).__name__ for o in outcomes] == ["BranchNotFound", "BranchNotFound"]


async def test_on_write_hears_of_each_commit_once(writer: GitWriter, origin: Origin) -> None:
    heard: list[str] = []
    batcher = BatchWriter(writer, lambda result: heard.append(result.commit))
    repo = RepoSpec(origin.url, "main", "")
    await asyncio.gather(*(batcher.write(repo, {f"f{i}.yaml": b"x\n"}, f"m{i}") for i in range(5)))
    assert len(heard) == batcher.batches and len(set(heard)) == len(heard)


async def test_workers_writing_one_after_another_keep_batching(writer: GitWriter, origin: Origin) -> None:
    """The controller's shape: 4 workers, each writing again as soon as its last write returned. Every
    batch after the first finds the writes that arrived while it waited, so a batch averages at least
    two of them (before a fix, the key's queue was dropped under later writers and each wrote alone)."""
    batcher = BatchWriter(writer)
    repo = RepoSpec(origin.url, "main", "")

    async def worker(w: int) -> None:
        for i in range(6):
            await batcher.write(repo, {f"w{w}-{i}.yaml": b"x\n"}, f"w{w} {i}")

    await asyncio.gather(*(worker(w) for w in range(4)))
    assert batcher.requests == 24 and len(origin.files()) == 1 + 24
    assert batcher.batches <= 12, f"{batcher.batches} commits for 24 writes"
    assert len(origin.history()) == 1 + batcher.batches
