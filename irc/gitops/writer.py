"""`GitWriter`: files in, one commit pushed (or none when nothing changed), never a force push.

    write(repo, files, message)
      │ check the URL, branch names and every path (terminal errors, before any I/O)
      │ lock repository+branch ─────────── one writer at a time per branch, held across retries
      │   ┌ lock the cached clone ───────── one thread at a time in one cached repository
      │   │ fetch the branch (depth 1)       into <work_dir>/<repo>, a bare repository
      │   │ write the files into its tree    no checkout: blobs and trees in the object store
      │   │ same tree? → unchanged           WriteResult(changed=False, commit=<head>)
      │   │ commit, push head → commit       only if the server still has head (compare-and-swap)
      │   └ pushed? → WriteResult(changed=True)
      │   moved? → back-off (jittered, bounded), fetch again and re-apply the same files
      └ PushRejected after `max_attempts`

Blocking dulwich work runs in the default executor (as asyncio.to_thread does); if the caller is
cancelled the clone stays locked until the thread is done with it. With `push_branch`, the commit
goes to that branch: built on it when it exists, else created from `branch`'s head.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import os
import random
import re
import shutil
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from dulwich.objects import Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from irc.gitops import paths, transport
from irc.gitops.auth import GitAuth
from irc.gitops.errors import BranchNotFound, GitError, PushRejected
from irc.gitops.tree import apply_files, read_file
from irc.runtime.clock import Clock, RealClock
from irc.runtime.logging import get_logger

T = TypeVar("T")
log = get_logger("irc.gitops")


@dataclass(frozen=True)
class Signature:
    """A commit's author or committer."""

    name: str
    email: str

    def __post_init__(self) -> None:
        if not self.name.strip() or any(c in self.name + self.email for c in "<>\n\0"):
            raise ValueError(f"invalid Git identity {self.name!r} <{self.email!r}>")

    def encode(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


@dataclass(frozen=True)
class RepoSpec:
    url: str
    branch: str = "main"
    path: str = ""
    """The directory in the repository every file is written under ("" or "." is the root)."""
    push_branch: str | None = None
    """Commit to this branch instead (created from `branch` when missing), e.g. for review flows."""

    @property
    def target_branch(self) -> str:
        return self.push_branch or self.branch


@dataclass(frozen=True)
class WriteResult:
    commit: str
    """The pushed commit; when nothing changed, the head of the branch written (or of `branch`, if
    a new push branch would have been identical to it, and so was not created); "" for a dry run
    with changes."""
    changed: bool
    branch: str
    """The branch written: the push branch if there is one."""
    attempts: int
    """Attempts made: 1 plus the number of times the branch moved and the files were re-applied."""
    files: tuple[str, ...]
    """Every file of the request, as a path in the repository, sorted."""
    changed_files: tuple[str, ...]
    """Those whose content differed, sorted."""
    created_branch: bool = False
    dry_run: bool = False
    previous: Mapping[str, bytes | None] = field(default_factory=dict)
    """A dry run's changed files as the branch has them now (None: a new file), for a diff."""

    @property
    def retries(self) -> int:
        """For irc_git_push_retries_total."""
        return self.attempts - 1

    @property
    def commits(self) -> int:
        """For irc_git_commits_total: 1 when a commit was pushed, else 0."""
        return int(self.changed and not self.dry_run)


@dataclass(frozen=True)
class GitWriterOptions:
    max_attempts: int = 5
    """Fetch-apply-push attempts per write before PushRejected. Defaults to 5."""
    backoff_initial: float = 0.2
    """Wait after the first lost race, doubling after each, jittered (0.5 to 1 times). Defaults to 0.2 s."""
    backoff_max: float = 5.0
    """Longest wait between attempts. Defaults to 5 s."""
    shallow: bool = True
    """Fetch one commit deep; a server without shallow support gets full fetches. Defaults to True."""
    timeout: float = 60.0
    """Connect/read timeout of the SSH and HTTP transports. Defaults to 60 s."""
    committer: Signature = field(default_factory=lambda: Signature("irc", "irc@localhost"))
    """Committer of every commit, and author when `write` names none. Defaults to irc <irc@localhost>."""
    allow_local: bool = False
    """Accept file:// URLs and absolute paths (tests, local tools). Defaults to False."""
    secrets_dir: Path | None = None
    """Where credential files live during a connection. Defaults to the system's temporary directory."""
    ssh_program: str = "ssh"
    """OpenSSH's client. Defaults to `ssh` on PATH."""
    max_packs: int = 128
    """A cached clone with more pack files (about one per fetch that brought something) is discarded
    and fetched afresh, which also drops the objects of lost races. Defaults to 128."""
    max_loose_objects: int = 4096
    """The same for loose objects (a write adds a few: blobs, trees, the commit). Defaults to 4096."""


@dataclass(frozen=True)
class _Plan:
    url: transport.GitURL
    key: str
    spec: RepoSpec
    files: dict[paths.Components, bytes]


@dataclass(frozen=True)
class _Outcome:
    kind: Literal["pushed", "unchanged", "moved", "dry-run"]
    commit: str = ""
    changed_files: tuple[str, ...] = ()
    created: bool = False
    previous: Mapping[str, bytes | None] = field(default_factory=dict)


class GitWriter:
    """Writes files to Git repositories through clones cached under `work_dir`. One per manager:
    its locks are what keep two writes to one branch apart, so two GitWriters (in one process or
    two) must not share a work directory; across managers the server's compare-and-swap does it."""

    def __init__(
        self, work_dir: Path | str, options: GitWriterOptions | None = None, *, clock: Clock | None = None
    ) -> None:
        self._work_dir = Path(work_dir)
        self._options = options or GitWriterOptions()
        self._clock = clock or RealClock()
        self._locks = _KeyedLocks()
        self._full_fetch: set[str] = set()  # repositories whose server refused a shallow fetch

    async def write(
        self,
        repo: RepoSpec,
        files: Mapping[str, bytes],
        message: str,
        author: Signature | None = None,
        *,
        auth: GitAuth | None = None,
        dry_run: bool = False,
    ) -> WriteResult:
        """Write `files` (paths relative to `repo.path` → content; the files of several changes may
        come at once) in one commit with `message`, and push it. Raises a GitError (a
        ReconcileError) whose `reason` says what went wrong. `dry_run` stops before the commit."""
        if not message.strip():
            raise ValueError("a commit message is required")
        plan = self._plan(repo, files)
        auth = auth or GitAuth()
        target = repo.target_branch
        logger = log.bind(repository=plan.url.display, branch=target)
        if plan.url.kind == "ssh" and auth.known_hosts is None and auth.insecure_skip_host_key_check:
            logger.warning("ssh host key verification is disabled for this write (explicit opt-out)")
        if plan.url.display.startswith("http://") and auth.password is not None:
            logger.warning("git credentials are sent over plain http")
        attempt = 0
        async with self._locks.hold(("branch", plan.key, target)):
            while True:
                attempt += 1
                async with self._locks.hold(("clone", plan.key)):
                    outcome = await _blocking(
                        functools.partial(self._attempt, plan, auth, message, author, dry_run)
                    )
                if outcome.kind != "moved":
                    break
                if attempt >= self._options.max_attempts:
                    raise PushRejected(
                        f"{plan.url}: branch {target!r} moved before each of {attempt} push attempts; "
                        "gave up (irc never force-pushes)"
                    )
                delay = self._backoff(attempt)
                logger.info("git branch moved during the push; re-applying", attempt=attempt, wait=delay)
                await self._clock.sleep(delay)
        result = WriteResult(
            commit=outcome.commit,
            changed=outcome.kind in ("pushed", "dry-run"),
            branch=target,
            attempts=attempt,
            files=tuple(sorted(paths.display(p) for p in plan.files)),
            changed_files=outcome.changed_files,
            created_branch=outcome.created,
            dry_run=dry_run,
            previous=outcome.previous,
        )
        logger.info(
            "git commit pushed" if outcome.kind == "pushed" else f"git write {outcome.kind}",
            commit=result.commit,
            attempts=attempt,
            files=len(result.files),
            changed_files=len(result.changed_files),
            auth=auth.describe(),
        )
        return result

    def _plan(self, repo: RepoSpec, files: Mapping[str, bytes]) -> _Plan:
        url = transport.parse_url(repo.url, allow_local=self._options.allow_local)
        paths.check_branch(repo.branch)
        if repo.push_branch is not None:
            paths.check_branch(repo.push_branch, what="push branch")
        planned = paths.plan_files(repo.path, files)
        return _Plan(url=url, key=repo.url.strip(), spec=repo, files=planned)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._options.backoff_max, self._options.backoff_initial * 2 ** (attempt - 1))
        return float(ceiling * random.uniform(0.5, 1.0))

    # Everything below runs in a worker thread.

    def _attempt(
        self, plan: _Plan, auth: GitAuth, message: str, author: Signature | None, dry_run: bool
    ) -> _Outcome:
        options = self._options
        with transport.connect(
            plan.url,
            auth,
            timeout=options.timeout,
            secrets_dir=options.secrets_dir,
            ssh_program=options.ssh_program,
        ) as remote:
            cache = self._cache_path(plan)
            try:
                with _open_cache(cache, options.max_packs, options.max_loose_objects) as local:
                    return self._apply(remote, local, plan, message, author, dry_run)
            except GitError:
                raise
            except Exception as e:  # the cached clone may be damaged: start afresh next time
                shutil.rmtree(cache, ignore_errors=True)
                detail = auth.redactor()(f"{type(e).__name__}: {e}")
                raise GitError(f"{plan.url}: the cached clone failed ({detail}); it was discarded") from e

    def _apply(
        self,
        remote: transport.Remote,
        local: Repo,
        plan: _Plan,
        message: str,
        author: Signature | None,
        dry_run: bool,
    ) -> _Outcome:
        spec = plan.spec
        base_ref, target_ref = _ref(spec.branch), _ref(spec.target_branch)
        heads = self._fetch(remote, local, plan, list(dict.fromkeys([base_ref, target_ref])))
        old = heads.get(target_ref)
        parent = old or heads.get(base_ref)
        if parent is None:
            raise BranchNotFound(f"{plan.url} has no branch {spec.branch!r}")
        if parent not in local.object_store:  # the ref moved while it was fetched (local repositories)
            return _Outcome("moved")
        head = local[parent]
        assert isinstance(head, Commit)
        applied = apply_files(local.object_store, head.tree, plan.files)
        if applied.tree == head.tree:
            return _Outcome("unchanged", commit=parent.decode())
        if dry_run:
            previous = {name: read_file(local.object_store, head.tree, name) for name in applied.changed}
            return _Outcome("dry-run", changed_files=applied.changed, created=old is None, previous=previous)
        commit = Commit()
        commit.tree, commit.parents = applied.tree, [parent]
        committer = self._options.committer
        commit.author, commit.committer = (author or committer).encode(), committer.encode()
        commit.commit_time = commit.author_time = int(self._clock.wall())
        commit.commit_timezone = commit.author_timezone = 0
        commit.message = message.rstrip("\n").encode() + b"\n"
        local.object_store.add_object(commit)
        if remote.push(local, target_ref, old, commit.id) == "moved":
            return _Outcome("moved")
        local.refs[_tracking(target_ref)] = commit.id
        return _Outcome(
            "pushed", commit=commit.id.decode(), changed_files=applied.changed, created=old is None
        )

    def _fetch(
        self, remote: transport.Remote, local: Repo, plan: _Plan, refs: list[Ref]
    ) -> dict[Ref, ObjectID]:
        depth = 1 if self._options.shallow and plan.key not in self._full_fetch else None
        try:
            heads = remote.fetch(local, refs, depth)
        except GitError as e:
            if depth is None or "shallow" not in e.message:
                raise
            self._full_fetch.add(plan.key)
            heads = remote.fetch(local, refs, None)
        for ref, sha in heads.items():
            local.refs[_tracking(ref)] = sha
        return heads

    def _cache_path(self, plan: _Plan) -> Path:
        digest = hashlib.sha256(plan.key.encode()).hexdigest()[:16]
        tail = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{plan.url.host or ''}-{plan.key.rsplit('/', 1)[-1]}")
        return self._work_dir / f"{tail.strip('-.')[:48]}-{digest}"


def _ref(branch: str) -> Ref:
    return Ref(b"refs/heads/" + branch.encode())


def _tracking(ref: Ref) -> Ref:
    """Where the cached clone keeps the server's value of `ref`."""
    return Ref(b"refs/remotes/origin/" + ref.removeprefix(b"refs/heads/"))


@contextlib.contextmanager
def _open_cache(path: Path, max_packs: int, max_loose: int) -> Iterator[Repo]:
    """The bare repository at `path`, created if missing; one that grew too big starts afresh."""
    objects = path / "objects"
    if path.exists():
        if not objects.is_dir():
            shutil.rmtree(path)
        else:
            packs = sum(1 for _ in (objects / "pack").glob("*.pack"))
            loose = sum(len(os.listdir(d)) for d in objects.iterdir() if len(d.name) == 2 and d.is_dir())
            if packs > max_packs or loose > max_loose:
                shutil.rmtree(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        Repo.init_bare(str(path), mkdir=True).close()
    with Repo(str(path)) as repo:
        yield repo


async def _blocking(fn: Callable[[], T]) -> T:
    """`fn()` in the default executor. Cancelling the caller does not stop the thread, so the
    caller waits for it before the cancellation goes on (and the clone lock is released)."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, contextvars.copy_context().run, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await asyncio.wait([future])
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: nobody else will, and asyncio would log it at collection
        raise


class _KeyedLocks:
    """An asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
