"""irc.gitops.transport: which URLs are accepted, how a push's answer is read (a moved ref is
retried, any other refusal is PushRejected), and how transport failures become reasons without
leaking secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
import urllib3
from dulwich.client import GitClient, HTTPUnauthorized, LsRemoteResult, SendPackResult
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo

from irc.gitops import GitAuth, InvalidGitURL, PushRejected
from irc.gitops.errors import Redactor
from irc.gitops.transport import GitURL, Remote, classify, parse_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "ssh://git@github.com/org/fleet.git",
            GitURL("ssh", "ssh://git@github.com/org/fleet.git", "github.com", None, "git", "/org/fleet.git"),
        ),
        (
            "ssh://irc@127.0.0.1:2222/srv/repos/a%20b.git",
            GitURL(
                "ssh",
                "ssh://irc@127.0.0.1:2222/srv/repos/a%20b.git",
                "127.0.0.1",
                2222,
                "irc",
                "/srv/repos/a b.git",
            ),
        ),
        (
            "git@github.com:org/fleet.git",
            GitURL("ssh", "git@github.com:org/fleet.git", "github.com", None, "git", "org/fleet.git"),
        ),
        (
            "gitlab.example:fleet.git",
            GitURL("ssh", "gitlab.example:fleet.git", "gitlab.example", None, None, "fleet.git"),
        ),
        (
            "https://git.example/org/fleet.git",
            GitURL(
                "http",
                "https://git.example/org/fleet.git",
                "git.example",
                None,
                None,
                "",
                "https://git.example/org/fleet.git",
            ),
        ),
        (
            "http://bot@127.0.0.1:8080/fleet.git",
            GitURL(
                "http",
                "http://bot@127.0.0.1:8080/fleet.git",
                "127.0.0.1",
                8080,
                "bot",
                "",
                "http://127.0.0.1:8080/fleet.git",
            ),
        ),
    ],
)
def test_urls(url: str, expected: GitURL) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("https://bot:s3cret-pass@git.example/x.git", "carries a password"),
        ("git://git.example/x.git", "not supported"),
        ("ftp://git.example/x.git", "not supported"),
        ("https:///x.git", "no host"),
        ("ssh://git.example", "names no repository"),
        ("/srv/git/fleet.git", "local path"),
        ("file:///srv/git/fleet.git", "local path"),
        ("fleet", "neither a URL nor"),
        ("https://git.example:99999/x.git", "not a valid URL"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidGitURL, match=reason) as caught:
        parse_url(url)
    assert caught.value.terminal and "s3cret-pass" not in caught.value.message


def test_local_urls_when_allowed() -> None:
    assert parse_url("file:///srv/git/fleet.git", allow_local=True) == GitURL(
        "local", "file:///srv/git/fleet.git", path="/srv/git/fleet.git"
    )
    assert parse_url("/srv/git/fleet.git", allow_local=True).path == "/srv/git/fleet.git"


SSH = parse_url("ssh://git@127.0.0.1:2222/r.git")
HTTPS = parse_url("https://127.0.0.1:8443/r.git")
NO_REDACTION = Redactor()


def _hangup(*lines: str) -> HangupException:
    return HangupException([line.encode() for line in lines])


@pytest.mark.parametrize(
    ("error", "url", "reason", "message"),
    [
        (
            _hangup(
                "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r",
                "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r",
                "The fingerprint for the ED25519 key sent by the remote host is",
                "SHA256:qDqJmXxOVHqpj56NDQOeXz86Inv23edVjsf2pJs8J/Y.\r",
                "Host key verification failed.\r",
            ),
            SSH,
            "GitHostKeyMismatch",
            "the host key of 127.0.0.1 does not match known_hosts (the server offered "
            "SHA256:qDqJmXxOVHqpj56NDQOeXz86Inv23edVjsf2pJs8J/Y)",
        ),
        (
            _hangup(
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r",
                "Host key verification failed.\r",
            ),
            SSH,
            "GitHostKeyUnknown",
            "known_hosts has no ED25519 key for [127.0.0.1]:2222 (a server on a port other than 22 is "
            "written [host]:port)",
        ),
        (_hangup("Host key verification failed.\r"), SSH, "GitHostKeyUnknown", "could not be verified"),
        (
            _hangup("git@127.0.0.1: Permission denied (publickey).\r"),
            SSH,
            "GitAuthFailed",
            "refused the credentials",
        ),
        (
            _hangup("ssh: connect to host 127.0.0.1 port 2222: Connection refused\r"),
            SSH,
            "GitUnreachable",
            "cannot reach",
        ),
        (
            _hangup("ssh: Could not resolve hostname nope: Name or service not known"),
            SSH,
            "GitUnreachable",
            "cannot reach",
        ),
        (_hangup(), SSH, "GitUnreachable", "unexpectedly closed the connection"),  # ssh died, said nothing
        (BrokenPipeError(32, "Broken pipe"), SSH, "GitUnreachable", "Broken pipe"),  # writing to a dead ssh
        (
            _hangup("fatal: '/r.git' does not appear to be a git repository"),
            SSH,
            "GitRepositoryNotFound",
            "does not appear",
        ),
        (
            HTTPUnauthorized('Basic realm="x"', "https://127.0.0.1:8443/r.git"),
            HTTPS,
            "GitAuthFailed",
            "HTTP 401",
        ),
        (GitProtocolError("unexpected http resp 403 for https://x"), HTTPS, "GitAuthFailed", "403"),
        (NotGitRepository(), HTTPS, "GitRepositoryNotFound", "no repository there"),
        (
            GitProtocolError(
                "HTTPSConnectionPool(host='127.0.0.1', port=8443): Max retries exceeded (Caused by SSLError("
                "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))"
            ),
            HTTPS,
            "GitTLSFailed",
            "does not verify",
        ),
        (GitProtocolError("unexpected http resp 502 for https://x"), HTTPS, "GitUnreachable", "cannot reach"),
        (
            urllib3.exceptions.ReadTimeoutError(cast(Any, None), "u", "Read timed out."),
            HTTPS,
            "GitUnreachable",
            "cannot reach",
        ),
        (
            urllib3.exceptions.ProtocolError(
                "Connection broken: IncompleteRead(0 bytes read, 216 more expected)"
            ),
            HTTPS,
            "GitUnreachable",
            "cannot reach",
        ),
        (GitProtocolError("something new"), HTTPS, "GitOperationFailed", "something new"),
        (ValueError("odd"), HTTPS, "GitOperationFailed", "ValueError: odd"),
    ],
)
def test_classify(error: BaseException, url: GitURL, reason: str, message: str) -> None:
    classified = classify(error, url, NO_REDACTION)
    assert classified.reason == reason
    assert message in classified.message
    assert not classified.terminal


def test_classify_redacts_what_the_server_echoed() -> None:
    auth = GitAuth(username="bot", password="tok-0123456789", ssh_passphrase="passphrase-xyz")
    error = GitProtocolError("remote: invalid token tok-0123456789 (passphrase-xyz) for https://bot:tok@h/x")
    message = classify(error, HTTPS, auth.redactor()).message
    assert "tok-0123456789" not in message and "passphrase-xyz" not in message and "bot:tok@" not in message
    assert "remote: invalid token *** (***) for https://bot:***@h/x" in message


OLD, NEW, OTHER = (ObjectID(c * 40) for c in (b"1", b"2", b"3"))
REF = Ref(b"refs/heads/main")


class StubClient:
    """send_pack with a given advertisement and answer; get_refs for servers without report-status."""

    def __init__(self, advertised: dict[Ref, ObjectID], status: dict[bytes, str | None] | None) -> None:
        self.advertised, self.status = advertised, status
        self.sent: dict[Ref, ObjectID] | None = None
        self.after: dict[Ref, ObjectID] = dict(advertised)

    def send_pack(
        self, path: bytes, update_refs: Callable[[dict[Ref, ObjectID]], Any], pack: Any
    ) -> SendPackResult:
        self.sent = update_refs(dict(self.advertised))
        return SendPackResult(dict(self.sent), ref_status=self.status)

    def get_refs(self, path: bytes) -> LsRemoteResult:
        return LsRemoteResult(dict(self.after), {})


def _push(client: StubClient, old: ObjectID | None = OLD) -> str:
    remote = Remote(cast(GitClient, client), SSH, NO_REDACTION)
    return remote.push(cast(Repo, None), REF, old, NEW)


def test_a_push_is_a_compare_and_swap() -> None:
    client = StubClient({REF: OLD}, {REF: None})
    assert _push(client) == "pushed" and client.sent == {REF: NEW}


def test_a_ref_that_moved_is_not_pushed() -> None:
    client = StubClient({REF: OTHER}, {REF: None})
    assert _push(client) == "moved" and client.sent is None  # no update was sent


def test_a_new_branch_must_still_be_missing() -> None:
    assert _push(StubClient({}, {REF: None}), old=None) == "pushed"
    assert _push(StubClient({REF: OTHER}, {REF: None}), old=None) == "moved"


@pytest.mark.parametrize(
    "status",
    [
        "failed to update ref",
        "cannot lock ref 'refs/heads/main': is at 3 but expected 1",
        "non-fast-forward",
        "fetch first",
        "incorrect old value provided",
        "stale info",
    ],
)
def test_a_race_lost_at_the_server_is_moved(status: str) -> None:
    assert _push(StubClient({REF: OLD}, {REF: status})) == "moved"


def test_any_other_refusal_is_push_rejected() -> None:
    with pytest.raises(PushRejected, match="pre-receive hook declined") as caught:
        _push(StubClient({REF: OLD}, {REF: "pre-receive hook declined"}))
    assert not caught.value.terminal


def test_without_report_status_the_server_is_asked_again() -> None:
    client = StubClient({REF: OLD}, None)
    client.after = {REF: NEW}
    assert _push(client) == "pushed"
    client.after = {REF: OTHER}
    assert _push(client) == "moved"
