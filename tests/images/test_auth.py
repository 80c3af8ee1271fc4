"""irc.images.auth: the WWW-Authenticate grammar, dockerconfig keychains, the bearer token flow and
its cache (on a fake clock), and TLS/plain-HTTP options (ECR tokens: tests/ecr/test_tokens.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hack.testbed.pki import CA
from irc.images.auth import (
    DOCKER_HUB,
    Authenticator,
    Challenge,
    Credentials,
    Keychain,
    RegistryOptions,
    TokenError,
    api_host,
    normalize_host,
    parse_challenge,
    parse_challenges,
    parse_retry_after,
)
from irc.runtime.testing import FakeClock


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull",
            },
        ),
        (
            'Bearer realm="https://r.example/token", scope="repository:a/b:pull,push repository:c:pull"',
            "bearer",
            {"realm": "https://r.example/token", "scope": "repository:a/b:pull,push repository:c:pull"},
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        ('basic Realm="x"', "basic", {"realm": "x"}),
        ("Basic realm=unquoted", "basic", {"realm": "unquoted"}),
        ('Bearer realm = "spaced" , service = svc', "bearer", {"realm": "spaced", "service": "svc"}),
        (
            r'Bearer realm="say \"hi\"",error="insufficient_scope"',
            "bearer",
            {"realm": 'say "hi"', "error": "insufficient_scope"},
        ),
        ("Bearer", "bearer", {}),
        ('Bearer realm="a,b=c"', "bearer", {"realm": "a,b=c"}),
        ('Bearer realm="",', "bearer", {"realm": ""}),
    ],
)
def test_challenges_parse(header: str, scheme: str, params: dict[str, str]) -> None:
    assert parse_challenge(header) == Challenge(scheme, params)


def test_several_challenges_in_one_header() -> None:
    found = parse_challenges('Basic realm="b", Bearer realm="https://t/token",service="s"')
    assert found == [
        Challenge("basic", {"realm": "b"}),
        Challenge("bearer", {"realm": "https://t/token", "service": "s"}),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        ",",
        'realm="x"',
        '"Bearer" realm="x"',
        'Bearer realm="unterminated',
        "Bearer realm=",
        'Bearer realm="a" junk',
        'Bearer realm="a", realm="b"',
        "Negotiate abc==",
        'Bearer realm="a" service="b" =c',
        "Bearer @realm=x",
    ],
)
def test_malformed_challenges_raise(header: str) -> None:
    with pytest.raises(ValueError):
        parse_challenge(header)


def test_retry_after() -> None:
    assert parse_retry_after("0") == 0.0 and parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("Wed, 21 Oct 2099 07:28:00 GMT") > 1e9  # type: ignore[operator]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_keychain_from_dockerconfigjson() -> None:
    config = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": b64("hubuser:hub:pass")},
            "ghcr.io": {"username": "gh", "password": "ghp"},
            "http://127.0.0.1:5000/v2/": {"auth": b64("local:pw")},
            "Registry.Example.com:8443": {"identitytoken": "refresh"},
            "tokens.example": {"registrytoken": "bearer-value"},
            "empty.example": {},
        }
    }
    chain = Keychain.from_docker_config(json.dumps(config))
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"):
        assert chain.lookup(alias) == Credentials("hubuser", "hub:pass")  # the password may hold ':'
    assert chain.lookup("ghcr.io") == Credentials("gh", "ghp")
    assert chain.lookup("127.0.0.1:5000") == Credentials("local", "pw")
    assert chain.lookup("127.0.0.1:5001") is None and chain.lookup("127.0.0.1") is None
    assert chain.lookup("registry.example.com:8443") == Credentials(identity_token="refresh")
    assert chain.lookup("tokens.example") == Credentials(registry_token="bearer-value")
    assert chain.lookup("quay.io") is None and chain.lookup("empty.example") is None
    assert chain.hosts == sorted(
        ["docker.io", "ghcr.io", "127.0.0.1:5000", "registry.example.com:8443", "tokens.example"]
    )


def test_keychain_from_secret_data_and_precedence() -> None:
    first = {
        ".dockerconfigjson": b64(json.dumps({"auths": {"docker.io": {"username": "a", "password": "1"}}}))
    }
    legacy = {
        ".dockercfg": b64(
            json.dumps({"index.docker.io": {"auth": b64("b:2")}, "quay.io": {"auth": b64("q:3")}})
        )
    }
    chain = Keychain.from_secret_data(first)
    chain.extend(Keychain.from_secret_data(legacy))
    assert chain.lookup("docker.io") == Credentials("a", "1")  # the first Secret wins
    assert chain.lookup("quay.io") == Credentials("q", "3")
    assert chain.authenticator("quay.io").host == "quay.io"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {".dockerconfigjson": "not base64!"},
        {".dockerconfigjson": b64("[]")},
        {".dockerconfigjson": b64('{"auths": []}')},
        {".dockerconfigjson": b64('{"auths": {"x.io": "nope"}}')},
        {".dockerconfigjson": b64(json.dumps({"auths": {"x.io": {"auth": b64("no-colon")}}}))},
        {".dockerconfigjson": b64(json.dumps({"auths": {"x.io": {"auth": "%%%"}}}))},
    ],
)
def test_bad_secrets_raise(data: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Keychain.from_secret_data(data)


def test_hosts_and_secrets_in_repr() -> None:
    assert normalize_host("HTTPS://Registry-1.Docker.IO/v2/") == DOCKER_HUB
    assert api_host("docker.io") == "registry-1.docker.io" and api_host("ghcr.io") == "ghcr.io"
    creds = Credentials("user", "s3cret", "idtok", "regtok")
    assert "s3cret" not in repr(creds) and "idtok" not in repr(creds) and "regtok" not in repr(creds)
    assert creds.basic == "Basic " + b64("user:s3cret") and Credentials().basic is None


def test_registry_options() -> None:
    assert RegistryOptions().scheme == "https" and RegistryOptions(plain_http=True).scheme == "http"
    with pytest.raises(ValueError):
        RegistryOptions(plain_http=True, insecure=True)
    assert RegistryOptions(insecure=True).ssl_context().check_hostname is False
    assert RegistryOptions().ssl_context().check_hostname is True


def test_an_ssl_context_is_shared_until_its_ca_file_changes(tmp_path: Path) -> None:
    """Loading the system store costs ≈30 ms a context: one per registry client was most of a
    completed backup's check. A CA file rotated on disk (a mounted Secret) is read again."""
    first, second = CA(tmp_path / "first", "first-ca"), CA(tmp_path / "second", "second-ca")
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(first.cert_path.read_bytes())
    options = RegistryOptions(ca_file=str(bundle))
    context = options.ssl_context()
    assert RegistryOptions(ca_file=str(bundle)).ssl_context() is context
    assert RegistryOptions().ssl_context() is not context
    assert [c["subject"] for c in context.get_ca_certs() if "first-ca" in str(c["subject"])]

    bundle.write_bytes(second.cert_path.read_bytes())
    os.utime(bundle, ns=(bundle.stat().st_atime_ns, bundle.stat().st_mtime_ns + 1_000_000))
    rotated = options.ssl_context()
    assert rotated is not context
    assert [c["subject"] for c in rotated.get_ca_certs() if "second-ca" in str(c["subject"])]


class TokenServer:
    """A token realm on 127.0.0.1 that records what it was sent and answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, dict[str, list[str]]]] = []
        self.reply: dict[str, object] = {"token": "t"}
        self.status = 200
        app = web.Application()
        app.router.add_route("*", "/token", self.token)
        self.server = TestServer(app, host="127.0.0.1")

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        query = {k: request.query.getall(k) for k in request.query} | {k: [str(v)] for k, v in form.items()}
        self.requests.append((request.method, request.headers.get("Authorization"), query))
        return web.json_response({**self.reply, "n": len(self.requests)}, status=self.status)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/token"


@pytest.fixture
async def realm() -> AsyncIterator[TokenServer]:
    server = TokenServer()
    await server.server.start_server()
    yield server
    await server.server.close()


PLAIN = RegistryOptions(plain_http=True)
PULL = frozenset({"repository:a/b:pull"})


def bearer(
    realm: TokenServer, creds: Credentials | None = None, clock: FakeClock | None = None
) -> Authenticator:
    """A registry on the realm's own host: its plain-HTTP opt-in covers the realm."""
    auth = Authenticator(realm.realm.split("/")[2], creds, clock=clock or FakeClock())
    auth.learn(Challenge("bearer", {"realm": realm.realm, "service": "svc"}))
    return auth


async def test_token_cached_until_expiry_minus_margin(
    http: aiohttp.ClientSession, realm: TokenServer
) -> None:
    clock = FakeClock()
    auth = bearer(realm, Credentials("u", "p"), clock)
    realm.reply = {"token": "t", "expires_in": 60}
    assert await auth.authorization(http, PULL, options=PLAIN) == "Bearer t"
    clock.advance(49)
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 1
    clock.advance(2)  # 51 s: past 60 - 10
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 2
    method, authorization, query = realm.requests[0]
    assert (method, authorization) == ("GET", "Basic " + b64("u:p"))
    assert query == {"service": ["svc"], "scope": ["repository:a/b:pull"]}


async def test_token_defaults_issued_at_and_access_token(
    http: aiohttp.ClientSession, realm: TokenServer
) -> None:
    clock = FakeClock()
    auth = bearer(realm, None, clock)
    realm.reply = {"access_token": "at"}  # no expires_in: 60 s
    assert await auth.authorization(http, PULL, options=PLAIN) == "Bearer at"
    assert realm.requests[0][1] is None  # anonymous: no credentials at all
    clock.advance(49)
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 1
    clock.advance(2)
    issued = datetime.fromtimestamp(clock.wall() - 30, UTC).isoformat()
    realm.reply = {"token": "t2", "expires_in": 60, "issued_at": issued}  # 30 s of life left
    await auth.authorization(http, PULL, options=PLAIN)
    clock.advance(19)
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 2
    clock.advance(2)  # 21 s: past 30 - 10
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 3


async def test_tokens_are_per_scope_set_and_fetched_once_concurrently(
    http: aiohttp.ClientSession, realm: TokenServer
) -> None:
    auth = bearer(realm)
    push = frozenset({"repository:a/b:pull,push"})
    values = await asyncio.gather(*(auth.authorization(http, PULL, options=PLAIN) for _ in range(5)))
    assert len(set(values)) == 1 and auth.token_requests == 1
    await auth.authorization(http, push, options=PLAIN)
    assert auth.token_requests == 2
    auth.forget(push)
    await auth.authorization(http, push, options=PLAIN)
    await auth.authorization(http, PULL, options=PLAIN)
    assert auth.token_requests == 3


async def test_identity_and_registry_tokens(http: aiohttp.ClientSession, realm: TokenServer) -> None:
    auth = bearer(realm, Credentials(identity_token="refresh-me"))
    await auth.authorization(http, PULL, options=PLAIN)
    method, authorization, form = realm.requests[0]
    assert method == "POST" and authorization is None
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-me"]
    direct = bearer(realm, Credentials(registry_token="given"))
    assert await direct.authorization(http, PULL, options=PLAIN) == "Bearer given"
    assert direct.token_requests == 0


async def test_basic_challenge_and_no_challenge(http: aiohttp.ClientSession) -> None:
    auth = Authenticator("r.example", Credentials("u", "p"))
    assert await auth.authorization(http, PULL, options=PLAIN) is None  # nothing learned yet
    auth.learn(parse_challenge('Basic realm="r"'))
    assert await auth.authorization(http, PULL, options=PLAIN) == "Basic " + b64("u:p")
    anonymous = Authenticator("r.example")
    anonymous.learn(parse_challenge('Basic realm="r"'))
    assert await anonymous.authorization(http, PULL, options=PLAIN) is None


async def test_token_failures(http: aiohttp.ClientSession, realm: TokenServer) -> None:
    auth = bearer(realm, Credentials("u", "wrong"))
    realm.status = 401
    with pytest.raises(TokenError) as caught:
        await auth.authorization(http, PULL, options=PLAIN)
    assert caught.value.status == 401
    realm.status, realm.reply = 200, {"nothing": "here"}
    with pytest.raises(TokenError):
        await auth.authorization(http, PULL, options=PLAIN)
    # a plain-HTTP realm is refused unless the registry was opted into plain HTTP
    with pytest.raises(TokenError, match="plain HTTP"):
        await auth.authorization(http, PULL, options=RegistryOptions())
    assert len(realm.requests) == 2


async def test_a_realm_on_another_host_is_reached_with_that_hosts_options_never_the_registrys(
    http: aiohttp.ClientSession, realm: TokenServer
) -> None:
    """Basic credentials go to a realm elsewhere only as that host is configured: the registry's own
    plain-HTTP opt-in (or --registry-insecure) never covers another host."""
    auth = Authenticator("registry.example", Credentials("u", "secret"), clock=FakeClock())
    auth.learn(Challenge("bearer", {"realm": realm.realm, "service": "svc"}))
    with pytest.raises(TokenError, match=r"plain HTTP but 127\.0\.0\.1:\d+ is not opted into it"):
        await auth.authorization(http, PULL, options=PLAIN)  # only registry.example is opted in
    assert realm.requests == []
    realm_host = realm.realm.split("/")[2]
    options = {realm_host: PLAIN}
    found = await auth.authorization(http, PULL, options=PLAIN, realm_options=options.__getitem__)
    assert found == "Bearer t"
    assert [authorization for _, authorization, _ in realm.requests] == [f"Basic {b64('u:secret')}"]
