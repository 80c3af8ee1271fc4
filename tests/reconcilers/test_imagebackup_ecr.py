"""The image-backup reconciler's ECR credentials for a source without a pull secret: one token
provider per ECR registry, kept across reconciles (a token serves 12 hours), on the AWS endpoint
the manager was given."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from irc.images.auth import Credentials, EcrTokenProvider, Keychain
from irc.reconcilers.imagebackup import ImageBackupReconciler
from irc.reconcilers.settings import Settings
from irc.runtime.client import Client
from irc.runtime.manager import Manager, ManagerOptions
from irc.runtime.testing import FakeClock
from irc.runtime.transport import MockTransport, Request, Response

EAST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
WEST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
ENDPOINT = "http://127.0.0.1:5999"


async def _no_api(request: Request) -> Response:
    raise AssertionError(f"unexpected API request {request.method} {request.path}")


async def test_one_token_per_ecr_registry_across_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, list[str]]] = []

    async def authorization_token(self: EcrTokenProvider) -> tuple[str, float]:
        assert self._clients is not None
        calls.append((self._region, self._clients.endpoint_url, self._registry_ids))
        return base64.b64encode(b"AWS:pw").decode(), self._clock.wall() + 12 * 3600

    monkeypatch.setattr(EcrTokenProvider, "_authorization_token", authorization_token)
    clock = FakeClock()
    mgr = Manager(Client(MockTransport(_no_api), clock=clock), ManagerOptions(), clock=clock)
    reconciler = ImageBackupReconciler(mgr, Settings(aws_endpoint_url=ENDPOINT))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):  # three reconciles, each with new registry clients
            for host in (EAST, WEST):
                client = reconciler._client(session, host, Keychain())
                assert await client.auth.credentials() == Credentials("AWS", "pw")
        assert calls == [
            ("us-east-1", ENDPOINT, ["123456789012"]),
            ("us-west-2", ENDPOINT, ["123456789012"]),
        ]
        # a pull secret for the host wins over the AWS chain
        keys = Keychain.from_docker_config(
            json.dumps({"auths": {EAST: {"username": "AWS", "password": "from-secret"}}}).encode()
        )
        client = reconciler._client(session, EAST, keys)
        assert await client.auth.credentials() == Credentials("AWS", "from-secret")
    assert len(calls) == 2
