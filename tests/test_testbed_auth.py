"""The test bed's token server and Git HTTP server decide access as documented."""

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hack.testbed import githttp, tokenserver
from hack.testbed.pki import CA


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_scope_parsing_keeps_colons_in_names() -> None:
    assert tokenserver.Access.parse("repository:team/app:pull,push") == tokenserver.Access(
        "repository", "team/app", ("pull", "push")
    )
    assert tokenserver.Access.parse("registry:catalog:*").actions == ("*",)
    assert tokenserver.Access.parse("repository:host:5000/app:pull").name == "host:5000/app"
    with pytest.raises(ValueError):
        tokenserver.Access.parse("repository-only")


def test_grants_everything_to_users_and_public_pull_to_anonymous() -> None:
    requested = [
        tokenserver.Access.parse("repository:public/a:pull,push"),
        tokenserver.Access.parse("repository:private/b:pull"),
    ]
    assert [g["actions"] for g in tokenserver.grant(requested, "irc", ["public/"])] == [
        ["pull", "push"],
        ["pull"],
    ]
    assert [g["actions"] for g in tokenserver.grant(requested, None, ["public/"])] == [["pull"], []]


def test_tokens_are_rs256_jwts_signed_by_the_x5c_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pair = CA(tmp_path).issue("signer", "issuer", client=True, key_type="rsa")
    signer = tokenserver.Signer(pair.cert.read_bytes(), pair.key.read_bytes(), "issuer")
    token = signer.token("irc", "service", [{"type": "repository", "name": "a", "actions": ["pull"]}], 1000.0)
    head, claims, signature = token.split(".")

    def decode(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    header = json.loads(decode(head))
    assert header["alg"] == "RS256"
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(decode(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    body = json.loads(decode(claims))
    assert (body["iss"], body["aud"], body["sub"]) == ("issuer", "service", "irc")
    assert body["exp"] - body["iat"] == tokenserver.TOKEN_TTL


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        (_basic("irc", "pw"), "irc"),
        (_basic("irc", "wrong"), None),
        (_basic("x-access-token", "tok"), "x-access-token"),
        ("Bearer tok", "token"),
        ("Bearer nope", None),
        ("Basic !!!not-base64", None),
        ("Digest abc", None),
    ],
)
def test_git_http_accepts_password_or_token(header: str | None, expected: str | None) -> None:
    assert githttp.authenticate(header, "irc", "pw", "tok") == expected
