"""Both Git transports of the test bed clone and push: dulwich over SSH and smart HTTP(S), the git
CLI with a passphrase-protected key; wrong keys, passwords and host keys are refused."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from dulwich import porcelain
from dulwich.client import HTTPUnauthorized
from dulwich.config import ConfigDict
from dulwich.repo import Repo

from hack.testbed import git


def _quiet() -> dict[str, io.BytesIO]:
    return {"errstream": io.BytesIO()}


def _commit_file(repo: Repo, name: str, text: str) -> bytes:
    Path(repo.path, name).write_text(text)
    porcelain.add(repo, [str(Path(repo.path, name))])
    return porcelain.commit(
        repo,
        message=f"add {name}".encode(),
        author=b"irc e2e <e2e@irc.invalid>",
        committer=b"irc e2e <e2e@irc.invalid>",
    )


def _remote_head(servers: git.GitServers, repo: str) -> str:
    return subprocess.run(
        ["git", "-C", str(servers.repos / f"{repo}.git"), "rev-parse", git.DEFAULT_BRANCH],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _ssh_command(servers: git.GitServers, key: Path, known_hosts: Path | None = None) -> str:
    return (
        f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts or servers.known_hosts}"
    )


def _roundtrip(
    url: str, workdir: Path, servers: git.GitServers, repo: str, ca: Path | None = None, **auth: object
) -> None:
    """Clone `url`, commit one file, push it, and check the server's branch moved to that commit."""
    config = ConfigDict()
    if ca is not None:
        config.set((b"http",), b"sslCAInfo", str(ca).encode())
    clone = porcelain.clone(url, str(workdir / "clone"), config=config, **_quiet(), **auth)  # type: ignore[arg-type]
    if ca is not None:  # push reads the clone's own config
        repo_config = clone.get_config()
        repo_config.set((b"http",), b"sslCAInfo", str(ca).encode())
        repo_config.write_to_path()
    commit = _commit_file(clone, "app.yaml", f"written over {url.split(':')[0]}\n")
    porcelain.push(clone, url, f"refs/heads/{git.DEFAULT_BRANCH}", **_quiet(), **auth)  # type: ignore[arg-type]
    clone.close()
    assert _remote_head(servers, repo) == commit.decode()


@pytest.fixture
def repo(git_servers: git.GitServers) -> str:
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    git_servers.create_repo(name)
    return name


def test_ssh_with_a_key(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    _roundtrip(
        git_servers.ssh_url(repo),
        tmp_path,
        git_servers,
        repo,
        ssh_command=_ssh_command(git_servers, git_servers.ssh_key),
    )


def test_ssh_with_a_passphrase_protected_key(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho {git.KEY_PASSPHRASE}\n")
    askpass.chmod(0o700)
    ssh = _ssh_command(git_servers, git_servers.ssh_key_encrypted).replace("BatchMode=yes", "BatchMode=no")
    env = {**os.environ, "GIT_SSH_COMMAND": ssh, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    out = subprocess.run(
        ["git", "ls-remote", git_servers.ssh_url(repo), git.DEFAULT_BRANCH],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split()[0] == _remote_head(git_servers, repo)
    # Without the passphrase the same key is useless.
    denied = subprocess.run(
        ["git", "ls-remote", git_servers.ssh_url(repo)],
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_SSH_COMMAND": _ssh_command(git_servers, git_servers.ssh_key_encrypted)},
    )
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_ssh_refuses_an_unknown_host_key(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = subprocess.run(
        ["git", "ls-remote", git_servers.ssh_url(repo)],
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_SSH_COMMAND": _ssh_command(git_servers, git_servers.ssh_key, empty)},
    )
    assert result.returncode != 0 and "Host key verification failed" in result.stderr


def test_http_with_user_and_password(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    _roundtrip(
        f"{git_servers.http_url}/{repo}.git",
        tmp_path,
        git_servers,
        repo,
        username=git.HTTP_USER,
        password=git.HTTP_PASSWORD,
    )


def test_https_with_a_token(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    _roundtrip(
        f"{git_servers.https_url}/{repo}.git",
        tmp_path,
        git_servers,
        repo,
        ca=git_servers.ca_cert,
        username="x-access-token",
        password=git.HTTP_TOKEN,
    )


def test_http_refuses_a_wrong_password(git_servers: git.GitServers, repo: str, tmp_path: Path) -> None:
    with pytest.raises(HTTPUnauthorized, match="No valid credentials"):
        porcelain.clone(
            f"{git_servers.http_url}/{repo}.git",
            str(tmp_path / "clone"),
            **_quiet(),  # type: ignore[arg-type]
            username=git.HTTP_USER,
            password="wrong",
        )
