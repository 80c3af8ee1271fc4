"""GitWriter when other writers get there first: the branch moves between fetch and push (or
between the advertisement and the update), the writer fetches again, re-applies the same files and
retries with bounded back-off; it never overwrites another commit. Also: one writer at a time per
branch, cancellation, and servers that refuse shallow fetches."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dulwich.client import LocalGitClient
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from irc.gitops import GitError, GitWriter, GitWriterOptions, PushRejected, RepoSpec
from irc.gitops.transport import Remote
from tests.gitops.conftest import Origin, RecordingClock


@pytest.fixture
def interleave(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], object]]]:
    """Callables run, one per push, just before the writer's push: "another writer" pushing in
    between this writer's fetch and its push."""
    queue: list[Callable[[], object]] = []
    push = Remote.push

    def racing_push(self: Remote, repo: Repo, ref: Ref, old: ObjectID | None, new: ObjectID) -> str:
        if queue:
            queue.pop(0)()
        return push(self, repo, ref, old, new)

    monkeypatch.setattr(Remote, "push", racing_push)
    yield queue


async def test_a_branch_that_moved_is_fetched_and_the_files_re_applied(
    writer: GitWriter, origin: Origin, clock: RecordingClock, interleave: list[Callable[[], object]]
) -> None:
    interleave.append(lambda: origin.commit({"apps/other.yaml": b"theirs\n"}, message=b"other writer\n"))
    result = await writer.write(RepoSpec(origin.url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine")
    assert result.changed and (result.attempts, result.retries, result.commits) == (2, 1, 1)
    assert origin.files()["apps/other.yaml"] == b"theirs\n"
    assert origin.files()["apps/mine.yaml"] == b"mine\n"
    messages = [c.message for c in origin.history()]
    assert messages == [b"mine\n", b"other writer\n", b"initial commit\n"]  # linear: theirs kept
    assert len(clock.slept) == 1 and 0.1 <= clock.slept[0] <= 0.2


async def test_a_race_lost_after_the_advertisement_is_retried(
    writer: GitWriter, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer lands after the server advertised its refs: the server's own old-value
    check refuses our update ("unable to set …"), and the writer retries."""
    send_pack = LocalGitClient.send_pack
    raced: list[str] = []

    def late_race(self: LocalGitClient, path: Any, update_refs: Any, *args: Any, **kwargs: Any) -> Any:
        def update(refs: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            wanted = update_refs(refs)
            if not raced:
                raced.append(origin.commit({"late.txt": b"late\n"}))
            return dict(wanted)

        return send_pack(self, path, update, *args, **kwargs)

    monkeypatch.setattr(LocalGitClient, "send_pack", late_race)
    result = await writer.write(RepoSpec(origin.url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine")
    assert result.attempts == 2 and raced
    assert origin.history()[1].id.decode() == raced[0]
    assert set(origin.files()) == {"README.md", "late.txt", "apps/mine.yaml"}


async def test_the_retries_are_bounded(
    tmp_path: Path, origin: Origin, interleave: list[Callable[[], object]]
) -> None:
    clock = RecordingClock()
    options = GitWriterOptions(allow_local=True, max_attempts=4, backoff_initial=1.0, backoff_max=3.0)
    writer = GitWriter(tmp_path / "w", options, clock=clock)
    interleave.extend(lambda i=i: origin.commit({f"theirs-{i}": b"x"}) for i in range(10))  # type: ignore[misc]
    with pytest.raises(PushRejected, match="moved before each of 4 push attempts") as caught:
        await writer.write(RepoSpec(origin.url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine")
    assert not caught.value.terminal
    assert "apps/mine.yaml" not in origin.files()
    assert len(origin.history()) == 5  # the initial commit and the other writer's four
    ceilings = [1.0, 2.0, 3.0]  # doubling, capped, jittered down to half
    assert len(clock.slept) == 3
    assert all(c / 2 <= s <= c for s, c in zip(clock.slept, ceilings, strict=True))


async def test_the_same_content_pushed_by_another_writer_ends_the_write(
    writer: GitWriter, origin: Origin, interleave: list[Callable[[], object]]
) -> None:
    interleave.append(lambda: origin.commit({"apps/mine.yaml": b"mine\n"}))
    result = await writer.write(RepoSpec(origin.url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine")
    assert not result.changed and result.attempts == 2 and result.commit == origin.head()
    assert len(origin.history()) == 2  # theirs only


async def test_one_writer_at_a_time_per_branch(writer: GitWriter, origin: Origin) -> None:
    """Concurrent writes through one GitWriter never race each other: one attempt each."""
    spec = RepoSpec(origin.url, "main", "apps")
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(writer.write(spec, {f"svc-{i}.yaml": f"{i}\n".encode()}, f"svc {i}"))
            for i in range(12)
        ]
    results = [t.result() for t in tasks]
    assert all(r.changed and r.attempts == 1 for r in results)
    assert len(origin.history()) == 13
    assert {f"apps/svc-{i}.yaml" for i in range(12)} <= set(origin.files())
    assert len(writer._locks) == 0  # no lock left behind


async def test_two_writers_lose_nothing(tmp_path: Path, origin: Origin) -> None:
    """Two managers (two GitWriters, two work directories) writing to one branch at once."""
    options = GitWriterOptions(allow_local=True, max_attempts=50, backoff_initial=0.001, backoff_max=0.01)
    writers = [GitWriter(tmp_path / f"w{n}", options) for n in range(2)]
    spec = RepoSpec(origin.url, "main", "apps")
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(writers[i % 2].write(spec, {f"svc-{i}.yaml": f"{i}\n".encode()}, f"svc {i}"))
            for i in range(20)
        ]
    results = [t.result() for t in tasks]
    assert all(r.changed for r in results)
    assert {f"apps/svc-{i}.yaml" for i in range(20)} <= set(origin.files())
    history = origin.history()  # asserts one parent each: linear
    assert len(history) == 21
    assert {r.commit for r in results} == {c.id.decode() for c in history[:-1]}


async def test_writes_to_different_branches_do_not_wait_for_each_others_retries(
    writer: GitWriter, origin: Origin
) -> None:
    a = writer.write(RepoSpec(origin.url, "main", "a", push_branch="a"), {"x": b"a"}, "a")
    b = writer.write(RepoSpec(origin.url, "main", "b", push_branch="b"), {"x": b"b"}, "b")
    ra, rb = await asyncio.gather(a, b)
    assert ra.created_branch and rb.created_branch
    assert origin.files("a")["a/x"] == b"a" and origin.files("b")["b/x"] == b"b"


async def test_cancelling_waits_for_the_thread_before_releasing_the_clone(
    writer: GitWriter, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    attempt = GitWriter._attempt

    def slow_attempt(self: GitWriter, *args: Any) -> Any:
        started.set()
        release.wait(10)
        return attempt(self, *args)

    monkeypatch.setattr(GitWriter, "_attempt", slow_attempt)
    task = asyncio.ensure_future(writer.write(RepoSpec(origin.url, "main", "a"), {"x": b"x"}, "m"))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the thread
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(writer._locks) == 0


async def test_a_server_without_shallow_support_gets_full_fetches(
    writer: GitWriter, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    depths: list[int | None] = []
    fetch = Remote.fetch

    def picky_fetch(self: Remote, repo: Repo, names: Any, depth: int | None) -> Any:
        depths.append(depth)
        if depth is not None:
            raise GitError("server does not support shallow capability required for depth")
        return fetch(self, repo, names, depth)

    monkeypatch.setattr(Remote, "fetch", picky_fetch)
    spec = RepoSpec(origin.url, "main", "a")
    await writer.write(spec, {"x": b"1"}, "one")
    await writer.write(spec, {"x": b"2"}, "two")
    assert depths == [1, None, None]  # remembered: no second shallow try
    assert origin.files()["a/x"] == b"2"


async def test_fetches_are_shallow(tmp_path: Path, writer: GitWriter, origin: Origin) -> None:
    for i in range(3):
        origin.commit({f"f{i}": b"x"})
    await writer.write(RepoSpec(origin.url, "main", "a"), {"x": b"1"}, "one")
    (cache,) = (tmp_path / "work").iterdir()
    with Repo(str(cache)) as repo:
        assert len(repo.get_shallow()) == 1
