"""Registry errors and the retry policy of irc.images.

Errors form one tree (`code` and `message` come from the OCI error body):

    RegistryError            status (None when no HTTP answer is involved), code, message
    ├── Unauthorized         401, or the token realm / ECR refused the credentials
    ├── Denied               403 (alias Forbidden)
    ├── NotFound             404
    │   ├── ManifestUnknown
    │   └── BlobUnknown
    ├── RateLimited          429, with retry_after
    └── DigestMismatch       content does not match its digest or size

`is_retryable` draws the line: 5xx, 429 and connection/payload failures are retried (with
`RetryPolicy`'s bounded exponential backoff), nothing else is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from irc.images.auth import TokenError, parse_retry_after


class RegistryError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Unauthorized(RegistryError):
    """401: no or wrong credentials."""


class Denied(RegistryError):
    """403: the credentials do not allow this."""


Forbidden = Denied


class NotFound(RegistryError):
    """404."""


class ManifestUnknown(NotFound):
    """404 for a manifest."""


class BlobUnknown(NotFound):
    """404 for a blob."""


class RateLimited(RegistryError):
    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, status=429, code=code)
        self.retry_after = retry_after


class DigestMismatch(RegistryError):
    """Content does not match its digest or size."""


def is_retryable(exc: BaseException) -> bool:
    """5xx, 429 and connection/payload failures are worth another attempt; nothing else is."""
    if isinstance(exc, RegistryError):
        return exc.status is not None and (exc.status == 429 or exc.status >= 500)
    if isinstance(exc, aiohttp.ClientSSLError):  # a certificate does not get better by asking again
        return False
    return isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | TimeoutError)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries, exponential backoff with jitter. Defaults: 5 attempts, waits from 0.5 s
    doubling up to 20 s; a Retry-After is honoured up to `max_retry_after` (default 60 s)."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 20.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], Awaitable[None]] | None = None
    """Defaults to asyncio.sleep; tests pass a recorder."""

    def retrying(self) -> AsyncRetrying:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return min(exc.retry_after, self.max_retry_after)
            exponential = self.initial * 2 ** (state.attempt_number - 1)
            return float(min(self.maximum, exponential + random.uniform(0, self.initial)))

        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            retry=retry_if_exception(is_retryable),
            sleep=self.sleep or asyncio.sleep,
            reraise=True,
        )


def from_response(
    status: int, body: bytes, headers: Mapping[str, str], not_found: type[NotFound]
) -> RegistryError:
    code, message = None, body[:200].decode(errors="replace").strip()
    with contextlib.suppress(ValueError, LookupError, TypeError, AttributeError):
        first = json.loads(body)["errors"][0]
        code, message = str(first["code"]), str(first.get("message", ""))
    text = f"{status} {code or ''} {message}".replace("  ", " ").strip()
    if status == 429:
        return RateLimited(text, retry_after=parse_retry_after(headers.get("Retry-After")), code=code)
    known = {"MANIFEST_UNKNOWN": ManifestUnknown, "BLOB_UNKNOWN": BlobUnknown}
    kind = {401: Unauthorized, 403: Denied, 404: known.get(code or "", not_found)}.get(status, RegistryError)
    return kind(text, status=status, code=code)


def from_token_error(e: TokenError) -> RegistryError:
    if e.status == 429:
        return RateLimited(str(e), retry_after=e.retry_after)
    if e.status in (401, 403):
        return Unauthorized(str(e), status=401)
    return RegistryError(str(e), status=e.status or None)
