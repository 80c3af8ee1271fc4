"""irc.ecr.tokens: ECR authorization tokens as basic credentials for irc.images (cached on a fake clock
until shortly before they expire, malformed tokens and refusals as TokenError, used by a registry
client), and the call behind them, `AwsClients.authorization_token`, answered by botocore's own
before-call hook instead of AWS."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from irc.ecr.credentials import AwsClients, AwsCredentials
from irc.ecr.tokens import ECR_MARGIN, EcrTokenProvider, TokenSource
from irc.images.auth import Authenticator, Credentials, RegistryOptions, TokenError
from irc.images.errors import RetryPolicy, Unauthorized
from irc.images.registry import RegistryClient
from irc.images.testing import FakeRegistry
from irc.runtime.testing import FakeClock

EAST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
HOURS_12 = 12 * 3600.0
KEYS = AwsCredentials("AKIAEXAMPLE", "secret")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


class FakeTokens:
    """A TokenSource answering `token` valid for `lifetime` seconds (or raising `error`), recording
    each call's arguments; `gate`, when set, holds every call until it opens."""

    def __init__(self, clock: FakeClock, token: str = b64("AWS:pw"), lifetime: float = HOURS_12) -> None:
        self.clock, self.token, self.lifetime = clock, token, lifetime
        self.error: TokenError | None = None
        self.gate: asyncio.Event | None = None
        self.calls: list[tuple[str, AwsCredentials | None, tuple[str, ...]]] = []

    async def authorization_token(
        self, region: str, credentials: AwsCredentials | None, registry_ids: Sequence[str]
    ) -> tuple[str, float]:
        self.calls.append((region, credentials, tuple(registry_ids)))
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.token, self.clock.wall() + self.lifetime


def provider(tokens: FakeTokens, **kwargs: Any) -> EcrTokenProvider:
    return EcrTokenProvider(region="us-east-1", clients=tokens, clock=tokens.clock, **kwargs)


# ---- EcrTokenProvider


async def test_asks_its_source_with_region_credentials_and_registry_ids() -> None:
    tokens = FakeTokens(FakeClock())
    got = await provider(tokens, credentials=KEYS, registry_ids=["123456789012"]).get()
    assert got == Credentials("AWS", "pw")
    assert tokens.calls == [("us-east-1", KEYS, ("123456789012",))]
    assert await provider(tokens).get() == Credentials("AWS", "pw")
    assert tokens.calls[1] == ("us-east-1", None, ())  # None: the default AWS chain


async def test_tokens_are_cached_until_the_margin_before_expiry() -> None:
    clock = FakeClock()
    tokens = FakeTokens(clock, b64("AWS:ecr-password"))
    ecr = provider(tokens)
    assert await ecr.get() == Credentials("AWS", "ecr-password")
    clock.advance(HOURS_12 - ECR_MARGIN - 1)
    await ecr.get()
    assert ecr.fetches == len(tokens.calls) == 1
    clock.advance(2)  # within 300 s of expiresAt
    tokens.token = b64("AWS:renewed")
    assert await ecr.get() == Credentials("AWS", "renewed")
    assert ecr.fetches == len(tokens.calls) == 2


async def test_a_short_lived_token_is_kept_for_half_its_lifetime_at_most() -> None:
    clock = FakeClock()
    ecr = provider(FakeTokens(clock, lifetime=60.0))
    await ecr.get()
    clock.advance(29)
    await ecr.get()
    assert ecr.fetches == 1
    clock.advance(1)
    await ecr.get()
    assert ecr.fetches == 2


async def test_an_expired_token_is_never_cached() -> None:
    ecr = provider(FakeTokens(FakeClock(), lifetime=-60.0))  # moto stamps tokens expired in 2015
    await ecr.get()
    await ecr.get()
    assert ecr.fetches == 2


async def test_concurrent_callers_share_one_call() -> None:
    tokens = FakeTokens(FakeClock())
    tokens.gate = asyncio.Event()
    ecr = provider(tokens)
    waiting = [asyncio.create_task(ecr.get()) for _ in range(5)]
    await asyncio.sleep(0)
    tokens.gate.set()
    assert set(await asyncio.gather(*waiting)) == {Credentials("AWS", "pw")}
    assert len(tokens.calls) == 1


@pytest.mark.parametrize("token", [b64("no colon"), "not base64!", b64(b"\xff\xfe:x")])
async def test_a_token_that_is_not_base64_of_user_and_password_is_a_token_error(token: str) -> None:
    with pytest.raises(TokenError, match="not base64 of user:password"):
        await provider(FakeTokens(FakeClock(), token)).get()


async def test_a_refusal_propagates_and_is_not_cached() -> None:
    tokens = FakeTokens(FakeClock())
    tokens.error = TokenError("ECR GetAuthorizationToken: AccessDenied", 403)
    ecr = provider(tokens)
    with pytest.raises(TokenError) as raised:
        await ecr.get()
    assert raised.value.status == 403
    tokens.error = None
    assert await ecr.get() == Credentials("AWS", "pw")
    assert len(tokens.calls) == 2


def test_aws_clients_is_a_token_source() -> None:
    source: TokenSource = AwsClients()  # mypy checks the Protocol; this checks the name exists
    assert callable(source.authorization_token)


@pytest.fixture
async def ecr_registry() -> AsyncIterator[FakeRegistry]:
    """A registry answering basic auth as ECR does (user AWS)."""
    registry = FakeRegistry(basic=("AWS", "pw"))
    await registry.server.start_server()
    yield registry
    await registry.server.close()


async def test_tokens_reach_the_registry_as_basic_credentials(
    http: aiohttp.ClientSession, ecr_registry: FakeRegistry
) -> None:
    tokens = FakeTokens(FakeClock())
    client = RegistryClient(
        http,
        ecr_registry.host,
        auth=Authenticator(ecr_registry.host, provider(tokens)),
        options=RegistryOptions(plain_http=True),
        retry=RetryPolicy(attempts=1),
    )
    assert await client.head_manifest("team/app", "v1") is None  # 404 after auth, not 401
    assert ecr_registry.authorizations[-1] == "Basic " + b64("AWS:pw")
    tokens.token = b64("AWS:wrong")
    tokens.clock.advance(HOURS_12)  # the next request asks for a new token
    with pytest.raises(Unauthorized):
        await client.head_manifest("team/app", "v1")
    assert ecr_registry.authorizations[-1] == "Basic " + b64("AWS:wrong")
    assert len(tokens.calls) == 2


# ---- AwsClients.authorization_token, answered by a before-call hook


class Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""


class Ecr:
    """Answers GetAuthorizationToken in botocore's `before-call` event: `answer` is the parsed
    response (with `status`) or an exception to raise; each call's JSON body is kept."""

    def __init__(self) -> None:
        self.session = AioSession()
        self.session.register("before-call.ecr.GetAuthorizationToken", self.handle)
        self.status = 200
        self.answer: dict[str, Any] | Exception = {}
        self.bodies: list[dict[str, Any]] = []

    def handle(self, params: dict[str, Any], **kwargs: Any) -> tuple[Http, dict[str, Any]]:
        self.bodies.append(json.loads(params["body"] or b"{}"))
        if isinstance(self.answer, Exception):
            raise self.answer
        return Http(self.status), self.answer | {"ResponseMetadata": {"HTTPStatusCode": self.status}}


@pytest.fixture
def ecr() -> Ecr:
    return Ecr()


async def test_authorization_token_returns_the_token_and_its_expiry(ecr: Ecr) -> None:
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ecr.answer = {"authorizationData": [{"authorizationToken": b64("AWS:pw"), "expiresAt": expires}]}
    clients = AwsClients(session=ecr.session)
    token = await clients.authorization_token("us-east-1", KEYS, ["123456789012"])
    assert token == (b64("AWS:pw"), expires.timestamp())
    assert ecr.bodies == [{"registryIds": ["123456789012"]}]
    ecr.answer = {"authorizationData": [{"authorizationToken": "t", "expiresAt": 1_900_000_000}]}
    assert await clients.authorization_token("us-east-1", KEYS, ()) == ("t", 1_900_000_000.0)
    assert ecr.bodies[1] == {}  # no registryIds: the caller's own registry


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (403, {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, 403),
        (400, {"Error": {"Code": "UnrecognizedClientException", "Message": "bad key"}}, 400),
        (200, NoCredentialsError(), 401),
        (200, EndpointConnectionError(endpoint_url="https://api.ecr.us-east-1.amazonaws.com"), 503),
    ],
)
async def test_authorization_token_failures_are_token_errors_with_a_status(
    ecr: Ecr, status: int, answer: dict[str, Any] | Exception, expected: int
) -> None:
    ecr.status, ecr.answer = status, answer
    with pytest.raises(TokenError) as raised:
        await AwsClients(session=ecr.session).authorization_token("us-east-1", KEYS, ())
    assert raised.value.status == expected
    assert str(raised.value).startswith("ECR GetAuthorizationToken: ")
