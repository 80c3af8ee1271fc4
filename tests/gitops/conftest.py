"""Local bare repositories for the Git writer's unit tests: an `Origin` made with dulwich on the
filesystem (no server, no network), which can also take a commit from "another writer"."""

from __future__ import annotations

import stat
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from irc.gitops import GitWriter, GitWriterOptions
from irc.gitops.tree import apply_files


class Origin:
    """A bare repository with one commit on `main` (a README), standing in for a Git server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with Repo.init_bare(str(path), mkdir=True) as repo:
            blob = Blob.from_string(b"fleet\n")
            tree = Tree()
            tree.add(b"README.md", stat.S_IFREG | 0o644, blob.id)
            repo.object_store.add_objects([(blob, None), (tree, None)])
            self._commit(repo, tree.id, [], b"initial commit\n", Ref(b"refs/heads/main"))
            repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/main"))

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def head(self, branch: str = "main") -> str | None:
        with Repo(str(self.path)) as repo:
            sha = repo.refs.as_dict().get(Ref(b"refs/heads/" + branch.encode()))
            return sha.decode() if sha else None

    def branches(self) -> list[str]:
        with Repo(str(self.path)) as repo:
            return sorted(r.decode() for r in repo.refs.keys(base=Ref(b"refs/heads/")))

    def files(self, branch: str = "main") -> dict[str, bytes]:
        """Every regular file on `branch`: path → content."""
        head = self.head(branch)
        assert head is not None, f"no branch {branch}"
        out: dict[str, bytes] = {}
        with Repo(str(self.path)) as repo:
            commit = repo[head.encode()]
            assert isinstance(commit, Commit)
            for entry in repo.object_store.iter_tree_contents(commit.tree):
                assert entry.path is not None and entry.sha is not None
                blob = repo[entry.sha]
                assert isinstance(blob, Blob)
                out[entry.path.decode()] = blob.as_raw_string()
        return out

    def history(self, branch: str = "main") -> list[Commit]:
        """The commits on `branch`, newest first, following first parents."""
        commits: list[Commit] = []
        head = self.head(branch)
        with Repo(str(self.path)) as repo:
            sha = head.encode() if head else None
            while sha:
                commit = repo[sha]
                assert isinstance(commit, Commit)
                commits.append(commit)
                assert len(commit.parents) <= 1
                sha = commit.parents[0] if commit.parents else None
        return commits

    def commit(self, files: Mapping[str, bytes], branch: str = "main", message: bytes = b"by hand\n") -> str:
        """Another writer's commit on `branch`: `files` (repository paths) on top of its head."""
        ref = Ref(b"refs/heads/" + branch.encode())
        with Repo(str(self.path)) as repo:
            parent = repo.refs[ref]
            head = repo[parent]
            assert isinstance(head, Commit)
            planned = {tuple(name.split("/")): content for name, content in files.items()}
            tree = apply_files(repo.object_store, head.tree, planned).tree
            return self._commit(repo, tree, [parent], message, ref).decode()

    def symlink(self, name: str, target: str) -> None:
        """Commit a symbolic link `name` → `target` at the root of `main`."""
        with Repo(str(self.path)) as repo:
            ref = Ref(b"refs/heads/main")
            parent = repo.refs[ref]
            head = repo[parent]
            assert isinstance(head, Commit)
            root = repo[head.tree]
            assert isinstance(root, Tree)
            link = Blob.from_string(target.encode())
            repo.object_store.add_object(link)
            tree = Tree()
            for item in root.items():
                tree.add(item.path, item.mode, item.sha)
            tree.add(name.encode(), stat.S_IFLNK, link.id)
            repo.object_store.add_object(tree)
            self._commit(repo, tree.id, [parent], b"a symlink\n", ref)

    @staticmethod
    def _commit(repo: Repo, tree: ObjectID, parents: list[ObjectID], message: bytes, ref: Ref) -> ObjectID:
        commit = Commit()
        commit.tree, commit.parents, commit.message = tree, parents, message
        commit.author = commit.committer = b"someone <someone@example.invalid>"
        commit.commit_time = commit.author_time = int(time.time())
        commit.commit_timezone = commit.author_timezone = 0
        repo.object_store.add_object(commit)
        repo.refs[ref] = commit.id
        return commit.id


class RecordingClock:
    """A Clock whose sleep() returns at once and remembers how long it was asked to wait."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def now(self) -> float:
        return 0.0

    def wall(self) -> float:
        return 1_767_225_600.0  # 2026-01-01T00:00:00Z

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "origin.git")


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def writer(tmp_path: Path, clock: RecordingClock) -> GitWriter:
    return GitWriter(tmp_path / "work", GitWriterOptions(allow_local=True), clock=clock)
