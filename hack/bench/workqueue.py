"""Throughput of irc.runtime.workqueue: items per second through add + get + done, over distinct keys.

Run: .venv/bin/python -m hack.bench.workqueue [--keys N] [--repeat R]
Prints a Markdown table (median of R runs, with the range) and the machine it ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.workqueue import ShutDown, WorkQueue

Scenario = Callable[[int], Coroutine[Any, Any, None]]


async def sequential(keys: int) -> None:
    """One task: add every key, then get and done each (no waiting, no contention)."""
    queue = WorkQueue[int]()
    for key in range(keys):
        queue.add(key)
    for _ in range(keys):
        queue.done(await queue.get())


async def producer_consumers(keys: int, workers: int, metrics: bool) -> None:
    """A producer adding keys (yielding every 100) and `workers` tasks that yield once per item, as a
    reconcile that awaits would; the producer shuts the queue down and the workers drain it."""
    queue = WorkQueue[int]("bench", metrics=RuntimeMetrics()) if metrics else WorkQueue[int]()

    async def produce() -> None:
        for key in range(keys):
            queue.add(key)
            if key % 100 == 99:
                await asyncio.sleep(0)
        queue.shutdown()

    async def work() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            await asyncio.sleep(0)
            queue.done(key)

    async with asyncio.TaskGroup() as group:
        group.create_task(produce())
        for _ in range(workers):
            group.create_task(work())


SCENARIOS: list[tuple[str, Scenario]] = [
    ("sequential: add all, then get + done (1 task)", sequential),
    ("1 producer / 1 worker", lambda keys: producer_consumers(keys, 1, metrics=False)),
    ("1 producer / 4 workers", lambda keys: producer_consumers(keys, 4, metrics=False)),
    ("1 producer / 4 workers, with metrics", lambda keys: producer_consumers(keys, 4, metrics=True)),
]


def measure(scenario: Scenario, keys: int, repeat: int) -> list[float]:
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        asyncio.run(scenario(keys))
        rates.append(keys / (time.perf_counter() - started))
    return rates


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description="Work queue throughput benchmark.")
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys per run (default 10000)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per scenario (default 7)")
    args = parser.parse_args()

    print(f"Work queue throughput, {args.keys} distinct keys, median of {args.repeat} runs")
    today = datetime.datetime.now(datetime.UTC).date()
    nproc = len(os.sched_getaffinity(0))
    print(f"({today}; nproc {nproc}, {cpu_model()}; Python {platform.python_version()})\n")
    print("| Scenario | items/s (add + get + done) | range |")
    print("|---|---:|---:|")
    for title, scenario in SCENARIOS:
        rates = measure(scenario, args.keys, args.repeat)
        print(f"| {title} | {statistics.median(rates):,.0f} | {min(rates):,.0f} to {max(rates):,.0f} |")


if __name__ == "__main__":
    main()
