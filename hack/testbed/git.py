"""Git servers on loopback: one directory of bare repositories served over SSH by OpenSSH's sshd
and over smart HTTP by `git http-backend` (hack/testbed/githttp.py) with basic and token auth.

SSH: a generated host key (its known_hosts line is provided), and two authorised client keys,
one without and one with a passphrase. HTTP: user+password, or a token; optionally over TLS.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hack.testbed import procs
from hack.testbed.pki import CA

SSHD = "/usr/sbin/sshd"
HTTP_USER, HTTP_PASSWORD, HTTP_TOKEN = "irc", "irc-git-password", "irc-git-token-0123456789"
KEY_PASSPHRASE = "irc-key-passphrase"
DEFAULT_BRANCH = "main"


@dataclass
class GitServers:
    dir: Path
    repos: Path
    ssh_port: int
    ssh_user: str
    known_hosts: Path  # a known_hosts file holding the server's host key
    ssh_key: Path  # client private key without passphrase
    ssh_key_encrypted: Path  # client private key protected by KEY_PASSPHRASE
    http_url: str  # base URL; a repository is at <http_url>/<name>.git
    https_url: str
    ca_cert: Path  # verifies https_url
    processes: list[procs.Process] = field(default_factory=list)

    def ssh_url(self, repo: str) -> str:
        return f"ssh://{self.ssh_user}@127.0.0.1:{self.ssh_port}{self.repos}/{repo}.git"

    def create_repo(self, name: str) -> Path:
        """A bare repository with one commit on `main` (an empty tree), like a freshly made remote."""
        path = self.repos / f"{name}.git"
        procs.run(["git", "init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(path)])
        env_args = [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=irc-testbed",
            "-c",
            "user.email=testbed@irc.invalid",
        ]
        tree = procs.run([*env_args, "hash-object", "-t", "tree", "-w", "--stdin"], input="").strip()
        commit = procs.run([*env_args, "commit-tree", tree, "-m", "initial commit"]).strip()
        procs.run([*env_args, "update-ref", f"refs/heads/{DEFAULT_BRANCH}", commit])
        return path

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def env(self) -> dict[str, str]:
        return {
            "IRC_TESTBED_GIT_SSH": f"ssh://{self.ssh_user}@127.0.0.1:{self.ssh_port}{self.repos}",
            "IRC_TESTBED_GIT_SSH_KEY": str(self.ssh_key),
            "IRC_TESTBED_GIT_KNOWN_HOSTS": str(self.known_hosts),
            "IRC_TESTBED_GIT_HTTP": self.http_url,
            "IRC_TESTBED_GIT_HTTPS": self.https_url,
            "IRC_TESTBED_GIT_CA": str(self.ca_cert),
            "IRC_TESTBED_GIT_USER": HTTP_USER,
            "IRC_TESTBED_GIT_PASSWORD": HTTP_PASSWORD,
            "IRC_TESTBED_GIT_TOKEN": HTTP_TOKEN,
        }


def _keygen(path: Path, passphrase: str = "") -> None:
    procs.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path)])


def start(directory: Path) -> GitServers:
    if not os.path.exists(SSHD):
        raise FileNotFoundError(f"{SSHD} not found; run hack/install-packages.sh")
    directory.mkdir(parents=True, exist_ok=True)
    repos = directory / "repos"
    repos.mkdir(exist_ok=True)
    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    host_key, client_key, client_key_enc = keys / "host_ed25519", keys / "client", keys / "client_encrypted"
    _keygen(host_key)
    _keygen(client_key)
    _keygen(client_key_enc, KEY_PASSPHRASE)
    authorized = keys / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text() + Path(f"{client_key_enc}.pub").read_text())
    user = getpass.getuser()
    ssh_port = procs.free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {ssh_port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                f"AllowUsers {user}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the keys live in a temporary directory with default permissions
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    known_hosts = keys / "known_hosts"
    host_pub = Path(f"{host_key}.pub").read_text().split()
    known_hosts.write_text(f"[127.0.0.1]:{ssh_port} {host_pub[0]} {host_pub[1]}\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory

    ca = CA(directory / "pki", "irc-testbed-git-ca")
    serving = ca.issue("git-http", "git-http", hosts=("127.0.0.1", "localhost"))
    http_port, https_port = procs.free_port(), procs.free_port()
    servers = GitServers(
        dir=directory,
        repos=repos,
        ssh_port=ssh_port,
        ssh_user=user,
        known_hosts=known_hosts,
        ssh_key=client_key,
        ssh_key_encrypted=client_key_enc,
        http_url=f"http://127.0.0.1:{http_port}",
        https_url=f"https://127.0.0.1:{https_port}",
        ca_cert=ca.cert_path,
    )
    http_args = [
        sys.executable,
        "-m",
        "hack.testbed.githttp",
        f"--root={repos}",
        f"--user={HTTP_USER}",
        f"--password={HTTP_PASSWORD}",
        f"--token={HTTP_TOKEN}",
    ]
    cwd = Path(__file__).resolve().parents[2]
    try:
        # sshd needs its absolute path to re-exec; -D stays in the foreground, -e logs to stderr.
        servers.processes.append(
            procs.start("sshd", [SSHD, "-D", "-e", "-f", str(config)], directory, procs.port_open(ssh_port))
        )
        servers.processes.append(
            procs.start(
                "git-http",
                [*http_args, f"--port={http_port}"],
                directory,
                procs.port_open(http_port),
                cwd=cwd,
            )
        )
        servers.processes.append(
            procs.start(
                "git-https",
                [
                    *http_args,
                    f"--port={https_port}",
                    f"--tls-cert={serving.cert}",
                    f"--tls-key={serving.key}",
                ],
                directory,
                procs.port_open(https_port),
                cwd=cwd,
            )
        )
    except BaseException:
        servers.stop()
        raise
    return servers
