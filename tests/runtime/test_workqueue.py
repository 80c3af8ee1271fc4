from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.runtime.metrics import RuntimeMetrics
from irc.runtime.ratelimiter import ItemExponentialFailureRateLimiter
from irc.runtime.testing import FAKE_EPOCH, FakeClock
from irc.runtime.workqueue import LOW_PRIORITY, QueueStatistics, ShutDown, WorkQueue

R = TypeVar("R")


async def settle(rounds: int = 20) -> None:
    """Let every runnable task run until it blocks (a few loop iterations, no real time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def start(coro: Coroutine[Any, Any, R]) -> asyncio.Task[R]:
    return asyncio.get_running_loop().create_task(coro)


def new_queue(clock: FakeClock | None = None, **kwargs: Any) -> WorkQueue[str]:
    return WorkQueue[str](clock=clock or FakeClock(), **kwargs)


# The fake clock the queue is driven by.


async def test_fake_clock_sleep_ends_only_when_advanced_past_its_deadline() -> None:
    clock = FakeClock(start=10.0)
    assert (clock.now(), clock.wall()) == (10.0, FAKE_EPOCH + 10.0)
    sleep = start(clock.sleep(2.0))
    await clock.wait_for_sleepers(1)
    clock.advance(1.5)
    await settle()
    assert not sleep.done()
    clock.advance(0.5)
    await sleep
    assert clock.sleepers == 0
    await clock.sleep(0)  # returns at once
    await clock.sleep(-1)


async def test_fake_clock_forgets_cancelled_sleepers_and_refuses_to_go_back() -> None:
    clock = FakeClock()
    sleep = start(clock.sleep(1.0))
    await clock.wait_for_sleepers(1)
    sleep.cancel()
    await settle()
    assert clock.sleepers == 0
    with pytest.raises(ValueError):
        clock.advance(-1.0)


# The queue.


async def test_items_come_out_in_fifo_order_once_each() -> None:
    queue = new_queue()
    for item in ["a", "b", "a", "c", "b"]:
        queue.add(item)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_item_added_while_processing_is_parked_until_done() -> None:
    queue = new_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # parked, not queued: nobody else may take it
    second = start(queue.get())
    await settle()
    assert not second.done()
    queue.done("a")
    assert await second == "a"
    queue.done("a")
    assert queue.statistics() == QueueStatistics(depth=0, processing=0, waiting=0, longest_running=0.0)


async def test_get_waits_for_an_add_and_each_add_wakes_one_getter() -> None:
    queue = new_queue()
    getters = [start(queue.get()) for _ in range(3)]
    await settle()
    queue.add("a")
    queue.add("b")
    await settle()
    assert sorted(g.result() for g in getters if g.done()) == ["a", "b"]
    queue.shutdown()
    with pytest.raises(ShutDown):
        await getters[2]


async def test_a_wake_up_is_passed_on_when_its_getter_is_cancelled() -> None:
    queue = new_queue()
    first, second = start(queue.get()), start(queue.get())
    await settle()
    queue.add("a")  # wakes `first`
    first.cancel()
    assert await second == "a"
    assert first.cancelled()


async def test_done_without_get_is_an_error() -> None:
    queue = new_queue()
    queue.add("a")
    with pytest.raises(ValueError):
        queue.done("a")


async def test_shutdown_ignores_adds_and_drains_what_is_queued() -> None:
    queue = new_queue()
    queue.add("a")
    queue.add("b")
    queue.shutdown()
    queue.add("c")
    queue.add_after("d", 0)
    queue.add_rate_limited("e")
    assert queue.shutting_down
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    with pytest.raises(ShutDown):
        await queue.get()


async def test_an_item_parked_before_shutdown_is_still_handed_out() -> None:
    queue = new_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.shutdown()
    again = start(queue.get())  # nothing queued, but "a" comes back on done
    await settle()
    assert not again.done()
    queue.done("a")
    assert await again == "a"
    queue.done("a")
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_with_drain_waits_for_processing_to_empty() -> None:
    queue = new_queue()
    queue.add("a")
    queue.add("b")
    a, b = await queue.get(), await queue.get()
    drain = start(queue.shutdown_with_drain())
    await settle()
    queue.done(a)
    await settle()
    assert not drain.done()
    queue.done(b)
    await drain
    await queue.shutdown_with_drain()  # nothing in flight: returns at once


# Delaying.


async def test_add_after_holds_an_item_until_its_ready_time() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("now", 0)
    queue.add_after("also-now", -1)
    queue.add_after("later", 0.3)
    assert len(queue) == 2
    assert queue.statistics().waiting == 1
    clock.advance(0.1)
    clock.advance(0.1)
    assert len(queue) == 2
    clock.advance(0.1)  # 0.1 + 0.1 + 0.1 rounds to 0.30000000000000004
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["now", "also-now", "later"]


async def test_items_become_ready_in_ready_time_order() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    for item, delay in [("c", 3.0), ("a", 1.0), ("b", 2.0), ("b2", 2.0)]:
        queue.add_after(item, delay)
    clock.advance(5.0)
    assert [await queue.get() for _ in range(4)] == ["a", "b", "b2", "c"]


async def test_re_adding_a_waiting_item_keeps_the_earlier_ready_time() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 5.0)
    queue.add_after("a", 1.0)  # moved earlier
    queue.add_after("b", 1.0)
    queue.add_after("b", 5.0)  # never postponed
    assert queue.statistics().waiting == 2
    clock.advance(1.0)
    assert [await queue.get() for _ in range(2)] == ["a", "b"]
    queue.done("a")
    queue.done("b")
    clock.advance(10.0)
    assert queue.statistics() == QueueStatistics(depth=0, processing=0, waiting=0, longest_running=0.0)


async def test_a_blocked_get_wakes_at_the_ready_time_on_the_clock() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    getter = start(queue.get())
    await settle()
    queue.add_after("a", 10.0)
    await clock.wait_for_sleepers(1)
    clock.advance(9.0)
    await settle()
    assert not getter.done()
    clock.advance(1.0)
    assert await getter == "a"
    assert clock.sleepers == 0


async def test_a_blocked_get_rearms_for_an_earlier_item() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("late", 10.0)
    getter = start(queue.get())
    await clock.wait_for_sleepers(1)
    queue.add_after("early", 1.0)
    await settle()
    clock.advance(1.0)
    assert await getter == "early"
    assert queue.statistics().waiting == 1


async def test_every_blocked_get_sees_a_later_item_once_one_took_the_first() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    getters = [start(queue.get()) for _ in range(2)]
    await settle()
    queue.add_after("a", 1.0)
    queue.add_after("b", 2.0)  # later: nobody is woken for it
    await clock.wait_for_sleepers(2)
    clock.advance(1.0)
    await settle()
    assert [g.result() for g in getters if g.done()] == ["a"]
    clock.advance(1.0)  # the getter left waiting must have rearmed for "b"
    await settle()
    assert sorted(g.result() for g in getters) == ["a", "b"]


async def test_a_cancelled_get_leaves_no_timer_behind() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 1.0)
    getter = start(queue.get())
    await clock.wait_for_sleepers(1)
    getter.cancel()
    await settle()
    assert getter.cancelled()
    assert clock.sleepers == 0
    clock.advance(1.0)
    assert await queue.get() == "a"


async def test_shutdown_drops_waiting_items_and_wakes_getters() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 1.0)
    getter = start(queue.get())
    await clock.wait_for_sleepers(1)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await getter
    queue.add_after("b", 1.0)
    clock.advance(2.0)
    assert queue.statistics().waiting == 0
    assert len(queue) == 0


# Rate limiting.


async def test_add_rate_limited_backs_off_exponentially_until_forgotten() -> None:
    clock = FakeClock()
    queue = new_queue(clock, rate_limiter=ItemExponentialFailureRateLimiter(base=1.0, cap=4.0))
    for expected_delay in [1.0, 2.0, 4.0, 4.0]:
        queue.add_rate_limited("a")
        clock.advance(expected_delay - 0.5)
        assert len(queue) == 0
        clock.advance(0.5)
        assert len(queue) == 1
        assert await queue.get() == "a"
        queue.done("a")
    assert queue.num_requeues("a") == 4
    queue.forget("a")
    assert queue.num_requeues("a") == 0


async def test_default_limiter_runs_on_the_queues_clock() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    for n in range(101):
        queue.add_rate_limited(str(n))  # burst 100, then 10 qps
    clock.advance(0.005)
    assert len(queue) == 100
    clock.advance(0.1)
    assert len(queue) == 101


# Observation.


async def test_statistics_report_depth_processing_waiting_and_longest_running() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add("a")
    queue.add("b")
    queue.add("c")
    queue.add_after("d", 5.0)
    await queue.get()
    clock.advance(2.0)
    await queue.get()
    clock.advance(1.0)
    assert queue.statistics() == QueueStatistics(depth=1, processing=2, waiting=1, longest_running=3.0)


def sample(metrics: RuntimeMetrics, name: str, queue: str = "q", **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"name": queue, "controller": queue, **labels})


async def test_metrics_follow_client_go() -> None:
    clock = FakeClock()
    metrics = RuntimeMetrics()
    queue = new_queue(clock, metrics=metrics, name="q")
    assert sample(metrics, "workqueue_depth") == 0.0  # series exist from the start
    assert sample(metrics, "workqueue_adds_total") == 0.0

    queue.add("a")
    queue.add("a")  # deduplicated: not counted
    queue.add("b")
    assert (sample(metrics, "workqueue_depth"), sample(metrics, "workqueue_adds_total")) == (2.0, 2.0)

    clock.advance(1.5)
    a = await queue.get()
    assert sample(metrics, "workqueue_depth") == 1.0
    assert sample(metrics, "workqueue_queue_duration_seconds_count") == 1.0
    assert sample(metrics, "workqueue_queue_duration_seconds_sum") == 1.5

    queue.add("a")  # parked: counted as an add and in depth, as client-go does
    assert (sample(metrics, "workqueue_depth"), sample(metrics, "workqueue_adds_total")) == (2.0, 3.0)

    clock.advance(2.0)  # the gauges are read at scrape: exact, no refresh needed
    assert sample(metrics, "workqueue_unfinished_work_seconds") == 2.0
    assert sample(metrics, "workqueue_longest_running_processor_seconds") == 2.0
    queue.done(a)
    assert sample(metrics, "workqueue_work_duration_seconds_sum") == 2.0
    assert sample(metrics, "workqueue_work_duration_seconds_bucket", le="1.0") == 0.0
    assert sample(metrics, "workqueue_work_duration_seconds_bucket", le="10.0") == 1.0
    assert sample(metrics, "workqueue_unfinished_work_seconds") == 0.0

    queue.add_after("c", 0)
    queue.add_after("d", 1.0)
    queue.add_rate_limited("e")
    assert sample(metrics, "workqueue_retries_total") == 3.0
    clock.advance(1.0)
    assert len(queue) == 5  # using the queue releases "d" and "e"
    assert sample(metrics, "workqueue_depth") == 5.0  # b, a, c, d, e

    while len(queue):
        await queue.get()
    # Gotten at 4.5: b after 4.5 s, a after 3.0 (parked at 1.5), c after 1.0, and the delayed items
    # from their ready times: e after 0.995, d after 0.
    assert sample(metrics, "workqueue_queue_duration_seconds_count") == 6.0
    assert sample(metrics, "workqueue_queue_duration_seconds_sum") == pytest.approx(
        1.5 + 4.5 + 3.0 + 1.0 + 0.995
    )
    assert sample(metrics, "workqueue_depth") == 0.0


async def test_a_queue_with_metrics_needs_a_name_of_its_own() -> None:
    metrics = RuntimeMetrics()
    with pytest.raises(ValueError):
        WorkQueue[str](metrics=metrics)
    WorkQueue[str]("q", metrics=metrics)
    with pytest.raises(ValueError, match="already reports"):
        WorkQueue[str]("q", metrics=metrics)


# Properties.

KEYS = st.sampled_from("abc")  # few keys, so operations on one key interleave
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, st.just(0)),
        st.tuples(st.just("add_after"), KEYS, st.integers(-1, 3)),
        st.tuples(st.just("advance"), st.just(""), st.integers(1, 2)),
        st.tuples(st.just("yield"), st.just(""), st.integers(1, 6)),
    ),
    max_size=40,
)


@given(ops=OPS, workers=st.integers(1, 4), holds=st.lists(st.integers(0, 5), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
async def test_workers_never_share_a_key_and_no_add_is_lost(
    ops: list[tuple[str, str, int]], workers: int, holds: list[int]
) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    hold_for = itertools.cycle(holds)
    held: set[str] = set()
    shared: list[str] = []
    log: list[tuple[str, str]] = []  # ("add", key) at each add call, ("get", key) at each hand-out

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            if key in held:
                shared.append(key)
            held.add(key)
            log.append(("get", key))
            await settle(next(hold_for))
            held.discard(key)
            queue.done(key)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(worker()) for _ in range(workers)]
        for op, key, n in ops:
            if op == "add":
                queue.add(key)
                log.append(("add", key))
            elif op == "add_after":
                queue.add_after(key, n)
                log.append(("add", key))
            elif op == "advance":
                clock.advance(n)
            await settle(n if op == "yield" else 1)
        clock.advance(10.0)  # past every ready time
        for _ in range(1000):
            if queue.statistics() == QueueStatistics(0, 0, 0, 0.0):
                break
            await settle(1)
        queue.shutdown()
        await settle()
        stuck = [task for task in tasks if not task.done()]
        for task in stuck:
            task.cancel()

    assert stuck == [], "workers still blocked in get() after shutdown"
    assert shared == []
    for key in {key for op, key in log if op == "add"}:
        last_add = max(i for i, entry in enumerate(log) if entry == ("add", key))
        assert ("get", key) in log[last_add:], f"{key} added at {last_add} but not processed after"


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add_after"), KEYS, st.integers(-1, 4)),
            st.tuples(st.just("advance"), st.just(""), st.integers(1, 3)),
        ),
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
async def test_add_after_releases_in_ready_time_order(ops: list[tuple[str, str, int]]) -> None:
    """Checked against a model: ready time = the earliest asked for while waiting; equal ready times
    in the order they were set; a due item already queued is not queued twice."""
    clock = FakeClock()
    queue = new_queue(clock)
    seq = itertools.count()
    waiting: dict[str, tuple[int, int]] = {}  # key -> (ready time, order it was set)
    queued: list[str] = []
    now = 0

    def enqueue(key: str) -> None:
        if key not in queued:
            queued.append(key)

    for op, key, n in ops:
        if op == "add_after":
            queue.add_after(key, n)
            if n <= 0:
                enqueue(key)
            elif key not in waiting or waiting[key][0] > now + n:
                waiting[key] = (now + n, next(seq))
            assert len(queue) == len(queued)
            assert queue.statistics().waiting == len(waiting)
            continue
        clock.advance(n)
        now += n
        for key in sorted((k for k in waiting if waiting[k][0] <= now), key=waiting.__getitem__):
            del waiting[key]
            enqueue(key)
        released = []
        while len(queue):
            released.append(await queue.get())
            queue.done(released[-1])
        assert released == queued
        queued.clear()


# Priorities (controller-runtime's priority queue).


async def take_all(queue: WorkQueue[str]) -> list[tuple[str, int]]:
    out = []
    while len(queue):
        item, priority = await queue.get_with_priority()
        queue.done(item)
        out.append((item, priority))
    return out


async def test_higher_priorities_go_first_and_each_in_the_order_added() -> None:
    queue = new_queue()
    for item, priority in [("a", LOW_PRIORITY), ("b", 0), ("c", LOW_PRIORITY), ("d", 5), ("e", 0)]:
        queue.add(item, priority)
    assert await take_all(queue) == [("d", 5), ("b", 0), ("e", 0), ("a", -100), ("c", -100)]


async def test_an_item_added_again_moves_up_never_down() -> None:
    queue = new_queue()
    for item in "abc":
        queue.add(item, LOW_PRIORITY)
    queue.add("c")  # a change to something in the start-up backlog: reconciled first
    queue.add("a", LOW_PRIORITY - 1)  # lower: stays where it is
    assert len(queue) == 3
    assert await take_all(queue) == [("c", 0), ("a", -100), ("b", -100)]


async def test_an_item_moved_up_and_queued_again_below_is_served_in_its_new_place() -> None:
    queue = new_queue()
    queue.add("a", LOW_PRIORITY)
    queue.add("x", LOW_PRIORITY)
    queue.add("a")  # leaves its old place in the low line behind
    assert await take_all(queue) == [("a", 0), ("x", -100)]
    queue.add("y", LOW_PRIORITY)
    queue.add("a", LOW_PRIORITY)  # behind y, not in the place it left
    assert await take_all(queue) == [("y", -100), ("a", -100)]


async def test_an_item_added_while_processed_comes_back_at_the_highest_priority_asked() -> None:
    queue = new_queue()
    queue.add("a", LOW_PRIORITY)
    a = await queue.get()
    queue.add("a", LOW_PRIORITY)
    queue.add("a", 3)
    queue.add("a", 1)
    queue.add("b", 2)
    queue.done(a)
    assert await take_all(queue) == [("a", 3), ("b", 2)]


async def test_a_delayed_item_keeps_its_highest_priority() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add_after("a", 1.0, priority=LOW_PRIORITY)
    queue.add_after("a", 2.0, priority=4)  # later: the ready time stays 1.0, the priority rises
    queue.add_rate_limited("b", priority=LOW_PRIORITY)
    queue.add("c")
    clock.advance(1.0)
    assert await take_all(queue) == [("a", 4), ("c", 0), ("b", -100)]


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add"), KEYS, st.sampled_from([LOW_PRIORITY, -1, 0, 2])),
            st.tuples(st.just("get"), st.just(""), st.just(0)),
            st.tuples(st.just("done"), st.just(""), st.just(0)),
        ),
        max_size=60,
    )
)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
async def test_priorities_against_a_model(ops: list[tuple[str, str, int]]) -> None:
    """Model: each queued key has (priority, order); get takes the highest priority, earliest order; an
    add with a higher priority gives the key the new priority and a new order; a key added while held
    comes back, at the highest priority asked, on done."""
    queue = new_queue()
    order = itertools.count()
    queued: dict[str, tuple[int, int]] = {}
    held: list[str] = []
    parked: dict[str, int] = {}
    for op, key, priority in ops:
        if op == "add":
            queue.add(key, priority)
            if key in held:
                parked[key] = max(priority, parked.get(key, priority))
            elif key not in queued or queued[key][0] < priority:
                queued[key] = (priority, next(order))
        elif op == "get" and queued:
            expected = min(queued, key=lambda k: (-queued[k][0], queued[k][1]))
            assert await queue.get_with_priority() == (expected, queued.pop(expected)[0])
            held.append(expected)
        elif op == "done" and held:
            key = held.pop(0)
            queue.done(key)
            if key in parked:
                queued[key] = (parked.pop(key), next(order))
        assert len(queue) == len(queued)
