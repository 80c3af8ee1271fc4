"""--metrics-secure: /metrics over HTTPS, let in after a TokenReview and a SubjectAccessReview, here
answered by FakeClient as the API server would (e2e/test_metrics_secure.py asks a real one)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter

from irc.runtime.client import Obj
from irc.runtime.health import metrics_server
from irc.runtime.metrics_auth import MetricsAuth, serving_context
from irc.runtime.testing import FakeClient, FakeClock

USERS = {"reader-token": "system:serviceaccount:mon:prometheus", "other-token": "system:serviceaccount:x:y"}
READERS = {"system:serviceaccount:mon:prometheus"}


def token_review(review: Obj) -> dict[str, Any]:
    user = USERS.get(review["spec"]["token"])
    if user is None:
        return {"authenticated": False, "error": "invalid bearer token"}
    return {
        "authenticated": True,
        "user": {"username": user, "uid": "u-1", "groups": ["system:authenticated"]},
    }


def access_review(review: Obj) -> dict[str, Any]:
    spec = review["spec"]
    assert spec["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
    assert spec["groups"] == ["system:authenticated"] and spec["uid"] == "u-1"
    return {"allowed": spec["user"] in READERS}


@pytest.fixture
def api() -> FakeClient:
    api = FakeClient()
    api.answer_reviews("TokenReview", token_review)
    api.answer_reviews("SubjectAccessReview", access_review)
    return api


def reviews(api: FakeClient) -> list[str]:
    return [a.kind for a in api.actions if a.verb == "create"]


@pytest.mark.parametrize(
    ("authorization", "status", "asked"),
    [
        (None, 401, []),
        ("Basic dXNlcjpwYXNz", 401, []),
        ("Bearer ", 401, []),
        ("Bearer garbage", 401, ["TokenReview"]),
        ("Bearer other-token", 403, ["TokenReview", "SubjectAccessReview"]),
        ("Bearer reader-token", 200, ["TokenReview", "SubjectAccessReview"]),
        ("bearer reader-token", 200, ["TokenReview", "SubjectAccessReview"]),
    ],
)
async def test_a_request_is_let_in_only_with_a_token_allowed_get_on_metrics(
    api: FakeClient, authorization: str | None, status: int, asked: list[str]
) -> None:
    auth = MetricsAuth(api, FakeClock())
    assert await auth.status(authorization) == status
    assert reviews(api) == asked


async def test_answers_are_remembered_for_the_ttl_then_asked_again(api: FakeClient) -> None:
    clock = FakeClock()
    auth = MetricsAuth(api, clock, ttl=10)
    for _ in range(3):
        assert await auth.status("Bearer reader-token") == 200
        assert await auth.status("Bearer garbage") == 401
    assert reviews(api) == ["TokenReview", "SubjectAccessReview", "TokenReview"]
    READERS.discard("system:serviceaccount:mon:prometheus")  # the binding is removed
    try:
        clock.advance(9.9)
        assert await auth.status("Bearer reader-token") == 200  # still remembered
        clock.advance(0.2)
        assert await auth.status("Bearer reader-token") == 403
    finally:
        READERS.add("system:serviceaccount:mon:prometheus")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_secure_server_speaks_tls_and_guards_metrics(
    api: FakeClient, session: aiohttp.ClientSession
) -> None:
    registry = CollectorRegistry()
    Counter("irc_demo_total", "a counter", registry=registry).inc()
    server = metrics_server(
        "127.0.0.1:0", registry, auth=MetricsAuth(api, FakeClock()), ssl_context=serving_context(None)
    )
    async with server:
        assert server.url.startswith("https://127.0.0.1:")
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE  # self-signed
        url = f"{server.url}/metrics"
        async with session.get(url, ssl=client) as response:
            assert response.status == 401
        async with session.get(url, ssl=client, headers={"Authorization": "Bearer other-token"}) as response:
            assert response.status == 403
        async with session.get(url, ssl=client, headers={"Authorization": "Bearer reader-token"}) as response:
            assert response.status == 200 and "irc_demo_total 1.0" in await response.text()
        with pytest.raises(aiohttp.ClientError):  # no plain HTTP
            async with session.get(url.replace("https", "http")) as response:
                await response.read()


async def test_an_api_error_answers_500_and_is_not_remembered(
    api: FakeClient, session: aiohttp.ClientSession
) -> None:
    from irc.runtime import errors

    api.inject("create", "TokenReview", errors.ApiError(503, "ServiceUnavailable", "etcd is down"))
    registry = CollectorRegistry()
    async with metrics_server("127.0.0.1:0", registry, auth=MetricsAuth(api, FakeClock())) as server:
        headers = {"Authorization": "Bearer reader-token"}
        async with session.get(f"{server.url}/metrics", headers=headers) as response:
            assert response.status == 500
        async with session.get(f"{server.url}/metrics", headers=headers) as response:
            assert response.status == 200


def test_a_cert_dir_is_served_as_given(tmp_path: Path) -> None:
    from irc.runtime.metrics_auth import _self_signed

    cert, key = _self_signed()
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    assert serving_context(str(tmp_path)).minimum_version == ssl.TLSVersion.TLSv1_2
    (tmp_path / "tls.key").write_bytes(b"not a key")
    with pytest.raises(ssl.SSLError):
        serving_context(str(tmp_path))
