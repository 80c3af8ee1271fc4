"""irc.runtime.workqueue: items per second through add + get + done, over distinct keys; and how long
one change waits behind a start-up backlog, with and without priorities.

Run: .venv/bin/python -m hack.bench.workqueue [--keys N] [--repeat R]
Prints Markdown tables (median of R runs, with the range) and the machine it ran on.
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

from hack.bench import common
from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.workqueue import LOW_PRIORITY, ShutDown, WorkQueue

Scenario = Callable[[int], Coroutine[Any, Any, None]]


async def sequential(keys: int, metrics: bool = False) -> None:
    """One task: add every key, then get and done each (no waiting, no contention)."""
    queue = WorkQueue[int]("bench", metrics=RuntimeMetrics()) if metrics else WorkQueue[int]()
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


async def yields_only(keys: int, workers: int = 4) -> None:
    """No queue: `workers` tasks yielding once per item, what the worker scenarios cost asyncio alone."""

    async def work(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(work(keys // workers))


SCENARIOS: list[tuple[str, Scenario]] = [
    ("sequential: add all, then get + done (1 task)", sequential),
    ("sequential, with metrics", lambda keys: sequential(keys, metrics=True)),
    ("1 producer / 1 worker", lambda keys: producer_consumers(keys, 1, metrics=False)),
    ("1 producer / 4 workers", lambda keys: producer_consumers(keys, 4, metrics=False)),
    ("1 producer / 4 workers, with metrics", lambda keys: producer_consumers(keys, 4, metrics=True)),
    ("no queue: 4 tasks yielding once per item (asyncio's own cost, the ceiling)", yields_only),
]


RECONCILE_SECONDS = 0.001
WORKERS = 4
BACKLOG_RUNS = 7  # a FIFO run waits out nine tenths of the backlog: 2.5 s


async def edit_during_backlog(keys: int, priorities: bool) -> tuple[float, int]:
    """A controller's start: `keys` items from the initial list queued (at LOW_PRIORITY with
    priorities, as irc's controllers queue them), 4 workers taking 1 ms each (an asyncio sleep); once a
    tenth is done, one change arrives. Returns its wait from add to get, and the items got meanwhile."""
    queue = WorkQueue[int]()
    for key in range(keys):
        queue.add(key, LOW_PRIORITY if priorities else 0)
    edit = -1
    got = got_at_add = 0
    added_at = 0.0
    result: tuple[float, int] | None = None

    async def work() -> None:
        nonlocal got, added_at, got_at_add, result
        while result is None:
            key = await queue.get()
            if key == edit:
                result = (time.perf_counter() - added_at, got - got_at_add)
            else:
                got += 1
                if got == keys // 10:
                    added_at, got_at_add = time.perf_counter(), got
                    queue.add(edit)
                await asyncio.sleep(RECONCILE_SECONDS)
            queue.done(key)

    async with asyncio.TaskGroup() as group:
        for _ in range(WORKERS):
            group.create_task(work())
    assert result is not None
    return result


def measure(scenarios: list[tuple[str, Scenario]], keys: int, repeat: int) -> dict[str, list[float]]:
    """Items per second of each scenario, `repeat` runs each, taken in turns: a run lasts tens of
    milliseconds, so a slow spell of the machine should fall on every scenario alike, not on one."""
    rates: dict[str, list[float]] = {title: [] for title, _ in scenarios}
    for _ in range(repeat):
        for title, scenario in scenarios:
            started = time.perf_counter()
            asyncio.run(scenario(keys))
            rates[title].append(keys / (time.perf_counter() - started))
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
    parser.add_argument("--repeat", type=int, default=21, help="runs per scenario (default 21)")
    args = parser.parse_args()

    print(
        f"Work queue throughput, {args.keys} distinct keys, median of {args.repeat} runs, the scenarios "
        "taking turns"
    )
    today = datetime.datetime.now(datetime.UTC).date()
    nproc = len(os.sched_getaffinity(0))
    print(f"({today}; nproc {nproc}, {cpu_model()}; Python {platform.python_version()})\n")
    print("| Scenario | items/s (add + get + done) | range |")
    print("|---|---:|---:|")
    medians = {}
    for title, rates in measure(SCENARIOS, args.keys, args.repeat).items():
        medians[title] = statistics.median(rates)
        print(f"| {title} | {medians[title]:,.0f} | {min(rates):,.0f} to {max(rates):,.0f} |")
    with_metrics = medians["1 producer / 4 workers, with metrics"]
    alone = medians["sequential, with metrics"]
    ceiling = medians[SCENARIOS[-1][0]]
    print(
        f"\n**Against the goal** (issue 14) of 300,000 items/s with metrics: {with_metrics:,.0f} with a "
        f"producer and 4 workers ({common.verdict(with_metrics, 300_000, at_least=True)}). The queue's "
        f"own add, get and done take {1e6 / alone:.2f} µs an item (sequential, with metrics); with "
        f"workers, each item also costs a task switch, {1e6 / ceiling:.2f} µs an item with no queue at all."
    )

    print(
        f"\nOne change during a start-up backlog: {args.keys:,} items from the initial list queued, "
        f"{WORKERS} workers taking {RECONCILE_SECONDS * 1000:g} ms each (an asyncio sleep); once a tenth is "
        "done, one change is added at normal priority. *Wait* is from its add to a worker getting it; "
        f"*items before it* counts the backlog items handed out meanwhile (median of {BACKLOG_RUNS} runs).\n"
    )
    print("| queue | wait for the change | items before it |")
    print("|---|---:|---:|")
    for title, priorities in [("with priorities (irc's controllers)", True), ("one FIFO", False)]:
        runs = [asyncio.run(edit_during_backlog(args.keys, priorities)) for _ in range(BACKLOG_RUNS)]
        waits = [w for w, _ in runs]
        before = statistics.median(n for _, n in runs)
        print(
            f"| {title} | {statistics.median(waits) * 1000:,.1f} ms "
            f"({min(waits) * 1000:,.1f} to {max(waits) * 1000:,.1f}) | {before:,.0f} |"
        )


if __name__ == "__main__":
    main()
