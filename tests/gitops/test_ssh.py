"""irc.gitops.ssh: the ssh command line verifies host keys, uses only the given key, asks for a
passphrase only through the askpass helper, and its credential files are private and removed."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from dulwich.client import StrangeHostname

from irc.gitops import GitAuth, GitCredentialsMissing, KnownHostsMissing
from irc.gitops.ssh import PASSPHRASE_ENV, OpenSSHVendor, ssh_vendor

KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n"
KNOWN_HOSTS = b"[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n"
PASSPHRASE = "the passphrase; $(not run) 'quoted'"


def _options(vendor: OpenSSHVendor) -> dict[str, str]:
    options: dict[str, str] = {}
    for flag, value in zip(vendor.options[::2], vendor.options[1::2], strict=True):
        name, _, setting = value.partition("=") if flag == "-o" else (flag, "", value)
        options[name] = setting
    return options


def test_host_keys_are_checked_against_known_hosts_only(tmp_path: Path) -> None:
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS)
    with ssh_vendor(auth, timeout=30, secrets_dir=tmp_path) as vendor:
        options = _options(vendor)
        (directory,) = tmp_path.iterdir()
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for name, content in (("identity", KEY), ("known_hosts", KNOWN_HOSTS)):
            assert (directory / name).read_bytes() == content
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
        assert options["-i"] == str(directory / "identity")
        assert options["UserKnownHostsFile"] == f'"{directory / "known_hosts"}"'
        assert options["StrictHostKeyChecking"] == "yes"
        assert options["GlobalKnownHostsFile"] == "/dev/null"
        assert options["IdentitiesOnly"] == "yes" and options["IdentityAgent"] == "none"
        assert options["BatchMode"] == "yes"
        assert options["PasswordAuthentication"] == "no" and options["ConnectTimeout"] == "30"
        assert "SSH_ASKPASS" not in vendor.env and "SSH_AUTH_SOCK" not in vendor.env
    assert list(tmp_path.iterdir()) == []  # removed after use


def test_the_files_are_removed_after_a_failure_too(tmp_path: Path) -> None:
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS)
    with pytest.raises(RuntimeError), ssh_vendor(auth, timeout=30, secrets_dir=tmp_path):
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_the_command_line(tmp_path: Path) -> None:
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS)
    with ssh_vendor(auth, timeout=30, secrets_dir=tmp_path, program="/usr/bin/ssh") as vendor:
        argv = vendor.command("git.example", b"git-upload-pack '/r.git'", "git", 2222)
        assert argv[:4] == ["/usr/bin/ssh", "-F", "none", "-x"]  # no ssh_config can turn checks off
        assert argv[-5:] == ["-p", "2222", "--", "git@git.example", "git-upload-pack '/r.git'"]
        with pytest.raises(StrangeHostname):
            vendor.command("-oProxyCommand=evil", b"git-upload-pack x", None, None)


def test_a_passphrase_goes_through_askpass_and_never_on_the_command_line(tmp_path: Path) -> None:
    auth = GitAuth(ssh_private_key=KEY, ssh_passphrase=PASSPHRASE, known_hosts=KNOWN_HOSTS)
    with ssh_vendor(auth, timeout=30, secrets_dir=tmp_path) as vendor:
        options = _options(vendor)
        # OpenSSH will not ask for a passphrase in BatchMode; every other prompt stays shut.
        assert options["BatchMode"] == "no" and options["NumberOfPasswordPrompts"] == "1"
        assert options["StrictHostKeyChecking"] == "yes"
        assert options["KbdInteractiveAuthentication"] == "no"
        assert vendor.env["SSH_ASKPASS_REQUIRE"] == "force"
        assert vendor.env[PASSPHRASE_ENV] == PASSPHRASE
        askpass = Path(vendor.env["SSH_ASKPASS"])
        assert stat.S_IMODE(askpass.stat().st_mode) == 0o700
        assert PASSPHRASE not in askpass.read_text()
        assert PASSPHRASE not in " ".join(vendor.command("h", b"cmd", None, None))
        # The helper prints the passphrase as ssh reads it: one line, nothing expanded.
        printed = subprocess.run(
            [str(askpass), "Enter passphrase for key:"], env=vendor.env, capture_output=True, check=True
        )
        assert printed.stdout == PASSPHRASE.encode() + b"\n"
    assert list(tmp_path.iterdir()) == []


def test_run_command_passes_only_our_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o StrictHostKeyChecking=no")
    fake = tmp_path / "fake-ssh"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\necho "--env--"\nenv\n')
    fake.chmod(0o700)
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS)
    with ssh_vendor(auth, timeout=30, program=str(fake)) as vendor:
        wrapper = vendor.run_command(
            "git.example", b"git-receive-pack '/r.git'", "git", 22, protocol_version=2
        )
        output = wrapper.read(65536).decode()
        wrapper.close()
    args, _, env = output.partition("--env--\n")
    lines = args.splitlines()
    assert lines[-3:] == ["--", "git@git.example", "git-receive-pack '/r.git'"]
    assert "SetEnv GIT_PROTOCOL=version=2" in lines[: lines.index("--")]
    assert "SSH_AUTH_SOCK" not in env and "GIT_SSH_COMMAND" not in env
    assert f"PATH={os.environ['PATH']}" in env.splitlines()


def test_ssh_needs_a_key() -> None:
    with pytest.raises(GitCredentialsMissing, match="ssh-privatekey"), ssh_vendor(GitAuth(), timeout=1):
        pass


def test_ssh_needs_known_hosts_unless_explicitly_skipped(tmp_path: Path) -> None:
    with (
        pytest.raises(KnownHostsMissing, match="known_hosts") as caught,
        ssh_vendor(GitAuth(ssh_private_key=KEY), timeout=1, secrets_dir=tmp_path),
    ):
        pass
    assert caught.value.reason == "KnownHostsMissing" and not caught.value.terminal
    assert list(tmp_path.iterdir()) == []  # refused before writing the key
    auth = GitAuth(ssh_private_key=KEY, insecure_skip_host_key_check=True)
    with ssh_vendor(auth, timeout=1, secrets_dir=tmp_path) as vendor:
        options = _options(vendor)
        assert options["StrictHostKeyChecking"] == "no" and options["UserKnownHostsFile"] == "/dev/null"


def test_known_hosts_wins_over_the_opt_out(tmp_path: Path) -> None:
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS, insecure_skip_host_key_check=True)
    with ssh_vendor(auth, timeout=1, secrets_dir=tmp_path) as vendor:
        assert _options(vendor)["StrictHostKeyChecking"] == "yes"


def test_one_master_connection_per_attempt_owned_and_reaped(tmp_path: Path) -> None:
    """The first command starts `ssh -M -N` (our child, not a daemon), waits for its socket, and
    every command goes through it; leaving the block ends the master and reaps it."""
    fake = tmp_path / "fake-ssh"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in ControlPath=*) socket="${a#ControlPath=}";; esac; done\n'
        'socket="${socket#\\"}"; socket="${socket%\\"}"\n'
        'if [ "$1" = -F ] && [ "$4" = -M ]; then : > "$socket"; exec sleep 30; fi\n'
        'printf "%s\\n" "$@"\n'
    )
    fake.chmod(0o700)
    auth = GitAuth(ssh_private_key=KEY, known_hosts=KNOWN_HOSTS)
    (tmp_path / "secrets").mkdir()
    with ssh_vendor(auth, timeout=10, secrets_dir=tmp_path / "secrets", program=str(fake)) as vendor:
        assert vendor.control_path is not None
        master_argv = vendor.command("h", None, "git", 22, master=True)
        assert master_argv[4:10] == [
            "-M",
            "-N",
            "-o",
            "ControlPersist=no",
            "-o",
            f'ControlPath="{vendor.control_path}"',
        ]
        assert master_argv[-2:] == ["--", "git@h"]
        for _ in range(2):
            wrapper = vendor.run_command("h", b"git-upload-pack 'r.git'", "git", 22)
            lines = wrapper.read(65536).decode().splitlines()
            wrapper.close()
            assert lines[3:7] == ["-o", "ControlMaster=no", "-o", f'ControlPath="{vendor.control_path}"']
        master = vendor.master
        assert master is not None and master.poll() is None  # one master, still running, reused
    assert master.returncode is not None  # ended and reaped
