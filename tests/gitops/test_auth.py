"""irc.gitops.auth and the redaction in irc.gitops.errors: a Secret's data becomes GitAuth with the
seed's keys first, and no secret shows in a repr, a description, a message or a URL."""

from __future__ import annotations

import pytest

from irc.gitops import GitAuth, GitCredentialsInvalid
from irc.gitops import errors as gitops_errors
from irc.gitops.errors import Redactor, display_url

KEY = (
    b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
    b"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    b"QyNTUxOQAAACBzZWNyZXQta2V5LW1hdGVyaWFsLW5vdC1yZWFsLTAwMDAwMDAwMAAAAJg\n"
    b"-----END OPENSSH PRIVATE KEY-----\n"
)
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TOKEN, PASSWORD, PASSPHRASE = "ghp_tokentokentoken123", "hunter2-password", "open-sesame-42"


def test_a_token_is_the_basic_password_of_x_access_token() -> None:
    auth = GitAuth.from_secret_data({"token": TOKEN.encode() + b"\n"})
    assert (auth.username, auth.password, auth.method) == ("x-access-token", TOKEN, "token")


def test_a_token_with_a_username_keeps_it() -> None:
    auth = GitAuth.from_secret_data({"token": TOKEN.encode(), "username": b"oauth2"})
    assert (auth.username, auth.password, auth.method) == ("oauth2", TOKEN, "token")


def test_the_token_comes_before_username_and_password() -> None:
    auth = GitAuth.from_secret_data({"token": TOKEN, "username": "bot", "password": PASSWORD})
    assert (auth.username, auth.password, auth.token) == ("bot", TOKEN, True)


def test_username_and_password() -> None:
    auth = GitAuth.from_secret_data({"username": b"bot", "password": PASSWORD.encode()})
    assert (auth.username, auth.password, auth.method) == ("bot", PASSWORD, "basic")


def test_a_password_needs_a_username() -> None:
    with pytest.raises(GitCredentialsInvalid, match="no `username`"):
        GitAuth.from_secret_data({"password": PASSWORD.encode()})


def test_an_ssh_key_with_passphrase_and_known_hosts() -> None:
    auth = GitAuth.from_secret_data(
        {
            "ssh-privatekey": KEY.replace(b"\n", b"\r\n").rstrip(),
            "ssh-passphrase": PASSPHRASE.encode() + b"\n",
            "known_hosts": b"[git.example]:2222 ssh-ed25519 AAAA\n",
        }
    )
    assert auth.method == "ssh"
    assert auth.ssh_private_key == KEY  # Unix newlines and the final newline ssh needs
    assert auth.ssh_passphrase == PASSPHRASE
    assert auth.known_hosts == b"[git.example]:2222 ssh-ed25519 AAAA\n"
    assert not auth.insecure_skip_host_key_check


def test_flux_key_names_are_read_when_the_seeds_are_absent() -> None:
    auth = GitAuth.from_secret_data({"identity": KEY, "caFile": CA})
    assert auth.ssh_private_key == KEY and auth.ca_bundle == CA
    seed_first = GitAuth.from_secret_data({"ssh-privatekey": KEY, "identity": b"ignored"})
    assert seed_first.ssh_private_key == KEY


def test_the_ca_bundle_from_the_secret_or_from_elsewhere() -> None:
    assert GitAuth.from_secret_data({"ca.crt": CA}).ca_bundle == CA
    assert GitAuth.from_secret_data({}, ca_bundle=CA).ca_bundle == CA
    other = CA.replace(b"MIIB", b"MIIC")
    assert GitAuth.from_secret_data({"ca.crt": CA}, ca_bundle=other).ca_bundle == CA
    with pytest.raises(GitCredentialsInvalid, match="no PEM certificate"):
        GitAuth.from_secret_data({"ca.crt": b"not a certificate"})


def test_empty_values_count_as_absent() -> None:
    auth = GitAuth.from_secret_data({"token": b"", "username": b"\n", "known_hosts": b"  \n"})
    assert auth == GitAuth()
    assert auth.method == "anonymous"


def test_the_host_key_opt_out_is_an_argument_only() -> None:
    assert not GitAuth.from_secret_data(
        {"insecure_skip_host_key_check": b"true", "ssh-privatekey": KEY}
    ).insecure_skip_host_key_check
    assert GitAuth.from_secret_data(
        {"ssh-privatekey": KEY}, insecure_skip_host_key_check=True
    ).insecure_skip_host_key_check


def test_malformed_data_is_refused_without_showing_it() -> None:
    with pytest.raises(GitCredentialsInvalid, match="not a PEM or OpenSSH private key") as caught:
        GitAuth.from_secret_data({"ssh-privatekey": b"secret-garbage-value"})
    assert "secret-garbage-value" not in str(caught.value)
    with pytest.raises(GitCredentialsInvalid, match="`token` is not UTF-8"):
        GitAuth.from_secret_data({"token": b"\xff\xfe-secret"})


def _everything() -> GitAuth:
    return GitAuth.from_secret_data(
        {
            "token": TOKEN,
            "ssh-privatekey": KEY,
            "ssh-passphrase": PASSPHRASE,
            "known_hosts": b"host ssh-ed25519 AAAA",
            "ca.crt": CA,
        }
    )


def test_no_secret_in_repr_str_or_description() -> None:
    auth = _everything()
    for text in (repr(auth), str(auth), auth.describe(), f"{auth!r:>10}"):
        assert TOKEN not in text and PASSPHRASE not in text
        assert "PRIVATE KEY" not in text and "b3BlbnNzaC1rZXktdjEA" not in text
    assert auth.describe() == "token, user x-access-token, ssh key with passphrase, known_hosts, CA bundle"


def test_the_redactor_hides_every_secret_of_the_auth() -> None:
    redact = _everything().redactor()
    text = (
        f"fatal: {TOKEN} {PASSPHRASE} QyNTUxOQAAACBzZWNyZXQta2V5LW1hdGVyaWFsLW5vdC1yZWFsLTAwMDAwMDAwMAAAAJg"
    )
    assert redact(text) == "fatal: *** *** ***"
    assert "Redactor(" in repr(redact) and TOKEN not in repr(redact)


def test_the_redactor_hides_url_passwords_and_ignores_tiny_secrets() -> None:
    redact = Redactor(["ab", None, b"", "longer-secret"])
    assert redact("https://bot:pa55@git.example/x.git and longer-secret, ab") == (
        "https://bot:***@git.example/x.git and ***, ab"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bot:pa55@git.example:8443/x.git", "https://bot:***@git.example:8443/x.git"),
        ("https://git.example/x.git", "https://git.example/x.git"),
        ("ssh://git@git.example/x.git", "ssh://git@git.example/x.git"),
        ("git@git.example:x.git", "git@git.example:x.git"),
        ("https://:tok@[::1]/x.git", "https://:***@[::1]/x.git"),
    ],
)
def test_display_url(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_every_error_reason_is_its_class_name() -> None:
    classes = [
        c
        for c in vars(gitops_errors).values()
        if isinstance(c, type) and issubclass(c, gitops_errors.GitError)
    ]
    assert len(classes) == 16
    for cls in classes:
        error = cls("message")
        expected = "GitOperationFailed" if cls is gitops_errors.GitError else cls.__name__
        assert (error.reason, error.message, str(error)) == (expected, "message", "message")
    terminal = {c.__name__ for c in classes if c("m").terminal}
    assert terminal == {"InvalidGitURL", "InvalidBranchName", "PathEscapesRepository", "PathConflict"}
    assert gitops_errors.PushRejected("m", terminal=True).terminal
