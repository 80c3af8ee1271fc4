"""A Docker registry token server (the WWW-Authenticate bearer challenge flow), for the test bed.

The registry answers 401 with `Bearer realm=…,service=…,scope=…`; the client asks this server for a
token with those parameters (and basic credentials, if it has them) and retries with the token.
Known users get every action they ask for; anonymous callers get `pull` only on repositories under
the configured public prefixes, and nothing else. Tokens are RS256 JWTs carrying the signing
certificate in `x5c`, which the registry verifies against its `rootcertbundle`.

Run: python -m hack.testbed.tokenserver --port P --cert C --key K --issuer I --users users.json
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import secrets
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TOKEN_TTL = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Access:
    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, scope: str) -> Access:
        """`repository:team/app:pull,push` → Access; the name itself may hold colons."""
        kind, sep, rest = scope.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not (sep and sep2 and kind and name):
            raise ValueError(f"malformed scope {scope!r}")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))


def grant(
    requested: Sequence[Access], user: str | None, public_prefixes: Sequence[str]
) -> list[dict[str, object]]:
    """The access a token carries: all for a known user, pull on public repositories for anyone."""
    granted: list[dict[str, object]] = []
    for acc in requested:
        if user is not None:
            actions = acc.actions
        elif acc.type == "repository" and any(acc.name.startswith(p) for p in public_prefixes):
            actions = tuple(a for a in acc.actions if a == "pull")
        else:
            actions = ()
        granted.append({"type": acc.type, "name": acc.name, "actions": list(actions)})
    return granted


class Signer:
    def __init__(self, cert_pem: bytes, key_pem: bytes, issuer: str) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the token signing key must be RSA (RS256)")
        self._key = key
        self._x5c = base64.b64encode(
            x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
        ).decode()
        self.issuer = issuer

    def token(self, subject: str, audience: str, access: list[dict[str, object]], now: float) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": int(now),
            "nbf": int(now) - 10,
            "exp": int(now) + TOKEN_TTL,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def _basic_user(header: str | None, users: Mapping[str, str]) -> str | bool | None:
    """The authenticated user, None when no credentials were sent, False when they are wrong."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        name, _, password = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    if name in users and secrets.compare_digest(users[name], password):
        return name
    return False


def make_handler(
    signer: Signer, users: Mapping[str, str], public_prefixes: Sequence[str]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.send_error(404)
                return
            query = urllib.parse.parse_qs(url.query)
            user = _basic_user(self.headers.get("Authorization"), users)
            if user is False:
                self._json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]})
                return
            try:
                requested = [Access.parse(s) for scope in query.get("scope", []) for s in scope.split(" ")]
            except ValueError as e:
                self._json(400, {"errors": [{"code": "DENIED", "message": str(e)}]})
                return
            assert user is None or isinstance(user, str)
            service = query.get("service", [""])[0]
            now = time.time()
            token = signer.token(user or "", service, grant(requested, user, public_prefixes), now)
            issued = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
            self._json(
                200, {"token": token, "access_token": token, "expires_in": TOKEN_TTL, "issued_at": issued}
            )

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--users", type=Path, required=True, help="JSON object of user name to password")
    parser.add_argument("--public-prefix", action="append", default=[])
    args = parser.parse_args(argv)
    signer = Signer(args.cert.read_bytes(), args.key.read_bytes(), args.issuer)
    users = json.loads(args.users.read_text())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(signer, users, args.public_prefix))
    server.serve_forever()


if __name__ == "__main__":
    main()
