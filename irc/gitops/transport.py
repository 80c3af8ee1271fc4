"""One conversation with a Git server: which client a URL needs, fetching a branch into the cached
repository, pushing one ref update as a compare-and-swap, and turning whatever went wrong into a
GitError with a reason and a message that carries no secret.

URLs: `ssh://[user@]host[:port]/path`, scp-style `user@host:path`, `https://` and `http://` (the
credentials come from the GitAuth, never from the URL: a password in a URL is refused), and, only
when the writer allows it (tests, local tooling), `file://` URLs and absolute paths.

HTTP(S) goes through dulwich's urllib3 client: Basic auth (a token is the password), the CA bundle
given to urllib3 as data (it then trusts that bundle only, as git's http.sslCAInfo does), proxies
from the environment as dulwich reads them, a timeout on every request.

A push never forces: `push` sends `old → new` only if the server still advertises `old` for the
ref, and the server checks `old` again under its ref lock, so a concurrent writer's commit is never
overwritten. A moved ref comes back as "moved" (the writer fetches and re-applies); any other
refusal is PushRejected.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from dulwich.client import (
    GitClient,
    HTTPProxyUnauthorized,
    HTTPUnauthorized,
    LocalGitClient,
    SSHGitClient,
    Urllib3HttpGitClient,
    default_urllib3_manager,
)
from dulwich.errors import GitProtocolError, NotGitRepository
from dulwich.file import FileLocked
from dulwich.objects import ZERO_SHA, ObjectID
from dulwich.pack import UnpackedObject
from dulwich.protocol import Protocol
from dulwich.refs import Ref
from dulwich.repo import Repo

from irc.gitops import errors
from irc.gitops.auth import GitAuth
from irc.gitops.errors import GitError, InvalidGitURL, PushRejected, Redactor, display_url
from irc.gitops.ssh import ssh_vendor

Kind = Literal["ssh", "http", "local"]
# Refusals that mean "the ref moved under you": git's receive-pack, GitLab, dulwich's local client.
RETRYABLE_REFUSAL = re.compile(
    r"non-fast-forward|fetch first|failed to update ref|cannot lock ref|failed to lock|"
    r"incorrect old value|stale info|unable to set|reference already exists",
    re.IGNORECASE,
)
_SCP = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]/]+\]|[^/:]+):(?P<path>.*)$")


@dataclass(frozen=True)
class GitURL:
    kind: Kind
    display: str
    """The URL as it may be logged."""
    host: str | None = None
    port: int | None = None
    username: str | None = None
    path: str = ""
    """The repository path on the server (SSH, local) or "" (HTTP: it is in base_url)."""
    base_url: str | None = None
    """HTTP(S) only: the URL without userinfo."""

    def __str__(self) -> str:
        return self.display


def parse_url(url: str, *, allow_local: bool = False) -> GitURL:
    """The transport for `url`; InvalidGitURL (terminal) for anything irc cannot or will not use."""
    shown = display_url(url.strip())
    url = url.strip()
    if not url:
        raise InvalidGitURL("the repository URL is empty")
    if "://" not in url:
        if url.startswith("/"):
            return _local(url, shown, allow_local)
        match = _SCP.match(url)
        if not match or not match["path"]:
            raise InvalidGitURL(f"{shown!r} is neither a URL nor an scp-style user@host:path")
        return GitURL(
            "ssh", shown, host=match["host"].strip("[]"), username=match["user"], path=match["path"]
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidGitURL(f"{shown!r} is not a valid URL: {e}") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _local(unquote(parts.path), shown, allow_local)
    if parts.password is not None:
        raise InvalidGitURL(f"{shown!r} carries a password; put credentials in the Secret")
    if not parts.hostname:
        raise InvalidGitURL(f"{shown!r} has no host")
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        path = unquote(parts.path)
        if not path or path == "/":
            raise InvalidGitURL(f"{shown!r} names no repository")
        return GitURL("ssh", shown, host=parts.hostname, port=port, username=parts.username, path=path)
    if scheme in ("http", "https"):
        netloc = parts.netloc.rpartition("@")[2]
        base = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
        return GitURL("http", shown, host=parts.hostname, port=port, username=parts.username, base_url=base)
    raise InvalidGitURL(f"{shown!r}: scheme {parts.scheme!r} is not supported (use ssh or https)")


def _local(path: str, shown: str, allowed: bool) -> GitURL:
    if not allowed:
        raise InvalidGitURL(f"{shown!r} is a local path; only ssh and https repositories are allowed")
    return GitURL("local", shown, path=str(Path(path)))


class _Moved(Exception):
    """The ref is not where the push expected it (raised inside dulwich's update_refs callback)."""


class Remote:
    """A dulwich client bound to one repository, with errors translated (use `connect`)."""

    def __init__(self, client: GitClient, url: GitURL, redact: Redactor) -> None:
        self.client, self.url, self._redact = client, url, redact

    def fetch(self, repo: Repo, names: Sequence[Ref], depth: int | None) -> dict[Ref, ObjectID]:
        """Fetch the refs `names` into `repo`, `depth` commits deep (None: all history), and return
        the server's values for those of them that exist."""

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            shas = {sha for name in names if (sha := refs.get(name)) is not None and sha != ZERO_SHA}
            return sorted(sha for sha in shas if sha not in repo.object_store)

        with self.errors():
            result = self.client.fetch(
                self.url.path, repo, determine_wants=wants, depth=depth, ref_prefix=list(names)
            )
        return {n: sha for n in names if (sha := result.refs.get(n)) is not None and sha != ZERO_SHA}

    def push(self, repo: Repo, ref: Ref, old: ObjectID | None, new: ObjectID) -> Literal["pushed", "moved"]:
        """Move `ref` from `old` (None: create it) to `new`, never forcing. "moved": the server's ref
        is no longer `old` (nothing changed there). PushRejected: any other refusal."""

        def update_refs(advertised: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
            if advertised.get(ref, ZERO_SHA) != (old or ZERO_SHA):
                raise _Moved  # before any object is sent
            return {ref: new}

        def pack(
            have: Set[ObjectID],
            want: Set[ObjectID],
            *,
            ofs_delta: bool = False,
            progress: Callable[[bytes], None] | None = None,
        ) -> tuple[int, Iterator[UnpackedObject]]:
            return repo.generate_pack_data(set(have), set(want), ofs_delta=ofs_delta)

        path = self.url.path.encode()
        try:
            with self.errors():
                result = self.client.send_pack(path, update_refs, pack)
        except (_Moved, FileLocked):  # FileLocked: another local writer holds the ref's lock
            return "moved"
        statuses = result.ref_status
        if statuses is None or ref not in statuses:
            # No report-status from the server: believe only what it advertises now.
            with self.errors():
                current = self.client.get_refs(path).refs.get(ref)
            return "pushed" if current == new else "moved"
        status = statuses[ref]
        if status is None:
            return "pushed"
        reason = self._redact(str(status))
        if RETRYABLE_REFUSAL.search(reason):
            return "moved"
        raise PushRejected(f"{self.url} refused the update of {ref.decode()}: {reason}")

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Translate dulwich's, ssh's and urllib3's failures into GitErrors."""
        try:
            yield
        except (GitError, _Moved, FileLocked):
            raise
        except Exception as e:
            raise classify(e, self.url, self._redact) from None


@contextlib.contextmanager
def connect(
    url: GitURL,
    auth: GitAuth,
    *,
    timeout: float,
    secrets_dir: Path | None = None,
    ssh_program: str = "ssh",
) -> Iterator[Remote]:
    """A Remote for `url` with `auth`; its credential files and connections end with the block."""
    redact = auth.redactor()
    if url.kind == "local":
        yield Remote(LocalGitClient(), url, redact)
        return
    if url.kind == "ssh":
        assert url.host is not None
        with ssh_vendor(auth, timeout=timeout, secrets_dir=secrets_dir, program=ssh_program) as vendor:
            ssh = _SSHClient(url.host, port=url.port, username=url.username, vendor=vendor)
            try:
                yield Remote(ssh, url, redact)
            finally:
                ssh.close_all()
        return
    assert url.base_url is not None
    pool = _pool_manager(url.base_url, auth.ca_bundle, timeout)
    username = auth.username if auth.password is not None else None
    http = _HTTPClient(
        url.base_url, pool_manager=pool, username=username, password=auth.password, timeout=timeout
    )
    try:
        yield Remote(http, url, redact)
    finally:
        http.close_all()
        pool.clear()


# dulwich leaves a connection open on some error paths (an ssh process whose server hung up during
# negotiation, an HTTP error response): these clients remember what they open, and `connect`
# closes all of it, so a failed attempt leaks no process, pipe or socket.


class _SSHClient(SSHGitClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened: list[Protocol] = []

    def _connect(
        self, cmd: bytes, path: str | bytes, protocol_version: int | None = None
    ) -> tuple[Protocol, Callable[[], bool], IO[bytes] | None]:
        connection = super()._connect(cmd, path, protocol_version)
        self._opened.append(connection[0])
        return connection

    def close_all(self) -> None:
        for proto in self._opened:
            with contextlib.suppress(Exception):
                proto.close()  # idempotent; waits for the ssh process
        self._opened.clear()


class _HTTPClient(Urllib3HttpGitClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._responses: list[Any] = []

    def _http_request(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        data: bytes | Iterator[bytes] | None = None,
        raise_for_status: bool = True,
    ) -> tuple[Any, Callable[[int], bytes]]:
        response, read = super()._http_request(url, headers, data, raise_for_status=False)
        self._responses.append(response)
        status = response.status
        if raise_for_status and status != 200:
            response.close()  # dulwich would raise with the response (and its socket) still open
            if status == 404:
                raise NotGitRepository
            if status == 401:
                raise HTTPUnauthorized(response.headers.get("WWW-Authenticate"), url)
            if status == 407:
                raise HTTPProxyUnauthorized(response.headers.get("Proxy-Authenticate"), url)
            raise GitProtocolError(f"unexpected http resp {status} for {url}")
        return response, read

    def close_all(self) -> None:
        for response in self._responses:
            with contextlib.suppress(Exception):
                response.close()
        self._responses.clear()


def _pool_manager(base_url: str, ca_bundle: bytes | None, timeout: float) -> urllib3.PoolManager:
    ca = ca_bundle.decode("ascii", "replace") if ca_bundle is not None else None
    # dulwich calls these as classes; partials add the CA bundle to every connection pool.
    pool_cls: Any = functools.partial(urllib3.PoolManager, ca_cert_data=ca)
    proxy_cls: Any = functools.partial(urllib3.ProxyManager, ca_cert_data=ca)
    manager = default_urllib3_manager(
        None, base_url=base_url, timeout=timeout, pool_manager_cls=pool_cls, proxy_manager_cls=proxy_cls
    )
    assert isinstance(manager, urllib3.PoolManager)
    return manager


def classify(error: BaseException, url: GitURL, redact: Redactor) -> GitError:
    """The GitError for a transport failure: ssh's stderr, dulwich's exceptions and urllib3's, read
    for the few situations that need their own reason; the rest is GitOperationFailed."""
    text = redact(" ".join(str(error).split()))
    if isinstance(error, HTTPUnauthorized):
        return errors.GitAuthFailed(f"{url} refused the credentials (HTTP 401)")
    if isinstance(error, HTTPProxyUnauthorized):
        return errors.GitAuthFailed(f"the proxy for {url} refused the credentials (HTTP 407)")
    if isinstance(error, NotGitRepository):
        return errors.GitRepositoryNotFound(f"{url}: no repository there")
    if isinstance(error, FileNotFoundError) and url.kind == "ssh":
        return GitError(f"cannot run ssh for {url}: {text}")
    if not isinstance(error, GitProtocolError | OSError | urllib3.exceptions.HTTPError):
        return GitError(f"{url}: {type(error).__name__}: {text}")
    if (
        "REMOTE HOST IDENTIFICATION HAS CHANGED" in text
        or "has changed and you have requested strict" in text
    ):
        offered = re.search(r"(SHA256:[A-Za-z0-9+/=]+)", text)
        seen = f" (the server offered {offered.group(1).rstrip('.')})" if offered else ""
        return errors.GitHostKeyMismatch(f"the host key of {url.host} does not match known_hosts{seen}")
    if unknown := re.search(r"No (\S+) host key is known for (\S+)", text):
        return errors.GitHostKeyUnknown(
            f"known_hosts has no {unknown.group(1)} key for {unknown.group(2)} "
            "(a server on a port other than 22 is written [host]:port)"
        )
    if "Host key verification failed" in text:
        return errors.GitHostKeyUnknown(
            f"the host key of {url.host} could not be verified against known_hosts"
        )
    if "Permission denied" in text or "unexpected http resp 403" in text:
        return errors.GitAuthFailed(f"{url} refused the credentials: {text}")
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "certificate verify failed" in text:
        return errors.GitTLSFailed(f"the TLS certificate of {url} does not verify (CA bundle?): {text}")
    if re.search(r"does not appear to be a git repository|repository .*not found|No such file", text, re.I):
        return errors.GitRepositoryNotFound(f"{url}: {text}")
    if re.search(
        r"Could not resolve|Name or service not known|Connection refused|timed out|No route to host|"
        r"Network is unreachable|Connection (closed|reset|broken|aborted)|Max retries exceeded|Broken pipe|"
        r"unexpected http resp 5\d\d|kex_exchange_identification|unexpectedly closed the connection",
        text,
        re.I,
    ):
        return errors.GitUnreachable(f"cannot reach {url}: {text}")
    return GitError(f"{url}: {text}")
