"""The Git writer's errors, one tree; every class is an `irc.runtime.errors.ReconcileError` whose
`reason` is its class name, so a reconciler puts `error.reason` straight into a condition:

    GitError                    (reason GitOperationFailed) anything else a Git server or dulwich said
    ├── InvalidGitURL           terminal: a URL irc cannot use (scheme, credentials in it, local paths)
    ├── InvalidBranchName       terminal: not a valid branch name
    ├── PathEscapesRepository   terminal: `..`, an absolute path, `.git`, a symlink on the way
    ├── PathConflict            terminal: a file where a directory is needed, or the reverse
    ├── GitCredentialsMissing   the Secret has nothing usable for this URL (no ssh-privatekey for SSH)
    ├── GitCredentialsInvalid   the Secret's data is malformed (not UTF-8, not a private key)
    ├── KnownHostsMissing       an SSH URL, no known_hosts and no explicit opt-out
    ├── GitHostKeyUnknown       known_hosts has no key for the server
    ├── GitHostKeyMismatch      the server offered a key other than the one in known_hosts
    ├── GitAuthFailed           the server refused the credentials (401, 403, publickey denied)
    ├── GitTLSFailed            the HTTPS certificate does not verify (wrong or missing CA bundle)
    ├── GitUnreachable          no connection: DNS, refused, timed out, dropped
    ├── GitRepositoryNotFound   the server has no such repository
    ├── BranchNotFound          the repository has no such branch
    └── PushRejected            the server refused the update (after the retries, for a moved branch)

Only the spec-shaped errors are terminal: credentials, host keys and servers can be fixed without
touching the object that asked for the write, so those are retried with backoff.

Messages never carry a secret: every text that comes from a server, ssh or dulwich passes through a
`Redactor` that knows the credentials in use, and URLs are shown without their userinfo password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from irc.runtime.errors import ReconcileError

REDACTED = "***"


class GitError(ReconcileError):
    """A Git failure. Subclasses fix `reason` (their own name) and whether it is `terminal`."""

    reason_name = "GitOperationFailed"
    default_terminal = False

    def __init__(self, message: str, *, terminal: bool | None = None) -> None:
        super().__init__(
            self.reason_name, message, terminal=self.default_terminal if terminal is None else terminal
        )

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.reason_name = cls.__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidGitURL(GitError):
    default_terminal = True


class InvalidBranchName(GitError):
    default_terminal = True


class PathEscapesRepository(GitError):
    default_terminal = True


class PathConflict(GitError):
    default_terminal = True


class GitCredentialsMissing(GitError):
    pass


class GitCredentialsInvalid(GitError):
    pass


class KnownHostsMissing(GitError):
    pass


class GitHostKeyUnknown(GitError):
    pass


class GitHostKeyMismatch(GitError):
    pass


class GitAuthFailed(GitError):
    pass


class GitTLSFailed(GitError):
    pass


class GitUnreachable(GitError):
    pass


class GitRepositoryNotFound(GitError):
    pass


class BranchNotFound(GitError):
    pass


class PushRejected(GitError):
    pass


def display_url(url: str) -> str:
    """`url` as it may be shown: a password in the userinfo is replaced, a user name is kept."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:{REDACTED}@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Redactor:
    """Replaces every known secret (and any URL password) in a text before it reaches a message or
    a log line. Secrets shorter than 4 characters are not searched for: replacing every `a` in a
    message would hide the message, not the secret, and such a secret protects nothing anyway."""

    def __init__(self, secrets: Iterable[str | bytes | None] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            text = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
            for candidate in (text, *text.strip().splitlines()):
                if len(candidate.strip()) >= 4:
                    found.add(candidate.strip())
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


# scheme://user:password@ → scheme://user:***@
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]*@")
