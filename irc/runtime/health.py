"""Health-probe and metrics HTTP servers, with controller-runtime's paths, bodies and status codes.

`HealthProbes` holds named async checks for `/healthz` (liveness) and `/readyz` (readiness), answered as
controller-runtime's `healthz.Handler` answers them; `health_server` and `metrics_server` wrap them and
a prometheus registry in an `HttpServer`, which the manager starts before anything else.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from irc.runtime.metrics_auth import MetricsAuth

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
"""A health check: an async callable that raises on failure; the exception's message is the reason."""

DEFAULT_METRICS_BIND_ADDRESS = ":8080"
"""controller-runtime's metrics default: all interfaces, port 8080."""
DEFAULT_HEALTH_PROBE_BIND_ADDRESS = ":8081"
"""Ours; controller-runtime's default is "" (disabled), but kubebuilder scaffolds ":8081"."""
DISABLED = ("0", "")
"""Bind addresses that disable a server: "0" as in controller-runtime, and "" (its health-probe default)."""
DEFAULT_CHECK_TIMEOUT = 5.0
"""Seconds a check may run before it counts as failed with the reason "timed out"."""

_PLAIN = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body.encode(), headers=_PLAIN)


class HealthProbes:
    """Two named sets of checks, served at `/healthz` and `/readyz` (aggregate) and `/<endpoint>/<name>`.

    Checks of one request run concurrently, each under `timeout` seconds. With no checks registered an
    endpoint answers as if it had one passing check named `ping`.
    """

    def __init__(self, *, timeout: float = DEFAULT_CHECK_TIMEOUT) -> None:
        self.timeout = timeout
        self._checks: dict[str, dict[str, Check]] = {"healthz": {}, "readyz": {}}

    def add_healthz(self, name: str, check: Check) -> None:
        """Add a liveness check; a failing one makes the kubelet restart the pod."""
        self._add("healthz", name, check)

    def add_readyz(self, name: str, check: Check) -> None:
        """Add a readiness check; a failing one takes the pod out of its Services' endpoints."""
        self._add("readyz", name, check)

    def _add(self, endpoint: str, name: str, check: Check) -> None:
        if not name or "/" in name:
            raise ValueError(f"invalid health check name {name!r}")
        if name in self._checks[endpoint]:
            raise ValueError(f"{endpoint} check {name!r} already exists")
        self._checks[endpoint][name] = check

    def routes(self) -> list[web.RouteDef]:
        """`GET /healthz`, `/readyz` and their sub-paths (a trailing slash is ignored, as path.Clean does)."""
        return [
            route
            for endpoint in self._checks
            for route in (
                web.get(f"/{endpoint}", self._handler(endpoint)),
                web.get(f"/{endpoint}/{{name:.*}}", self._handler(endpoint)),
            )
        ]

    def _handler(self, endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            name = request.match_info.get("name", "").strip("/")
            checks = self._checks[endpoint] or {"ping": _ping}
            if not name:
                return await self._aggregate(endpoint, checks, request)
            if name not in checks:
                return _text("404 page not found\n", 404)
            reason = await self._run(endpoint, name, checks[name])
            if reason is None:
                return _text("ok")
            return _text(f"internal server error: {reason}\n", 500)

        return handle

    async def _aggregate(self, endpoint: str, checks: dict[str, Check], request: web.Request) -> web.Response:
        excluded = set(request.query.getall("exclude", []))
        run = sorted(name for name in checks if name not in excluded)
        reasons = await asyncio.gather(*(self._run(endpoint, name, checks[name]) for name in run))
        failed = any(reason is not None for reason in reasons)
        if not failed and "verbose" not in request.query:
            return _text("ok")
        lines = {name: f"[+]{name} excluded: ok" for name in excluded & checks.keys()}
        for name, reason in zip(run, reasons, strict=True):
            lines[name] = f"[+]{name} ok" if reason is None else f"[-]{name} failed: reason withheld"
        body = [lines[name] for name in sorted(lines)]
        if unknown := excluded - checks.keys():
            quoted = ", ".join(f'"{name}"' for name in sorted(unknown))
            body.append(f"warn: some health checks cannot be excluded: no matches for {quoted}")
        body.append(f"healthz check {'failed' if failed else 'passed'}")
        return _text("\n".join(body) + "\n", 500 if failed else 200)

    async def _run(self, endpoint: str, name: str, check: Check) -> str | None:
        """Run one check; return None if it passed, else the reason (never raises an Exception)."""
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                await check()
            return None
        except Exception as exc:  # a check must never take the server down
            reason = "timed out" if deadline.expired() else str(exc) or type(exc).__name__
        logger.info("%s check %r failed: %s", endpoint, name, reason)
        return reason


async def _ping() -> None:
    """The implicit check of an endpoint without checks: always passes."""


def metrics_routes(registry: CollectorRegistry) -> list[web.RouteDef]:
    """`GET /metrics`: the registry in the text format, or OpenMetrics if the scraper's Accept asks."""

    async def handle(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    return [web.get("/metrics", handle)]


def _parse_bind_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""  # an IPv6 host needs brackets, as in Go's net.SplitHostPort
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bind address {address!r} is not host:port")
    return host, int(port)


class HttpServer:
    """An aiohttp server for `routes` on `bind_address` ("host:port"; host "" = all interfaces, port 0 =
    any free port; "0" or "" = disabled, when `start` and `stop` do nothing). Usable as `async with`."""

    def __init__(
        self,
        name: str,
        bind_address: str,
        routes: Iterable[web.RouteDef],
        *,
        ssl_context: ssl.SSLContext | None = None,
        middlewares: Iterable[Any] = (),
    ) -> None:
        """`ssl_context` serves HTTPS; `middlewares` (aiohttp's) guard every route, e.g. MetricsAuth."""
        self.name = name
        self.bind_address = bind_address
        self.enabled = bind_address not in DISABLED
        self._host, self._port = _parse_bind_address(bind_address) if self.enabled else ("", 0)
        self._ssl = ssl_context
        self._app = web.Application(middlewares=list(middlewares))
        self._app.add_routes(routes)
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    @property
    def port(self) -> int:
        """The port actually bound; only while listening."""
        if self._sock is None:
            raise RuntimeError(f"{self.name} server is not listening")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """`http(s)://host:port` to reach the server; 127.0.0.1 when bound to all interfaces."""
        host = self._host or "127.0.0.1"
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and listen; return once connections are accepted."""
        if not self.enabled or self._runner is not None:
            return
        if not self._host and socket.has_dualstack_ipv6():
            sock = socket.create_server(("", self._port), family=socket.AF_INET6, dualstack_ipv6=True)
        else:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            sock = socket.create_server((self._host, self._port), family=family)
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=5.0)
        try:
            await runner.setup()
            await web.SockSite(runner, sock, ssl_context=self._ssl).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner, self._sock = runner, sock
        logger.info("%s server listening on %s", self.name, self.url)

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish (up to 5 s), and close."""
        runner, sock, self._runner, self._sock = self._runner, self._sock, None, None
        if runner is not None:
            await runner.cleanup()
        if sock is not None:
            sock.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def health_server(bind_address: str, probes: HealthProbes) -> HttpServer:
    """Serve `/healthz` and `/readyz` (and `/<endpoint>/<check>`) from `probes`."""
    return HttpServer("health probe", bind_address, probes.routes())


def metrics_server(
    bind_address: str,
    registry: CollectorRegistry,
    *,
    process_collectors: bool = False,
    auth: MetricsAuth | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpServer:
    """Serve `/metrics` from `registry`, over `ssl_context` if given, to whom `auth` lets in (everyone
    without it). With `process_collectors`, first register the process, platform and GC collectors
    into it (as controller-runtime registers process and Go collectors); do that once per registry,
    since registering twice raises."""
    if process_collectors:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    guards = [auth.middleware] if auth is not None else []
    return HttpServer(
        "metrics", bind_address, metrics_routes(registry), ssl_context=ssl_context, middlewares=guards
    )
