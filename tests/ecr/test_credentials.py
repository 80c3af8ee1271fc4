"""irc.ecr.credentials: Secret data, STS session names, and the assumed-role cache."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp
from hypothesis import given
from hypothesis import strategies as st

from irc.ecr.credentials import AwsClients, AwsCredentials, parse_timestamp, session_name
from irc.runtime.testing import FakeClock


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


# ---- AwsCredentials.from_secret_data


def test_from_secret_data_decodes_base64() -> None:
    data = {
        "accessKeyId": b64("AKIAEXAMPLE"),
        "secretAccessKey": b64("s3cr3t/Key+"),
        "sessionToken": b64("tok"),
    }
    creds = AwsCredentials.from_secret_data(data, "ns/aws")
    assert creds == AwsCredentials("AKIAEXAMPLE", "s3cr3t/Key+", "tok")
    assert creds.client_args() == {
        "aws_access_key_id": "AKIAEXAMPLE",
        "aws_secret_access_key": "s3cr3t/Key+",
        "aws_session_token": "tok",
    }


def test_from_secret_data_ignores_other_keys_even_binary_ones() -> None:
    data = {"accessKeyId": b64("AKIA"), "secretAccessKey": b64("secret"), "ca.der": b64(b"\x30\x82\xff")}
    assert AwsCredentials.from_secret_data(data, "ns/aws") == AwsCredentials("AKIA", "secret")


def test_from_secret_data_session_token_is_optional() -> None:
    data = {"accessKeyId": b64("AKIA"), "secretAccessKey": b64("secret")}
    assert AwsCredentials.from_secret_data(data, "ns/aws").session_token is None
    assert AwsCredentials.from_secret_data({**data, "sessionToken": ""}, "ns/aws").session_token is None
    assert AwsCredentials.from_secret_data(data, "ns/aws").client_args()["aws_session_token"] is None


def test_from_secret_data_strips_the_newline_echo_leaves() -> None:
    data = {"accessKeyId": b64("AKIA\n"), "secretAccessKey": b64(" secret\n")}
    assert AwsCredentials.from_secret_data(data, "ns/aws") == AwsCredentials("AKIA", "secret")


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({}, "accessKeyId, secretAccessKey"),
        ({"secretAccessKey": b64("s")}, "accessKeyId"),
        ({"accessKeyId": b64("a")}, "secretAccessKey"),
        ({"accessKeyId": "", "secretAccessKey": b64("s")}, "accessKeyId"),
        ({"AccessKeyId": b64("a"), "secretAccessKey": b64("s")}, "accessKeyId"),  # keys are case-sensitive
    ],
)
def test_from_secret_data_names_the_missing_keys(data: dict[str, str], missing: str) -> None:
    with pytest.raises(ValueError) as raised:
        AwsCredentials.from_secret_data(data, "team-a/aws")
    assert str(raised.value) == f"Secret team-a/aws lacks {missing}"


@pytest.mark.parametrize(
    "data",
    [
        {"accessKeyId": "not base64!", "secretAccessKey": b64("s")},
        {"accessKeyId": b64("a"), "secretAccessKey": "QUJ"},  # bad padding
        {"accessKeyId": b64("a"), "secretAccessKey": b64(b"\xff\xfe")},  # not UTF-8
        {"accessKeyId": b64("a"), "secretAccessKey": b64("s"), "sessionToken": "%%%"},
    ],
)
def test_from_secret_data_rejects_invalid_base64(data: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"^Secret team-a/aws: data is not base64 of UTF-8 text$"):
        AwsCredentials.from_secret_data(data, "team-a/aws")


def test_repr_hides_the_secret() -> None:
    creds = AwsCredentials("AKIAEXAMPLE", "wJalrXUtnFEMIsecret", "FwoGZXIvYXdzEtoken")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert "AKIAEXAMPLE" in text
        assert "wJalrXUtnFEMIsecret" not in text
        assert "FwoGZXIvYXdzEtoken" not in text


# ---- session_name

STS_ALPHABET = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-")
K8S_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("team-a", "api", "irc-team-a-api"),
        ("default", "web.v2", "irc-default-web.v2"),
        ("ns", "a/b c:d", "irc-ns-a-b-c-d"),
        ("ns", "x" * 100, "irc-ns-" + "x" * 57),
    ],
)
def test_session_name(namespace: str, name: str, expected: str) -> None:
    assert session_name(namespace, name) == expected


@given(K8S_NAME, K8S_NAME)
def test_session_names_fit_sts(namespace: str, name: str) -> None:
    result = session_name(namespace, name)
    assert 2 <= len(result) <= 64
    assert set(result) <= STS_ALPHABET
    assert result == f"irc-{namespace}-{name}"[:64]


# ---- AwsClients.assume_role

ROLE = "arn:aws:iam::123456789012:role/reader"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other"
SOURCE = AwsCredentials("AKIASOURCE", "source-secret")
LIFETIME = 3600.0
MARGIN = 900.0


class FakeSts:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[dict[str, Any]] = []
        self.serial = itertools.count(1)

    async def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        self.calls.append(kwargs)
        n = next(self.serial)
        expiration = datetime.datetime.fromtimestamp(self.clock.wall() + LIFETIME, tz=datetime.UTC)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": expiration,
            }
        }


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = FakeClock()
        self.sts = FakeSts(self.clock)
        self.opened: list[tuple[str, str, AwsCredentials | None]] = []
        sts, opened = self.sts, self.opened

        @contextlib.asynccontextmanager
        async def client(
            self: AwsClients, service: str, region: str, credentials: AwsCredentials | None, **kwargs: Any
        ) -> AsyncIterator[FakeSts]:
            opened.append((service, region, credentials))
            yield sts

        monkeypatch.setattr(AwsClients, "client", client)
        self.clients = AwsClients(clock=self.clock, margin=MARGIN)

    async def assume(
        self, role: str = ROLE, source: AwsCredentials | None = SOURCE, session: str = "irc-ns-p"
    ) -> AwsCredentials:
        return await self.clients.assume_role(role, source, "eu-west-1", session)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(monkeypatch)


async def test_assume_role_calls_sts_with_the_source_credentials(harness: Harness) -> None:
    creds = await harness.assume()
    assert creds == AwsCredentials("ASIA1", "secret-1", "token-1")
    assert harness.opened == [("sts", "eu-west-1", SOURCE)]
    assert harness.sts.calls == [{"RoleArn": ROLE, "RoleSessionName": "irc-ns-p"}]
    assert harness.clients.assume_role_calls == 1


async def test_a_second_call_within_the_lifetime_is_served_from_the_cache(harness: Harness) -> None:
    first = await harness.assume()
    harness.clock.advance(LIFETIME - MARGIN - 1)
    assert await harness.assume() == first
    assert len(harness.sts.calls) == harness.clients.assume_role_calls == 1


async def test_a_call_within_the_margin_of_expiry_renews(harness: Harness) -> None:
    first = await harness.assume()
    harness.clock.advance(LIFETIME - MARGIN)
    second = await harness.assume()
    assert second != first
    assert len(harness.sts.calls) == harness.clients.assume_role_calls == 2
    harness.clock.advance(LIFETIME - MARGIN - 1)  # the renewed credentials are cached in turn
    assert await harness.assume() == second
    assert len(harness.sts.calls) == 2


async def test_expired_credentials_are_renewed(harness: Harness) -> None:
    await harness.assume()
    harness.clock.advance(LIFETIME * 5)
    await harness.assume()
    assert len(harness.sts.calls) == 2


async def test_concurrent_calls_share_one_sts_call(harness: Harness) -> None:
    results = await asyncio.gather(*(harness.assume() for _ in range(5)))
    assert len(set(results)) == 1
    assert len(harness.sts.calls) == 1


async def test_a_slow_sts_call_does_not_hold_up_another_roles_cached_credentials(harness: Harness) -> None:
    cached = await harness.assume(role=OTHER_ROLE)
    release = asyncio.Event()
    answer = harness.sts.assume_role

    async def slow(**kwargs: Any) -> dict[str, Any]:
        await release.wait()
        return await answer(**kwargs)

    harness.sts.assume_role = slow  # type: ignore[method-assign]
    stuck = asyncio.create_task(harness.assume())  # a new role: its STS call hangs
    await asyncio.sleep(0)
    assert await asyncio.wait_for(harness.assume(role=OTHER_ROLE), 1) == cached
    assert not stuck.done()
    release.set()
    assert (await stuck).access_key_id == "ASIA2"


async def test_different_sources_and_roles_are_cached_separately(harness: Harness) -> None:
    other_source = AwsCredentials("AKIAOTHER", "other-secret")
    a = await harness.assume()
    b = await harness.assume(source=other_source)
    c = await harness.assume(source=None)  # the default chain
    d = await harness.assume(role=OTHER_ROLE)
    assert len({a, b, c, d}) == 4
    assert len(harness.sts.calls) == 4
    assert [opened[2] for opened in harness.opened] == [SOURCE, other_source, None, SOURCE]
    # each is cached under its own key
    assert [
        await harness.assume(),
        await harness.assume(source=other_source),
        await harness.assume(source=None),
        await harness.assume(role=OTHER_ROLE),
    ] == [a, b, c, d]
    assert len(harness.sts.calls) == 4


async def test_forget_drops_the_entries_of_one_session_name(harness: Harness) -> None:
    a = await harness.assume(session="irc-ns-a")
    a_other_role = await harness.assume(role=OTHER_ROLE, session="irc-ns-a")
    b = await harness.assume(session="irc-ns-b")
    harness.clients.forget("irc-ns-a")
    assert await harness.assume(session="irc-ns-b") == b  # untouched
    assert len(harness.sts.calls) == 3
    renewed = await harness.assume(session="irc-ns-a")
    renewed_other = await harness.assume(role=OTHER_ROLE, session="irc-ns-a")
    assert renewed not in (a, a_other_role) and renewed_other not in (a, a_other_role)
    assert len(harness.sts.calls) == 5
    harness.clients.forget("irc-ns-unknown")  # nothing to drop is fine


@pytest.mark.parametrize(
    "value",
    [
        1795355559.884,
        1795355559,
        "2026-11-22T14:00:00Z",
        "2026-11-22T14:00:00.123+01:00",
        "Sun, 22 Nov 2026 14:00:00 GMT",
    ],
)
def test_parse_timestamp_agrees_with_botocore(value: object) -> None:
    ours = parse_timestamp(value)
    assert ours == botocore_parse_timestamp(value) and ours.tzinfo is not None


def test_parse_timestamp_reads_a_zoneless_time_as_utc() -> None:
    """botocore would return a naive datetime here; AWS means UTC."""
    assert parse_timestamp("2026-11-22T14:00:00") == datetime.datetime(2026, 11, 22, 14, tzinfo=datetime.UTC)
