"""The kopf side of the reconcile benchmark: an operator whose one handler counts Deployment events.

The handler is `@kopf.on.event`, kopf's level-agnostic hook: it is called for every object of the
initial listing and every later watch event, and kopf stores nothing for it (no
`last-handled-configuration` annotation, no progress, no finalizer). kopf's change-detecting
handlers (`on.create`, `on.resume`) cannot be made silent through settings: after they run kopf
stores the object's essence in an annotation, one PATCH per object. Settings:

- `--workers N`: `queueing.worker_limit = N` (kopf runs one worker task per object; the limit caps
  how many exist at once). Pair it with a short `--idle-timeout` (`queueing.idle_timeout`): a worker
  keeps its slot until its object has had no event that long (default 5 s). 0 makes the worker spin
  on Python 3.11 (`asyncio.wait_for(..., timeout=0)` cancels the queue read before it runs).
- no `--workers`: kopf's default, no limit (a task per object).
- `--streaming`: `watching.initial_streaming`, the streaming list irc's informers use by default.

`KUBECONFIG=K python -m hack.bench.kopf_operator --kubeconfig K --objects N [--workers 4
--idle-timeout 0.001] [--streaming]` runs it until N events were handled and prints the timings as
JSON; hack.bench.reconcile_throughput does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import kopf

from hack.bench import common


def registry_for(tally: common.Tally) -> kopf.OperatorRegistry:
    """A registry of its own, so nothing is registered at import time. Unlike kopf's default registry it
    has no login handler of its own, so it gets the one the default would pick here."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry)(kopf.login_via_async_client)

    @kopf.on.event("apps", "v1", "deployments", registry=registry)
    async def count(body: kopf.Body, **_: Any) -> None:
        tally.hit(f"{body.metadata.namespace}/{body.metadata.name}")

    return registry


def settings_for(workers: int | None, idle_timeout: float | None, streaming: bool) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.queueing.worker_limit = workers
    if idle_timeout is not None:
        settings.queueing.idle_timeout = idle_timeout
    settings.watching.initial_streaming = streaming
    return settings


async def measure(
    kubeconfig: Path, objects: int, workers: int | None, idle_timeout: float | None, streaming: bool
) -> dict[str, Any]:
    """Run the operator in this process until `objects` events were handled."""
    if os.environ.get("KUBECONFIG") != str(kubeconfig):
        # kopf logs in through kubernetes_asyncio, which reads $KUBECONFIG once, when imported.
        raise SystemExit(f"run with KUBECONFIG={kubeconfig} in the environment")
    logging.getLogger("kopf").setLevel(logging.WARNING)
    tally = common.Tally(objects)
    stop = asyncio.Event()
    registry, settings = registry_for(tally), settings_for(workers, idle_timeout, streaming)
    cpu, start = time.process_time(), time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(
            kopf.operator(
                registry=registry, settings=settings, standalone=True, clusterwide=True, stop_flag=stop
            )
        )
        try:
            async with asyncio.timeout(1800):
                await tally.done.wait()
        finally:
            cpu = time.process_time() - cpu
            stop.set()  # the group then waits for kopf to shut down
    assert tally.first is not None and tally.last is not None
    return {
        "calls": tally.calls,
        "distinct": len(tally.keys),
        "sync": None,
        "first": tally.first - start,
        "done": tally.last - start,
        "cpu_seconds": cpu,
        "peak_rss_kib": common.status_kib("VmHWM"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--objects", type=int, required=True)
    parser.add_argument("--workers", type=int, help="queueing.worker_limit (default: kopf's, none)")
    parser.add_argument("--idle-timeout", type=float, help="queueing.idle_timeout (default: kopf's, 5 s)")
    parser.add_argument("--streaming", action="store_true", help="watching.initial_streaming")
    args = parser.parse_args()
    common.emit(
        asyncio.run(measure(args.kubeconfig, args.objects, args.workers, args.idle_timeout, args.streaming))
    )


if __name__ == "__main__":
    main()
