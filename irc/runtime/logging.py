"""Structured logs: structlog for irc's own lines, the stdlib `logging` module routed through the
same processors so every line (ours, a reconciler's, a library's) comes out in one format.

Context travels in structlog's contextvars: the controller binds `controller`, `namespace`, `name`
and `reconcile_id` around each reconcile, so every line logged inside it carries them. Output is
JSON (in cluster) or console (locally); secrets are never put in log fields by the runtime, and the
libraries that would log them at debug level (QUIET_LIBRARIES) log from info up.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

Format = Literal["json", "console"]

QUIET_LIBRARIES = ("botocore", "aiobotocore", "boto3", "urllib3")
"""Libraries that log request headers, credentials included (botocore: the session token and access
key id), at debug level: kept at info whatever the level asked for (e2e/test_secrets.py found it)."""


def configure(format: Format = "console", level: str = "info") -> None:
    """Route structlog and stdlib logging to stderr in `format` at `level` (debug, info, warning, error)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if format == "json" else _identity,
            renderer,
        ],
    )
    handler = _Stderr()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiohttp's access log and kubernetes-asyncio's request dumps are noise at info level.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))


def _identity(_: Any, __: str, event: Any) -> Any:
    return event


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; inside a reconcile its lines carry the reconcile's context."""
    return structlog.stdlib.get_logger(name)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each record, not as it was when logging was configured: a
    test runner or an embedding program may have replaced it since (and closed the old one)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # StreamHandler.__init__ sets it; the property always answers sys.stderr
