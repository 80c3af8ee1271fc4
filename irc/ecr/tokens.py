"""ECR GetAuthorizationToken as a CredentialProvider for irc.images' Authenticator.

An ECR registry takes basic credentials (`AWS` and a 12-hour password) that only the AWS API hands
out. `EcrTokenProvider` asks a `TokenSource` (`irc.ecr.credentials.AwsClients` in the manager, any
object with its `authorization_token` method in tests) and caches the answer; plugged into an
`Authenticator` it makes ECR look like any other basic-auth registry, so irc.images never imports
irc.ecr.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from irc.images.auth import Credentials, TokenError
from irc.runtime.clock import Clock, RealClock

if TYPE_CHECKING:
    from irc.ecr.credentials import AwsCredentials

ECR_MARGIN = 300.0
"""Renew an ECR token this long (at most half its lifetime) before its expiresAt."""


class TokenSource(Protocol):
    """One GetAuthorizationToken call, as `AwsClients.authorization_token` makes it."""

    async def authorization_token(
        self, region: str, credentials: AwsCredentials | None, registry_ids: Sequence[str]
    ) -> tuple[str, float]:
        """(authorizationToken, expiresAt in epoch seconds); TokenError when AWS refuses or fails."""
        ...


class EcrTokenProvider:
    """Basic credentials (`AWS`, password) from ECR GetAuthorizationToken through `clients` with
    `credentials` (the default AWS chain when None), cached until `margin` (default 300 s, at most
    half the lifetime) before `expiresAt`. A token that is not base64 of user:password is a
    TokenError; so is whatever `clients` raises."""

    def __init__(
        self,
        *,
        region: str,
        clients: TokenSource,
        credentials: AwsCredentials | None = None,
        registry_ids: Sequence[str] = (),
        clock: Clock | None = None,
        margin: float = ECR_MARGIN,
    ) -> None:
        self._region, self._clients, self._credentials = region, clients, credentials
        self._registry_ids = tuple(registry_ids)
        self._clock = clock or RealClock()
        self._margin = margin
        self._cached: tuple[Credentials, float] | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """GetAuthorizationToken calls made (tests read it to check caching)."""

    async def get(self) -> Credentials:
        async with self._lock:
            if self._cached is not None and self._clock.now() < self._cached[1]:
                return self._cached[0]
            token, expires_at = await self._clients.authorization_token(
                self._region, self._credentials, self._registry_ids
            )
            self.fetches += 1
            try:
                user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise TokenError("ECR authorization token is not base64 of user:password")
            lifetime = expires_at - self._clock.wall()
            deadline = self._clock.now() + lifetime - min(self._margin, max(lifetime, 0.0) / 2)
            self._cached = (Credentials(user, password), deadline)
            return self._cached[0]
