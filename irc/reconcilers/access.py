"""Whether a namespace could pull an image itself, anonymously or with its own pull Secrets: the
check that keeps a copy made with one namespace's credentials from serving another namespace
(workload-rewrite's private-image isolation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import aiohttp

from irc.api.secrets import SecretRef
from irc.images import ImageReference
from irc.images.auth import Authenticator, Keychain
from irc.images.errors import RegistryError
from irc.images.registry import RegistryClient
from irc.reconcilers.settings import Settings
from irc.runtime import ApiClient, Clock, errors


class SourceAccess(Protocol):
    """Whether `namespace` could pull `source` itself: anonymously or with `secrets`, its own."""

    async def can_pull(
        self, namespace: str, source: ImageReference, secrets: Sequence[SecretRef]
    ) -> bool: ...


class RegistryAccess:
    """SourceAccess by asking the source registry: a manifest HEAD with the namespace's own pull
    Secrets (anonymous without any), remembered per namespace and image for `settings.access_ttl`."""

    def __init__(self, *, client: ApiClient, clock: Clock, settings: Settings) -> None:
        self.client, self.clock, self.settings = client, clock, settings
        self._answers: dict[tuple[str, str], tuple[bool, float]] = {}

    async def can_pull(self, namespace: str, source: ImageReference, secrets: Sequence[SecretRef]) -> bool:
        key = (namespace, str(source))
        cached = self._answers.get(key)
        if cached is not None and self.clock.now() < cached[1]:
            return cached[0]
        keys = Keychain()
        for ref in secrets:
            try:
                secret = await self.client.get("v1", "Secret", ref.name, ref.namespace)
                keys.extend(Keychain.from_secret_data(secret.get("data") or {}))
            except (errors.NotFound, ValueError):
                continue  # a missing or broken Secret grants nothing
        host = source.registry
        auth = Authenticator(host, keys.lookup(host), clock=self.clock)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            registry = RegistryClient(
                session,
                host,
                auth=auth,
                options=self.settings.registry_options(host),
                realm_options=self.settings.registry_options,
            )
            try:
                found = await registry.head_manifest(
                    source.repository, source.digest or source.tag or "latest"
                )
            except (RegistryError, aiohttp.ClientError, OSError, TimeoutError):
                found = None
        allowed = found is not None
        self._answers[key] = (allowed, self.clock.now() + self.settings.access_ttl)
        return allowed
