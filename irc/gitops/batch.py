"""Batching: writes to one repository branch that arrive while another is in flight become one
commit, as long as that is safe.

    reconcile A ─┐                      ┌─ commit 1: A
    reconcile B ─┼─▶ queue per target ──┼─ commit 2: B + C   (arrived while commit 1 was pushed)
    reconcile C ─┘   one batch at a time └─ commit 3: D       (D rewrites a file of B differently)

A batch takes the queue in arrival order and leaves out any request that would write a file another
member writes with different content (the later one goes in a later commit), so no change hides
another. Every request awaits its own result: the batch's WriteResult. Requests differing in
repository, branch, push branch, path, author or credentials are never mixed (`key`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from irc.gitops.auth import GitAuth
from irc.gitops.writer import GitWriter, RepoSpec, Signature, WriteResult
from irc.runtime.errors import ReconcileError


@dataclass
class _Target:
    """One key's queue and lock, kept while any write uses them (`users`): dropping them earlier would
    let a later write make a second queue and lock beside the first, and both commit alone."""

    queue: list[_Request] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class _Request:
    files: Mapping[str, bytes]
    message: str
    result: asyncio.Future[WriteResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BatchWriter:
    """A GitWriter front that merges concurrent writes to the same target into as few commits as is
    safe (module docstring). `batches` and `requests` count what it did, for tests and metrics."""

    def __init__(self, writer: GitWriter, on_write: Callable[[WriteResult], None] | None = None) -> None:
        """`on_write` hears of each write made (one per batch), e.g. to count commits and retries."""
        self._writer = writer
        self._on_write = on_write
        self._targets: dict[Hashable, _Target] = {}
        self.batches = 0
        self.requests = 0

    async def write(
        self,
        repo: RepoSpec,
        files: Mapping[str, bytes],
        message: str,
        author: Signature | None = None,
        *,
        auth: GitAuth | None = None,
        auth_key: Hashable = None,
    ) -> WriteResult:
        """Write `files` (see GitWriter.write), possibly in one commit with others; `auth_key` names
        the credentials (e.g. the Secret and its resourceVersion): only equal keys share a commit."""
        key = (repo, author, auth_key)
        request = _Request(files, message)
        target = self._targets.setdefault(key, _Target())
        target.users += 1
        target.queue.append(request)
        self.requests += 1
        try:
            while not request.result.done():
                async with target.lock:  # one batch at a time; whoever gets the lock writes what is queued
                    if not request.result.done():
                        await self._write_batch(_take(target.queue), repo, author, auth)
        finally:
            if request in target.queue:  # cancelled while waiting: not written
                target.queue.remove(request)
            request.result.cancel()  # no-op when done; else nobody will read what a batch sets
            target.users -= 1
            if not target.users:
                del self._targets[key]
        return request.result.result()

    async def _write_batch(
        self, batch: list[_Request], repo: RepoSpec, author: Signature | None, auth: GitAuth | None
    ) -> None:
        self.batches += 1
        files: dict[str, bytes] = {}
        for request in batch:
            files.update(request.files)
        try:
            result = await self._writer.write(repo, files, _message(batch), author, auth=auth)
        except Exception as error:  # every member's failure; the loop in `write` raises it
            for request in batch:
                if not request.result.done():
                    request.result.set_exception(error)
            return
        except asyncio.CancelledError:  # the lock holder is being stopped: the others may retry
            for request in batch:
                if not request.result.done():
                    interrupted = ReconcileError(
                        "GitWriteInterrupted", "the commit this write was in was cancelled"
                    )
                    request.result.set_exception(interrupted)
            raise
        if self._on_write is not None:
            self._on_write(result)
        for request in batch:
            if not request.result.done():
                request.result.set_result(result)


def _take(queue: list[_Request]) -> list[_Request]:
    """The requests, in arrival order, that can share one commit: none writes a path another writes
    with different content. They leave the queue."""
    batch: list[_Request] = []
    files: dict[str, bytes] = {}
    for request in list(queue):
        if any(path in files and files[path] != content for path, content in request.files.items()):
            continue
        batch.append(request)
        files.update(request.files)
        queue.remove(request)
    return batch


def _message(batch: list[_Request]) -> str:
    if len(batch) == 1:
        return batch[0].message
    titles = sorted({r.message.splitlines()[0] if r.message else "" for r in batch})
    return (
        f"Add Kubernetes resources for {len(batch)} images\n\n" + "\n".join(f"- {t}" for t in titles) + "\n"
    )
