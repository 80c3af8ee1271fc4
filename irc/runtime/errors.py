"""The runtime's errors, one tree (like httpx's _exceptions.py):

    ApiError                 any non-2xx answer of the API server (status, reason, message, body)
    ├── Unauthorized         401: no or bad credentials
    ├── Forbidden            403: RBAC denies it
    ├── NotFound             404
    ├── Conflict             409 with reason Conflict (a stale resourceVersion)
    ├── AlreadyExists        409 with reason AlreadyExists
    ├── Gone                 410 / Expired: the resourceVersion is too old; relist
    ├── TooManyRequests      429 (retry_after from Retry-After)
    └── Invalid              422: the object fails validation
    ReconcileError           a failure with a condition reason, a message and whether retrying helps;
    │                        raised by reconcilers and the domain packages (irc.ecr, irc.images)
    └── TerminalError        retrying cannot help: the controller records it and does not requeue

`ignore_not_found` mirrors controller-runtime's client.IgnoreNotFound; `first_failure` finds what
made an asyncio.TaskGroup fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        body: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message
        self.body: Mapping[str, Any] = body or {}
        self.retry_after = retry_after


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Gone(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class Invalid(ApiError):
    pass


class ReconcileError(Exception):
    """A failure worth a condition: `reason` (CamelCase, as metav1.Condition's), a message for people,
    and `terminal`, whether retrying cannot fix it until the spec changes. The controller requeues a
    ReconcileError with backoff unless it is terminal."""

    def __init__(self, reason: str, message: str, *, terminal: bool = False) -> None:
        super().__init__(message)
        self.reason, self.message, self.terminal = reason, message, terminal


class TerminalError(ReconcileError):
    """A reconcile failure that retrying cannot fix (a bad spec): counted and logged, never requeued."""

    def __init__(self, message: str, reason: str = "Terminal") -> None:
        super().__init__(reason, message, terminal=True)


class LeaseNotCurrent(ReconcileError):
    """A write withheld: the manager's leadership was not renewed recently enough for it to be sure no
    other manager leads (a process paused past its lease). Retried with backoff, once it renews."""

    def __init__(self, message: str) -> None:
        super().__init__("LeaseNotCurrent", message)


def from_status(
    status: int, body: bytes | str | Mapping[str, Any] | None, retry_after: float | None = None
) -> ApiError:
    """The ApiError for an HTTP status and a metav1.Status body (or whatever the server sent)."""
    parsed: Mapping[str, Any] = {}
    if isinstance(body, Mapping):
        parsed = body
    elif body:
        try:
            loaded = json.loads(body)
            parsed = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            parsed = {"message": body if isinstance(body, str) else body.decode(errors="replace")}
    reason = str(parsed.get("reason") or "")
    message = str(parsed.get("message") or "")
    cls: type[ApiError] = ApiError
    if status == 401:
        cls = Unauthorized
    elif status == 403:
        cls = Forbidden
    elif status == 404:
        cls = NotFound
    elif status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status == 410 or reason in ("Expired", "Gone"):
        cls = Gone
    elif status == 429:
        cls = TooManyRequests
    elif status == 422:
        cls = Invalid
    return cls(status, reason or "Unknown", message, parsed, retry_after)


def ignore_not_found(error: BaseException) -> None:
    """Swallow NotFound, re-raise anything else: `except ApiError as e: ignore_not_found(e)`."""
    if not isinstance(error, NotFound):
        raise error


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first leaf of a task group's exceptions, nested groups flattened, that is not a
    CancelledError (cancellations are consequences of the failure); None if there is none."""
    for exc in group.exceptions:
        found = first_failure(exc) if isinstance(exc, BaseExceptionGroup) else exc
        if found is not None and not isinstance(found, asyncio.CancelledError):
            return found
    return None
