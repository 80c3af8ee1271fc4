"""irc.gitops.GitWriter against the test bed's real Git servers (OpenSSH's sshd with
git-upload-pack/receive-pack, and git http-backend over HTTP and HTTPS): commits land with exactly
the files under `path`, two writers lose nothing and never force, and every refusal comes back with
its reason while the repository stays as it was. Checks read the bare repositories with the git CLI.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hack.testbed import git, procs
from irc.gitops import GitAuth, GitError, GitWriter, GitWriterOptions, RepoSpec, Signature, transport
from irc.gitops.transport import Remote

pytestmark = pytest.mark.e2e

CHANGES = 20  # e2e/chaos/test_git_faults.py races more of them, and an outside pusher, through faults


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _head(repo: Path, branch: str = git.DEFAULT_BRANCH) -> str:
    return _git(repo, "rev-parse", f"refs/heads/{branch}")


def _files(repo: Path, branch: str = git.DEFAULT_BRANCH) -> dict[str, bytes]:
    """Every file on `branch` of the bare repository, read by git itself."""
    names = _git(repo, "ls-tree", "-r", "--name-only", branch).splitlines()
    return {
        name: subprocess.run(
            ["git", "-C", str(repo), "show", f"{branch}:{name}"], capture_output=True, check=True
        ).stdout
        for name in names
    }


@pytest.fixture
def bare(git_servers: git.GitServers) -> Path:
    """A fresh repository (one empty commit on main) that logs every ref update in its reflog."""
    path = git_servers.create_repo(f"gitops-{uuid.uuid4().hex[:8]}")
    _git(path, "config", "core.logAllRefUpdates", "always")
    return path


def _name(bare: Path) -> str:
    return bare.name.removesuffix(".git")


def ssh_auth(servers: git.GitServers, *, passphrase: bool = False, **extra: bytes) -> GitAuth:
    key = servers.ssh_key_encrypted if passphrase else servers.ssh_key
    data: dict[str, bytes] = {
        "ssh-privatekey": key.read_bytes(),
        "known_hosts": servers.known_hosts.read_bytes(),
    }
    if passphrase:
        data["ssh-passphrase"] = git.KEY_PASSPHRASE.encode()
    return GitAuth.from_secret_data({**data, **extra})


Transport = Callable[[git.GitServers, Path], tuple[str, GitAuth]]
TRANSPORTS: dict[str, Transport] = {
    "ssh-key": lambda s, bare: (s.ssh_url(_name(bare)), ssh_auth(s)),
    "ssh-key-with-passphrase": lambda s, bare: (s.ssh_url(_name(bare)), ssh_auth(s, passphrase=True)),
    "http-basic": lambda s, bare: (
        f"{s.http_url}/{bare.name}",
        GitAuth.from_secret_data(
            {"username": git.HTTP_USER.encode(), "password": git.HTTP_PASSWORD.encode()}
        ),
    ),
    "https-token-ca": lambda s, bare: (
        f"{s.https_url}/{bare.name}",
        GitAuth.from_secret_data({"token": git.HTTP_TOKEN.encode(), "ca.crt": s.ca_cert.read_bytes()}),
    ),
}


@pytest.fixture
def writer(tmp_path: Path) -> GitWriter:
    return GitWriter(tmp_path / "work")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_commit_lands_with_exactly_the_files_under_path(
    git_servers: git.GitServers, bare: Path, writer: GitWriter, transport: str
) -> None:
    url, auth = TRANSPORTS[transport](git_servers, bare)
    initial = _head(bare)
    files = {"webapp/deployment.yaml": b"kind: Deployment\n", "webapp/service.yaml": b"kind: Service\n"}
    result = await writer.write(
        RepoSpec(url, "main", "./clusters/prod"),
        files,
        "Add webapp v1.2.3",
        Signature("Bot", "bot@e2e.invalid"),
        auth=auth,
    )
    assert result.changed and result.commit == _head(bare) and result.attempts == 1
    assert _files(bare) == {f"clusters/prod/{name}": content for name, content in files.items()}
    assert _git(bare, "rev-parse", f"{result.commit}^") == initial
    assert (
        _git(bare, "log", "-1", "--format=%an <%ae>|%cn|%s", "main")
        == "Bot <bot@e2e.invalid>|irc|Add webapp v1.2.3"
    )
    # The same content again: no commit, the current head.
    again = await writer.write(RepoSpec(url, "main", "clusters/prod"), files, "again", auth=auth)
    assert not again.changed and again.commit == result.commit == _head(bare)


async def test_a_push_branch_for_review(git_servers: git.GitServers, bare: Path, writer: GitWriter) -> None:
    url, auth = TRANSPORTS["https-token-ca"](git_servers, bare)
    main = _head(bare)
    spec = RepoSpec(url, "main", "apps", push_branch="irc/webapp-1.2.3")
    result = await writer.write(spec, {"webapp.yaml": b"image: webapp:1.2.3\n"}, "webapp 1.2.3", auth=auth)
    assert result.created_branch and _head(bare) == main
    assert _head(bare, "irc/webapp-1.2.3") == result.commit
    assert _git(bare, "rev-parse", f"{result.commit}^") == main
    assert _files(bare, "irc/webapp-1.2.3") == {"apps/webapp.yaml": b"image: webapp:1.2.3\n"}


async def test_two_writers_write_20_changes_and_lose_none(
    git_servers: git.GitServers, bare: Path, tmp_path: Path
) -> None:
    """Two managers (two GitWriters with their own work directories) write 20 changes to one
    branch at once, over SSH: every change lands, the history is linear, and the reflog shows
    that each update of main kept every earlier head (no force push)."""
    url, auth = TRANSPORTS["ssh-key"](git_servers, bare)
    writers = [GitWriter(tmp_path / "manager-a"), GitWriter(tmp_path / "manager-b")]
    spec = RepoSpec(url, "main", "apps")
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                writers[i % 2].write(
                    spec,
                    {f"svc-{i:02}/deployment.yaml": f"replicas: {i}\n".encode()},
                    f"svc-{i:02}",
                    auth=auth,
                )
            )
            for i in range(CHANGES)
        ]
    elapsed = time.monotonic() - started
    results = [t.result() for t in tasks]
    assert all(r.changed and r.commits == 1 for r in results)
    files = _files(bare)
    assert files == {f"apps/svc-{i:02}/deployment.yaml": f"replicas: {i}\n".encode() for i in range(CHANGES)}
    final = _head(bare)
    # Linear: CHANGES + 1 commits, none with two parents, and each of ours is on main.
    parents = [line.split() for line in _git(bare, "rev-list", "--parents", "main").splitlines()]
    assert len(parents) == CHANGES + 1 and all(len(p) <= 2 for p in parents)
    assert {r.commit for r in results} == {p[0] for p in parents[:-1]}
    # The reflog: CHANGES updates, each a fast-forward of the one before, all ancestors of the final head.
    reflog = _git(bare, "reflog", "show", "--format=%H", "refs/heads/main").splitlines()
    assert len(reflog) == CHANGES and reflog[0] == final
    for newer, older in itertools.pairwise(reflog):
        assert _git(bare, "rev-parse", f"{newer}^") == older
    retries = sum(r.retries for r in results)
    print(f"\n{CHANGES} changes, 2 writers over SSH: {elapsed:.1f} s, {retries} push retries")


def _keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; its public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text()


def _push_by_hand(bare: Path, workdir: Path, name: str) -> str:
    """Another writer: the git CLI clones, commits `name` and pushes, straight to the bare repository."""
    clone = workdir / f"hand-{uuid.uuid4().hex[:6]}"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    (clone / name).write_text("pushed by hand\n")
    _git(clone, "add", name)
    _git(clone, "-c", "user.name=hand", "-c", "user.email=hand@e2e.invalid", "commit", "-qm", f"hand: {name}")
    _git(clone, "push", "-q", "origin", "main")
    return _git(clone, "rev-parse", "HEAD")


async def test_a_branch_moved_before_the_push_is_re_applied(
    git_servers: git.GitServers,
    bare: Path,
    writer: GitWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over SSH: another writer pushes between our fetch and our push; we fetch again, re-apply and
    push on top of theirs."""
    url, auth = TRANSPORTS["ssh-key"](git_servers, bare)
    push, theirs = Remote.push, list[str]()

    def racing_push(self: Remote, *args: Any) -> Any:
        if not theirs:
            theirs.append(_push_by_hand(bare, tmp_path, "theirs.txt"))
        return push(self, *args)

    monkeypatch.setattr(Remote, "push", racing_push)
    result = await writer.write(RepoSpec(url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine", auth=auth)
    assert result.attempts == 2 and result.commit == _head(bare)
    assert _git(bare, "rev-parse", "main^") == theirs[0]
    assert _files(bare) == {"theirs.txt": b"pushed by hand\n", "apps/mine.yaml": b"mine\n"}


async def test_a_race_lost_inside_the_server_is_retried(
    git_servers: git.GitServers,
    bare: Path,
    writer: GitWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over HTTPS: the other writer lands after the server advertised main to us; git-receive-pack
    itself refuses our update under its ref lock, and we retry."""
    url, auth = TRANSPORTS["https-token-ca"](git_servers, bare)
    send_pack, theirs = transport._HTTPClient.send_pack, list[str]()

    def late_race(self: Any, path: Any, update_refs: Any, *args: Any, **kwargs: Any) -> Any:
        def update(refs: Any) -> Any:
            wanted = update_refs(refs)
            if not theirs:
                theirs.append(_push_by_hand(bare, tmp_path, "late.txt"))
            return wanted

        return send_pack(self, path, update, *args, **kwargs)

    monkeypatch.setattr(transport._HTTPClient, "send_pack", late_race)
    result = await writer.write(RepoSpec(url, "main", "apps"), {"mine.yaml": b"mine\n"}, "mine", auth=auth)
    assert result.attempts == 2 and _git(bare, "rev-parse", "main^") == theirs[0]
    assert set(_files(bare)) == {"late.txt", "apps/mine.yaml"}


async def _refused(writer: GitWriter, bare: Path, spec: RepoSpec, auth: GitAuth) -> GitError:
    before = _head(bare)
    with pytest.raises(GitError) as caught:
        await writer.write(spec, {"app.yaml": b"kind: ConfigMap\n"}, "should not land", auth=auth)
    assert _head(bare) == before and _files(bare) == {}  # nothing pushed
    return caught.value


async def test_a_missing_known_hosts(git_servers: git.GitServers, bare: Path, writer: GitWriter) -> None:
    auth = GitAuth.from_secret_data({"ssh-privatekey": git_servers.ssh_key.read_bytes()})
    error = await _refused(writer, bare, RepoSpec(git_servers.ssh_url(_name(bare))), auth)
    assert error.reason == "KnownHostsMissing" and "known_hosts" in error.message


async def test_a_wrong_host_key(
    git_servers: git.GitServers, bare: Path, writer: GitWriter, tmp_path: Path
) -> None:
    kind, key = _keygen(tmp_path / "impostor").split()[:2]
    known_hosts = f"[127.0.0.1]:{git_servers.ssh_port} {kind} {key}\n".encode()
    auth = ssh_auth(git_servers, known_hosts=known_hosts)
    error = await _refused(writer, bare, RepoSpec(git_servers.ssh_url(_name(bare))), auth)
    assert error.reason == "GitHostKeyMismatch" and "SHA256:" in error.message


async def test_a_host_missing_from_known_hosts(
    git_servers: git.GitServers, bare: Path, writer: GitWriter
) -> None:
    other_port = git_servers.known_hosts.read_bytes().replace(f":{git_servers.ssh_port} ".encode(), b":1 ")
    auth = ssh_auth(git_servers, known_hosts=other_port)
    error = await _refused(writer, bare, RepoSpec(git_servers.ssh_url(_name(bare))), auth)
    assert error.reason == "GitHostKeyUnknown" and f"[127.0.0.1]:{git_servers.ssh_port}" in error.message


async def test_skipping_host_key_verification_is_explicit_and_logged(
    git_servers: git.GitServers, bare: Path, writer: GitWriter
) -> None:
    auth = GitAuth.from_secret_data(
        {"ssh-privatekey": git_servers.ssh_key.read_bytes()}, insecure_skip_host_key_check=True
    )
    with capture_logs() as logs:
        result = await writer.write(
            RepoSpec(git_servers.ssh_url(_name(bare))), {"a.yaml": b"a\n"}, "m", auth=auth
        )
    assert result.changed
    assert any(e["log_level"] == "warning" and "verification is disabled" in e["event"] for e in logs)


@pytest.mark.parametrize(
    ("transport", "data"),
    [
        ("ssh", {"ssh-privatekey": "unauthorised"}),
        ("ssh", {"ssh-privatekey": "encrypted", "ssh-passphrase": b"wrong-passphrase-123"}),
        ("http", {"username": git.HTTP_USER.encode(), "password": b"wrong-password-123"}),
        ("https", {"token": b"wrong-token-0123456789"}),
        ("https", {}),
    ],
    ids=[
        "ssh-unauthorised-key",
        "ssh-wrong-passphrase",
        "http-wrong-password",
        "https-wrong-token",
        "https-none",
    ],
)
async def test_wrong_credentials(
    git_servers: git.GitServers,
    bare: Path,
    writer: GitWriter,
    tmp_path: Path,
    transport: str,
    data: dict[str, bytes | str],
) -> None:
    if transport == "ssh":
        if data["ssh-privatekey"] == "unauthorised":
            key = tmp_path / "unauthorised"
            _keygen(key)
        else:
            key = git_servers.ssh_key_encrypted
        data = {
            **data,
            "ssh-privatekey": key.read_bytes(),
            "known_hosts": git_servers.known_hosts.read_bytes(),
        }
        url = git_servers.ssh_url(_name(bare))
    else:
        base = git_servers.http_url if transport == "http" else git_servers.https_url
        data = {**data, "ca.crt": git_servers.ca_cert.read_bytes()}
        url = f"{base}/{bare.name}"
    with capture_logs() as logs:
        error = await _refused(writer, bare, RepoSpec(url), GitAuth.from_secret_data(data))
    assert error.reason == "GitAuthFailed"
    shown = error.message + repr(error) + repr(logs)
    for secret in ("wrong-passphrase-123", "wrong-password-123", "wrong-token-0123456789"):
        assert secret not in shown


async def test_https_needs_the_ca(git_servers: git.GitServers, bare: Path, writer: GitWriter) -> None:
    auth = GitAuth.from_secret_data({"token": git.HTTP_TOKEN.encode()})
    error = await _refused(writer, bare, RepoSpec(f"{git_servers.https_url}/{bare.name}"), auth)
    assert error.reason == "GitTLSFailed"


@pytest.mark.parametrize("transport", ["ssh-key", "http-basic"])
async def test_path_traversal_is_refused(
    git_servers: git.GitServers, bare: Path, writer: GitWriter, transport: str
) -> None:
    url, auth = TRANSPORTS[transport](git_servers, bare)
    for spec, files in [
        (RepoSpec(url, "main", "apps"), {"../../etc/passwd": b"x"}),
        (RepoSpec(url, "main", "../outside"), {"a.yaml": b"x"}),
        (RepoSpec(url, "main", "apps"), {".git/hooks/post-receive": b"x"}),
    ]:
        before = _head(bare)
        with pytest.raises(GitError) as caught:
            await writer.write(spec, {"ok.yaml": b"ok\n", **files}, "evil", auth=auth)
        assert caught.value.reason == "PathEscapesRepository" and caught.value.terminal
        assert _head(bare) == before


async def test_a_missing_branch_or_repository(
    git_servers: git.GitServers, bare: Path, writer: GitWriter
) -> None:
    url, auth = TRANSPORTS["ssh-key"](git_servers, bare)
    error = await _refused(writer, bare, RepoSpec(url, "production"), auth)
    assert error.reason == "BranchNotFound"
    for missing, auth in [
        (git_servers.ssh_url("does-not-exist"), ssh_auth(git_servers)),
        TRANSPORTS["http-basic"](git_servers, Path("does-not-exist.git")),
    ]:
        with pytest.raises(GitError) as caught:
            await writer.write(RepoSpec(missing), {"a": b"a"}, "m", auth=auth)
        assert caught.value.reason == "GitRepositoryNotFound", caught.value.message


async def test_an_unreachable_server(bare: Path, writer: GitWriter, git_servers: git.GitServers) -> None:
    nobody = procs.free_port()
    for url, auth in [
        (f"http://127.0.0.1:{nobody}/{bare.name}", GitAuth.from_secret_data({"token": b"t0ken-value"})),
        (f"ssh://git@127.0.0.1:{nobody}/{bare.name}", ssh_auth(git_servers)),
    ]:
        with pytest.raises(GitError) as caught:
            await writer.write(RepoSpec(url), {"a": b"a"}, "m", auth=auth)
        assert caught.value.reason == "GitUnreachable", caught.value.message


def test_local_repositories_are_off_by_default() -> None:
    assert GitWriterOptions().allow_local is False
