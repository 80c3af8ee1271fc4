"""Git credentials, read from a Secret's (base64-decoded) data.

The seed's keys come first, so Secrets written for the original keep working:

    token            an HTTPS token, sent as the Basic password (user: `username` if given, else
                     `x-access-token`, which GitHub requires for App installation tokens and which
                     GitHub personal tokens and GitLab personal/project/group tokens accept, as they
                     accept any user; GitLab OAuth tokens need `username: oauth2`)
    username         with `password`: HTTPS Basic auth
    password
    ssh-privatekey   an OpenSSH/PEM private key for ssh:// and scp-style URLs
    ssh-passphrase   its passphrase, if it is encrypted
    known_hosts      the SSH server's host keys (OpenSSH known_hosts format); required for SSH
    ca.crt           PEM CA bundle that verifies an HTTPS server with a private CA

Flux's names are read when the seed's are absent: `identity` (the SSH key) and `caFile`. A CA bundle
can also come from elsewhere (a ConfigMap, a flag) through `ca_bundle=`.

Skipping SSH host key verification is possible only through the explicit `insecure_skip_host_key_check`
argument (never through a Secret key), applies only when there is no known_hosts, and the writer
logs a warning on every write that uses it.

Secrets stay out of sight: the secret fields are left out of `repr`, and `redactor()` hands the
transport what must never be shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from irc.gitops.errors import GitCredentialsInvalid, Redactor

TOKEN_USERNAME = "x-access-token"
"""The Basic user sent with a `token` when the Secret names none."""

Method = Literal["ssh", "token", "basic", "anonymous"]


@dataclass(frozen=True)
class GitAuth:
    """Credentials for one repository. Build it with `from_secret_data`; `GitAuth()` is anonymous."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """The Basic password: the Secret's `password`, or its `token`."""
    token: bool = False
    """Whether `password` is a token (only for logs and `method`)."""
    ssh_private_key: bytes | None = field(default=None, repr=False)
    ssh_passphrase: str | None = field(default=None, repr=False)
    known_hosts: bytes | None = field(default=None, repr=False)
    ca_bundle: bytes | None = field(default=None, repr=False)
    insecure_skip_host_key_check: bool = False
    """Connect over SSH without verifying the host key when there is no known_hosts. Off by
    default; the writer logs a warning each time it is used."""

    @property
    def method(self) -> Method:
        """What an HTTPS server is offered ("ssh" when there is only a key)."""
        if self.password is not None:
            return "token" if self.token else "basic"
        if self.ssh_private_key is not None:
            return "ssh"
        return "anonymous"

    def describe(self) -> str:
        """A line for logs and messages: which credentials, never their values."""
        parts: list[str] = [self.method]
        if self.username:
            parts.append(f"user {self.username}")
        if self.ssh_private_key is not None:
            parts.append("ssh key" + (" with passphrase" if self.ssh_passphrase else ""))
        if self.known_hosts is not None:
            parts.append("known_hosts")
        if self.ca_bundle is not None:
            parts.append("CA bundle")
        return ", ".join(parts)

    def redactor(self) -> Redactor:
        return Redactor([self.password, self.ssh_passphrase, self.ssh_private_key])

    @classmethod
    def from_secret_data(
        cls,
        data: Mapping[str, bytes | str],
        *,
        ca_bundle: bytes | None = None,
        insecure_skip_host_key_check: bool = False,
    ) -> GitAuth:
        """Credentials from a Secret's decoded `data` (see the module docstring for the keys).
        `ca_bundle` is used when the Secret has no `ca.crt`. Raises GitCredentialsInvalid for data
        that cannot be right: text that is not UTF-8, a password without a user name, something in
        `ssh-privatekey` that is not a private key; the message names the key, never its value."""
        token = _text(data, "token")
        username = _text(data, "username")
        password = _text(data, "password")
        user: str | None
        if token is not None:
            user, secret, is_token = username or TOKEN_USERNAME, token, True
        elif password is not None:
            if not username:
                raise GitCredentialsInvalid("the Secret has `password` but no `username`")
            user, secret, is_token = username, password, False
        else:
            user, secret, is_token = username, None, False
        key = _first(data, "ssh-privatekey", "identity")
        if key is not None:
            key = _private_key(key)
        passphrase = _text(data, "ssh-passphrase")
        known_hosts = _first(data, "known_hosts")
        if known_hosts is not None and not known_hosts.strip():
            known_hosts = None
        ca = _first(data, "ca.crt", "caFile")
        if ca is None or not ca.strip():
            ca = ca_bundle
        if ca is not None and b"-----BEGIN CERTIFICATE-----" not in ca:
            raise GitCredentialsInvalid("the CA bundle holds no PEM certificate")
        return cls(
            username=user,
            password=secret,
            token=is_token,
            ssh_private_key=key,
            ssh_passphrase=passphrase,
            known_hosts=known_hosts,
            ca_bundle=ca,
            insecure_skip_host_key_check=insecure_skip_host_key_check,
        )


def _first(data: Mapping[str, bytes | str], *keys: str) -> bytes | None:
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value.encode() if isinstance(value, str) else bytes(value)
    return None


def _text(data: Mapping[str, bytes | str], key: str) -> str | None:
    """A text value, without the trailing newline `kubectl create secret --from-file` keeps;
    an empty value counts as absent."""
    raw = _first(data, key)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise GitCredentialsInvalid(f"the Secret's `{key}` is not UTF-8 text") from None
    return text or None


def _private_key(raw: bytes) -> bytes:
    """The key as OpenSSH reads it: Unix newlines and a final newline (without one, ssh reports
    "invalid format")."""
    key = raw.replace(b"\r\n", b"\n").strip() + b"\n"
    if not key.startswith(b"-----BEGIN ") or b"PRIVATE KEY-----" not in key:
        raise GitCredentialsInvalid("the Secret's `ssh-privatekey` is not a PEM or OpenSSH private key")
    return key
