"""Tests for irc.runtime.health: real servers on 127.0.0.1, probed over HTTP with aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter

from irc.runtime.health import (
    DEFAULT_HEALTH_PROBE_BIND_ADDRESS,
    DEFAULT_METRICS_BIND_ADDRESS,
    HealthProbes,
    HttpServer,
    health_server,
    metrics_server,
)

LOCAL = "127.0.0.1:0"
PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    session: aiohttp.ClientSession, server: HttpServer, path: str, accept: str | None = None
) -> Reply:
    headers = {"Accept": accept} if accept else {}
    async with session.get(server.url + path, headers=headers) as response:
        return Reply(response.status, await response.text(), response.headers["Content-Type"])


async def probe(session: aiohttp.ClientSession, probes: HealthProbes, *paths: str) -> list[Reply]:
    async with health_server(LOCAL, probes) as server:
        return [await get(session, server, path) for path in paths]


async def passes() -> None:
    pass


async def fails() -> None:
    raise RuntimeError("secret database password is wrong")


async def hangs() -> None:
    await asyncio.Event().wait()


async def test_no_checks_means_an_implicit_ping(session: aiohttp.ClientSession) -> None:
    replies = await probe(
        session, HealthProbes(), "/healthz", "/readyz", "/healthz?verbose", "/readyz/ping", "/healthz/nope"
    )
    assert [(r.status, r.body) for r in replies] == [
        (200, "ok"),
        (200, "ok"),
        (200, "[+]ping ok\nhealthz check passed\n"),
        (200, "ok"),
        (404, "404 page not found\n"),
    ]


async def test_passing_checks(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_healthz("zeta", passes)
    probes.add_healthz("alpha", passes)
    plain, verbose, one, ping = await probe(
        session, probes, "/healthz", "/healthz?verbose=1", "/healthz/zeta", "/healthz/ping"
    )
    assert (plain.status, plain.body) == (200, "ok")
    assert (verbose.status, verbose.body) == (200, "[+]alpha ok\n[+]zeta ok\nhealthz check passed\n")
    assert (one.status, one.body) == (200, "ok")
    assert ping.status == 404, "the implicit ping exists only while no checks are registered"


async def test_failing_check_withholds_its_reason_on_the_aggregate(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_readyz("cache", passes)
    probes.add_readyz("db", fails)
    aggregate, single, again = await probe(session, probes, "/readyz", "/readyz/db", "/readyz/cache")
    assert aggregate.status == 500
    assert aggregate.body == "[+]cache ok\n[-]db failed: reason withheld\nhealthz check failed\n"
    assert "secret" not in aggregate.body
    assert (single.status, single.body) == (500, "internal server error: secret database password is wrong\n")
    assert (again.status, again.body) == (200, "ok"), "the server survives failing checks"


async def test_failure_logs_the_reason(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    probes = HealthProbes()
    probes.add_healthz("db", fails)
    with caplog.at_level("INFO", logger="irc.runtime.health"):
        await probe(session, probes, "/healthz")
    assert "secret database password is wrong" in caplog.text


async def test_exception_without_message_reports_its_type(session: aiohttp.ClientSession) -> None:
    async def empty() -> None:
        raise KeyError

    probes = HealthProbes()
    probes.add_healthz("empty", empty)
    (reply,) = await probe(session, probes, "/healthz/empty")
    assert (reply.status, reply.body) == (500, "internal server error: KeyError\n")


async def test_hung_check_times_out(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes(timeout=0.01)
    probes.add_healthz("stuck", hangs)
    probes.add_healthz("fine", passes)
    aggregate, single = await probe(session, probes, "/healthz", "/healthz/stuck")
    assert aggregate.status == 500
    assert aggregate.body == "[+]fine ok\n[-]stuck failed: reason withheld\nhealthz check failed\n"
    assert (single.status, single.body) == (500, "internal server error: timed out\n")


async def test_checks_run_concurrently(session: aiohttp.ClientSession) -> None:
    a, b = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        a.set()
        await b.wait()

    async def second() -> None:
        b.set()
        await a.wait()

    probes = HealthProbes()
    probes.add_healthz("first", first)
    probes.add_healthz("second", second)
    (reply,) = await probe(session, probes, "/healthz")
    assert (reply.status, reply.body) == (200, "ok")


async def test_exclude(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_healthz("good", passes)
    probes.add_healthz("bad", fails)
    probes.add_healthz("worse", fails)
    one, both, verbose, unknown = await probe(
        session,
        probes,
        "/healthz?exclude=bad",
        "/healthz?exclude=bad&exclude=worse",
        "/healthz?exclude=bad&exclude=worse&verbose",
        "/healthz?exclude=bad&exclude=worse&exclude=ghost",
    )
    assert one.status == 500
    assert one.body == (
        "[+]bad excluded: ok\n[+]good ok\n[-]worse failed: reason withheld\nhealthz check failed\n"
    )
    assert (both.status, both.body) == (200, "ok")
    assert verbose.status == 200
    assert verbose.body == "[+]bad excluded: ok\n[+]good ok\n[+]worse excluded: ok\nhealthz check passed\n"
    assert (unknown.status, unknown.body) == (200, "ok")


async def test_unknown_exclude_is_reported_when_verbose(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_healthz("good", passes)
    (reply,) = await probe(session, probes, "/healthz?exclude=ghost&verbose")
    assert reply.status == 200
    assert reply.body == (
        "[+]good ok\n"
        'warn: some health checks cannot be excluded: no matches for "ghost"\n'
        "healthz check passed\n"
    )


async def test_healthz_and_readyz_are_independent(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_readyz("warming", fails)
    healthz, readyz, cross = await probe(session, probes, "/healthz", "/readyz", "/healthz/warming")
    assert (healthz.status, healthz.body) == (200, "ok")
    assert readyz.status == 500
    assert cross.status == 404


async def test_paths_with_trailing_slash(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_healthz("bad", fails)
    root, single, nested = await probe(session, probes, "/healthz/", "/healthz/bad/", "/healthz/bad/x")
    assert root.body.endswith("healthz check failed\n")
    assert single.body.startswith("internal server error:")
    assert nested.status == 404


async def test_content_type_is_plain_text(session: aiohttp.ClientSession) -> None:
    probes = HealthProbes()
    probes.add_healthz("good", passes)
    probes.add_readyz("bad", fails)
    paths = ("/healthz", "/healthz?verbose", "/healthz/good", "/readyz", "/readyz/bad", "/readyz/none")
    replies = await probe(session, probes, *paths)
    assert [r.content_type for r in replies] == [PLAIN] * len(paths)


def test_check_names_are_validated() -> None:
    probes = HealthProbes()
    probes.add_healthz("a", passes)
    probes.add_readyz("a", passes)
    with pytest.raises(ValueError, match="already exists"):
        probes.add_healthz("a", passes)
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="invalid"):
            probes.add_readyz(bad, passes)


async def test_metrics_exposes_the_registry(session: aiohttp.ClientSession) -> None:
    registry = CollectorRegistry()
    counter = Counter("irc_test_things_total", "Things counted by the test", registry=registry)
    counter.inc(3)
    async with metrics_server(LOCAL, registry) as server:
        text = await get(session, server, "/metrics")
        openmetrics = await get(session, server, "/metrics", accept="application/openmetrics-text")
    assert text.status == 200
    assert text.content_type.startswith("text/plain; version=")
    assert "irc_test_things_total 3.0" in text.body.splitlines()
    assert "process_cpu_seconds_total" not in text.body
    assert openmetrics.content_type.startswith("application/openmetrics-text")
    assert openmetrics.body.endswith("# EOF\n")


async def test_metrics_process_collectors_on_request(session: aiohttp.ClientSession) -> None:
    registry = CollectorRegistry()
    async with metrics_server(LOCAL, registry, process_collectors=True) as server:
        reply = await get(session, server, "/metrics")
        missing = await get(session, server, "/healthz")
    assert "python_info" in reply.body
    assert "process_cpu_seconds_total" in reply.body
    assert missing.status == 404


async def test_stop_closes_the_port(session: aiohttp.ClientSession) -> None:
    server = health_server(LOCAL, HealthProbes())
    await server.start()
    url = server.url
    assert url == f"http://127.0.0.1:{server.port}"
    assert (await get(session, server, "/healthz")).status == 200
    await server.stop()
    with pytest.raises(RuntimeError, match="not listening"):
        _ = server.port
    with pytest.raises(aiohttp.ClientConnectorError):
        await session.get(url + "/healthz")
    await server.stop()  # idempotent


async def test_restart_after_stop(session: aiohttp.ClientSession) -> None:
    server = health_server(LOCAL, HealthProbes())
    async with server:
        assert (await get(session, server, "/healthz")).status == 200
    async with server:
        assert (await get(session, server, "/readyz")).status == 200


@pytest.mark.parametrize("address", ["0", ""])
async def test_disabled_server_does_nothing(address: str) -> None:
    async with health_server(address, HealthProbes()) as server:
        assert not server.enabled
        with pytest.raises(RuntimeError):
            _ = server.port
    assert not metrics_server(address, CollectorRegistry()).enabled


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:", ":http", ":70000", "::1"])
def test_bad_bind_address(address: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        health_server(address, HealthProbes())


def test_defaults() -> None:
    assert DEFAULT_METRICS_BIND_ADDRESS == ":8080"
    assert DEFAULT_HEALTH_PROBE_BIND_ADDRESS == ":8081"
    assert health_server(DEFAULT_HEALTH_PROBE_BIND_ADDRESS, HealthProbes()).enabled
