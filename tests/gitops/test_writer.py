"""GitWriter against bare repositories on the filesystem: a commit only when content changed, all
files under `path`, batches in one commit, push branches, and nothing refused ever reaches the
repository. Races with other writers are in test_writer_races.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from irc.gitops import (
    BranchNotFound,
    GitAuth,
    GitWriter,
    GitWriterOptions,
    InvalidGitURL,
    PathConflict,
    PathEscapesRepository,
    RepoSpec,
    Signature,
)
from tests.gitops.conftest import Origin, RecordingClock

README = {"README.md": b"fleet\n"}


async def test_a_first_write_commits_and_pushes(writer: GitWriter, origin: Origin) -> None:
    before = origin.head()
    result = await writer.write(
        RepoSpec(origin.url, "main", "./applications"),
        {"webapp/deployment.yaml": b"kind: Deployment\n", "webapp/service.yaml": b"kind: Service\n"},
        "Add webapp v1.2.3",
        Signature("Image Bot", "bot@example.invalid"),
    )
    assert result.changed and result.commit == origin.head() != before
    assert (result.attempts, result.retries, result.commits, result.branch) == (1, 0, 1, "main")
    assert (
        result.files
        == result.changed_files
        == (
            "applications/webapp/deployment.yaml",
            "applications/webapp/service.yaml",
        )
    )
    assert origin.files() == {
        **README,
        "applications/webapp/deployment.yaml": b"kind: Deployment\n",
        "applications/webapp/service.yaml": b"kind: Service\n",
    }
    head, initial = origin.history()
    assert head.parents == [initial.id] and initial.id.decode() == before
    assert head.message == b"Add webapp v1.2.3\n"
    assert head.author == b"Image Bot <bot@example.invalid>"
    assert head.committer == b"irc <irc@localhost>"
    assert head.commit_time == 1_767_225_600  # the injected clock's wall time


async def test_identical_content_makes_no_commit(writer: GitWriter, origin: Origin) -> None:
    spec = RepoSpec(origin.url, "main", "apps")
    first = await writer.write(spec, {"a.yaml": b"a\n", "b.yaml": b"b\n"}, "add")
    again = await writer.write(spec, {"a.yaml": b"a\n"}, "add again")
    assert not again.changed and again.commits == 0
    assert again.commit == first.commit == origin.head()
    assert again.changed_files == () and again.files == ("apps/a.yaml",)
    assert len(origin.history()) == 2


async def test_content_already_in_the_repository_makes_no_commit(tmp_path: Path, origin: Origin) -> None:
    """Idempotent across restarts: a fresh writer (empty work directory) finds the content there."""
    origin.commit({"apps/a.yaml": b"a\n"})
    fresh = GitWriter(tmp_path / "fresh", GitWriterOptions(allow_local=True), clock=RecordingClock())
    result = await fresh.write(RepoSpec(origin.url, "main", "apps"), {"a.yaml": b"a\n"}, "add")
    assert not result.changed and result.commit == origin.head()


async def test_the_files_of_several_changes_make_one_commit(writer: GitWriter, origin: Origin) -> None:
    batch = {f"svc-{i}/deployment.yaml": f"name: svc-{i}\n".encode() for i in range(10)}
    result = await writer.write(RepoSpec(origin.url, "main", "apps"), batch, "Add 10 services")
    assert result.commits == 1 and len(result.changed_files) == 10
    assert len(origin.history()) == 2
    assert {k: v for k, v in origin.files().items() if k.startswith("apps/")} == {
        f"apps/{name}": content for name, content in batch.items()
    }


async def test_a_push_branch_is_created_from_the_branch(writer: GitWriter, origin: Origin) -> None:
    origin.commit({"base.txt": b"on main\n"})
    main = origin.head()
    spec = RepoSpec(origin.url, "main", "apps", push_branch="irc/webapp-v1.2.3")
    created = await writer.write(spec, {"web.yaml": b"v1\n"}, "webapp v1.2.3")
    assert created.changed and created.created_branch and created.branch == "irc/webapp-v1.2.3"
    assert origin.head() == main  # main untouched
    assert origin.files("irc/webapp-v1.2.3") == {**README, "base.txt": b"on main\n", "apps/web.yaml": b"v1\n"}
    assert origin.history("irc/webapp-v1.2.3")[1].id.decode() == main
    # The branch exists now: the next write builds on it, even after main moved on.
    origin.commit({"later.txt": b"later\n"})
    updated = await writer.write(spec, {"web.yaml": b"v2\n"}, "webapp v1.2.3, again")
    assert updated.changed and not updated.created_branch
    assert origin.history("irc/webapp-v1.2.3")[1].id.decode() == created.commit
    unchanged = await writer.write(spec, {"web.yaml": b"v2\n"}, "no-op")
    assert not unchanged.changed and unchanged.commit == updated.commit


async def test_a_push_branch_identical_to_the_branch_is_not_created(
    writer: GitWriter, origin: Origin
) -> None:
    result = await writer.write(RepoSpec(origin.url, "main", "", push_branch="review"), README, "nothing new")
    assert not result.changed and result.commit == origin.head() and not result.created_branch
    assert origin.head("review") is None


async def test_a_dry_run_says_what_would_change(writer: GitWriter, origin: Origin) -> None:
    before = origin.head()
    result = await writer.write(RepoSpec(origin.url, "main", "apps"), {"a.yaml": b"a\n"}, "add", dry_run=True)
    assert result.changed and result.dry_run and result.commits == 0 and result.commit == ""
    assert result.changed_files == ("apps/a.yaml",)
    assert result.previous == {"apps/a.yaml": None}  # new
    assert origin.head() == before
    await writer.write(RepoSpec(origin.url, "main", "apps"), {"a.yaml": b"a\n"}, "add")
    again = await writer.write(RepoSpec(origin.url, "main", "apps"), {"a.yaml": b"b\n"}, "edit", dry_run=True)
    assert again.previous == {"apps/a.yaml": b"a\n"}  # what a diff starts from


@pytest.mark.parametrize(
    ("path", "files", "error"),
    [
        ("apps", {"../../etc/passwd": b"x"}, PathEscapesRepository),
        ("apps", {"/etc/passwd": b"x"}, PathEscapesRepository),
        ("apps", {".git/hooks/post-update": b"x"}, PathEscapesRepository),
        ("../outside", {"a.yaml": b"x"}, PathEscapesRepository),
        ("apps", {"a": b"x", "a/b": b"y"}, PathConflict),
    ],
)
async def test_a_refused_path_touches_nothing(
    tmp_path: Path,
    writer: GitWriter,
    origin: Origin,
    path: str,
    files: dict[str, bytes],
    error: type[Exception],
) -> None:
    before = origin.head()
    with pytest.raises(error) as caught:
        await writer.write(RepoSpec(origin.url, "main", path), {"ok.yaml": b"fine\n", **files}, "evil")
    assert caught.value.terminal  # type: ignore[attr-defined]
    assert origin.head() == before
    assert not (tmp_path / "work").exists()  # refused before any I/O


async def test_a_symlink_in_the_repository_is_not_followed(writer: GitWriter, origin: Origin) -> None:
    origin.symlink("apps", "/etc")
    before = origin.head()
    with pytest.raises(PathEscapesRepository, match="'apps' is a symbolic link"):
        await writer.write(RepoSpec(origin.url, "main", "apps"), {"passwd": b"x"}, "via symlink")
    assert origin.head() == before


async def test_a_missing_branch(writer: GitWriter, origin: Origin) -> None:
    with pytest.raises(BranchNotFound, match="no branch 'production'") as caught:
        await writer.write(RepoSpec(origin.url, "production"), {"a": b"a"}, "m")
    assert not caught.value.terminal


async def test_local_repositories_need_an_explicit_option(tmp_path: Path, origin: Origin) -> None:
    strict = GitWriter(tmp_path / "w")
    with pytest.raises(InvalidGitURL, match="local path"):
        await strict.write(RepoSpec(origin.url), {"a": b"a"}, "m")


async def test_a_message_is_required(writer: GitWriter, origin: Origin) -> None:
    with pytest.raises(ValueError, match="commit message"):
        await writer.write(RepoSpec(origin.url), {"a": b"a"}, "  \n")


async def test_no_secret_in_logs_results_or_errors(writer: GitWriter, origin: Origin) -> None:
    auth = GitAuth.from_secret_data({"token": b"tok-very-secret-0123", "ssh-passphrase": b"pass-very-secret"})
    with capture_logs() as logs:
        result = await writer.write(RepoSpec(origin.url, "main", "a"), {"x": b"x"}, "m", auth=auth)
        with pytest.raises(BranchNotFound) as caught:
            await writer.write(RepoSpec(origin.url, "nope"), {"x": b"x"}, "m", auth=auth)
    shown = repr(logs) + repr(result) + repr(caught.value) + str(caught.value)
    assert logs and "tok-very-secret-0123" not in shown and "pass-very-secret" not in shown
    assert logs[0]["auth"] == "token, user x-access-token"


async def test_the_cached_clone_is_reused_and_rebuilt_when_damaged(
    tmp_path: Path, writer: GitWriter, origin: Origin
) -> None:
    spec = RepoSpec(origin.url, "main", "apps")
    await writer.write(spec, {"a.yaml": b"1"}, "one")
    (cache,) = (tmp_path / "work").iterdir()
    assert (cache / "objects").is_dir() and cache.name.startswith("origin.git-")
    await writer.write(spec, {"a.yaml": b"2"}, "two")
    assert list((tmp_path / "work").iterdir()) == [cache]
    shutil.rmtree(cache / "objects")  # a half-deleted cache
    result = await writer.write(spec, {"a.yaml": b"3"}, "three")
    assert result.changed and origin.files()["apps/a.yaml"] == b"3"


@pytest.mark.parametrize("limits", [{"max_packs": 2}, {"max_loose_objects": 8}], ids=["packs", "loose"])
async def test_a_cache_that_grew_too_big_starts_afresh(
    tmp_path: Path, origin: Origin, limits: dict[str, int]
) -> None:
    writer = GitWriter(tmp_path / "w", GitWriterOptions(allow_local=True, **limits), clock=RecordingClock())  # type: ignore[arg-type]
    spec = RepoSpec(origin.url, "main", "apps")
    await writer.write(spec, {"a.yaml": b"0"}, "write 0")
    (cache,) = (tmp_path / "w").iterdir()
    (cache / "marker").touch()
    rebuilt = False
    for i in range(1, 8):
        origin.commit({f"other-{i}": b"x"})  # so that every write fetches a pack
        assert (await writer.write(spec, {f"d{i}/a.yaml": str(i).encode()}, f"write {i}")).changed
        rebuilt = rebuilt or not (cache / "marker").exists()
    assert rebuilt
    assert origin.files()["apps/d7/a.yaml"] == b"7"
