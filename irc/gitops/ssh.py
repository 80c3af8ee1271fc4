"""Git over SSH through OpenSSH's `ssh`, with host keys verified and nothing read from the
environment or ~/.ssh.

For each connection attempt `ssh_vendor` writes the credentials into a fresh private directory
(0700; files 0600, created exclusively) and removes it afterwards, and hands dulwich an
`OpenSSHVendor` (dulwich's `SSHVendor` seam, passed per client: nothing process-global) that runs

    ssh -F none -x -i <dir>/identity -o IdentitiesOnly=yes -o IdentityAgent=none
        -o StrictHostKeyChecking=yes -o UserKnownHostsFile=<dir>/known_hosts
        -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o BatchMode=yes
        -o PreferredAuthentications=publickey -o ConnectTimeout=… -o ServerAliveInterval=…
        [-p port] -- user@host git-upload-pack '…'

`-F none` ignores ssh_config files, so a config file cannot turn checking off. The fetch and the
push of one attempt share one connection: a master `ssh -M -N` (a child of this process, ended and
reaped before the directory goes; never a daemonized ControlPersist master, which a manager running
as PID 1 would leave as a zombie) with its socket in the private directory. On the test bed an SSH
handshake costs ~0.4 s, about half of a write.

A passphrase-protected key is opened by OpenSSH itself through SSH_ASKPASS: a two-line helper
script (no secret in it) prints the passphrase from an environment variable that only this ssh
process and its helper get, with SSH_ASKPASS_REQUIRE=force. Chosen over decrypting the key in Python
(cryptography is not a runtime dependency, and ssh would then need the *decrypted* key on disk) and
over an ssh-agent (a process to run and secure). OpenSSH refuses to ask in BatchMode, so an encrypted
key runs with BatchMode=no and every other prompt shut: password and keyboard-interactive auth off,
one passphrase prompt, and strict host key checking, which never asks.

Without known_hosts the connection is refused (KnownHostsMissing) unless the auth says
`insecure_skip_host_key_check`: then `StrictHostKeyChecking=no` with an empty known_hosts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dulwich.client import SSHVendor, StrangeHostname, SubprocessWrapper

from irc.gitops.auth import GitAuth
from irc.gitops.errors import GitCredentialsMissing, KnownHostsMissing

PASSPHRASE_ENV = "IRC_GIT_SSH_PASSPHRASE"
ASKPASS_SCRIPT = f"#!/bin/sh\nprintf '%s\\n' \"${PASSPHRASE_ENV}\"\n"
# What ssh inherits from our environment; nothing else (no SSH_AUTH_SOCK, no GIT_SSH_COMMAND).
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


class OpenSSHVendor(SSHVendor):
    """Runs `program` (OpenSSH's ssh) with fixed `options` and environment `env`. With a
    `control_path`, the first command starts a master connection (our own child process, `ssh -M
    -N`) and every command goes through it; if the master does not come up, commands connect
    directly and report whatever stopped it. `close()` ends the master."""

    def __init__(
        self,
        options: list[str],
        env: dict[str, str],
        program: str = "ssh",
        control_path: Path | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.options, self.env, self.program = options, env, program
        self.control_path, self.timeout = control_path, timeout
        self.master: subprocess.Popen[bytes] | None = None

    def command(
        self,
        host: str,
        command: bytes | str | None,
        username: str | None,
        port: int | None,
        *,
        master: bool = False,
    ) -> list[str]:
        """The argv for one remote command (or, with `master`, for the master connection)."""
        target = f"{username}@{host}" if username else host
        if host.startswith("-") or target.startswith("-"):
            raise StrangeHostname(hostname=host)
        args = [self.program, "-F", "none", "-x"]
        if self.control_path is not None:  # the first value of an option wins: these go first
            role = ["-M", "-N", "-o", "ControlPersist=no"] if master else ["-o", "ControlMaster=no"]
            args += [*role, "-o", f"ControlPath={_config_path(self.control_path)}"]
        args += self.options
        if port:
            args += ["-p", str(port)]
        args += ["--", target]
        if command is not None:
            args.append(command.decode() if isinstance(command, bytes) else command)
        return args

    def run_command(
        self,
        host: str,
        command: bytes,
        username: str | None = None,
        port: int | None = None,
        password: str | None = None,
        key_filename: str | None = None,
        ssh_command: str | None = None,
        protocol_version: int | None = None,
    ) -> SubprocessWrapper:
        if self.control_path is not None and self.master is None:
            self._start_master(host, username, port)
        args = self.command(host, command, username, port)
        if protocol_version is not None and protocol_version > 0:
            args[-3:-3] = ["-o", f"SetEnv GIT_PROTOCOL=version={protocol_version}"]
        proc = subprocess.Popen(
            args,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        return SubprocessWrapper(proc)

    def _start_master(self, host: str, username: str | None, port: int | None) -> None:
        assert self.control_path is not None
        self.master = subprocess.Popen(
            self.command(host, None, username, port, master=True),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        deadline = time.monotonic() + self.timeout
        while not self.control_path.exists() and self.master.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        if self.master is None:
            return
        if self.master.poll() is None:
            self.master.terminate()
            try:
                self.master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.master.kill()
                self.master.wait()


@contextlib.contextmanager
def private_directory(parent: Path | None = None) -> Iterator[Path]:
    """A fresh 0700 directory (under `parent`, default the system's temporary directory), removed
    with everything in it on exit."""
    path = Path(tempfile.mkdtemp(prefix="irc-git-", dir=parent))
    try:
        os.chmod(path, stat.S_IRWXU)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_private(path: Path, content: bytes, mode: int = 0o600) -> Path:
    """Create `path` exclusively with `mode` from the start (no window with wider permissions)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return path


def _config_path(path: Path) -> str:
    """A path as an ssh option value: %-tokens escaped, quoted against whitespace."""
    return '"' + str(path).replace("%", "%%") + '"'


@contextlib.contextmanager
def ssh_vendor(
    auth: GitAuth,
    *,
    timeout: float,
    secrets_dir: Path | None = None,
    program: str = "ssh",
) -> Iterator[OpenSSHVendor]:
    """An OpenSSHVendor for `auth`, its credential files alive for the duration of the block."""
    if auth.ssh_private_key is None:
        raise GitCredentialsMissing("an SSH URL needs `ssh-privatekey` in the Secret")
    if auth.known_hosts is None and not auth.insecure_skip_host_key_check:
        raise KnownHostsMissing(
            "an SSH URL needs `known_hosts` in the Secret to verify the server's host key "
            "(e.g. the output of ssh-keyscan, checked); skipping verification is an explicit opt-out"
        )
    with private_directory(secrets_dir) as directory:
        identity = write_private(directory / "identity", auth.ssh_private_key)
        options = [
            *("-i", str(identity)),
            *("-o", "IdentitiesOnly=yes"),
            *("-o", "IdentityAgent=none"),
            *("-o", "GlobalKnownHostsFile=/dev/null"),
            *("-o", "UpdateHostKeys=no"),
            *("-o", "PreferredAuthentications=publickey"),
            *("-o", "PasswordAuthentication=no"),
            *("-o", "KbdInteractiveAuthentication=no"),
            *("-o", f"ConnectTimeout={max(1, round(timeout))}"),
            # A server that stops answering mid-session (a dead NAT entry: no FIN, no RST) ends the
            # session after about `timeout`, as the HTTP transport's read timeout does.
            *("-o", f"ServerAliveInterval={max(1, round(timeout / 4))}"),
            *("-o", "ServerAliveCountMax=4"),
        ]
        if auth.known_hosts is not None:
            known_hosts = write_private(directory / "known_hosts", auth.known_hosts)
            options += [
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={_config_path(known_hosts)}",
            ]
        else:
            options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
        env.setdefault("PATH", os.defpath)
        if auth.ssh_passphrase:
            askpass = write_private(directory / "askpass", ASKPASS_SCRIPT.encode(), mode=0o700)
            env.update(
                {
                    "SSH_ASKPASS": str(askpass),
                    "SSH_ASKPASS_REQUIRE": "force",
                    PASSPHRASE_ENV: auth.ssh_passphrase,
                }
            )
            options += ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"]
        else:
            options += ["-o", "BatchMode=yes"]
        vendor = OpenSSHVendor(options, env, program, control_path=directory / "mux", timeout=timeout)
        try:
            yield vendor
        finally:
            vendor.close()
