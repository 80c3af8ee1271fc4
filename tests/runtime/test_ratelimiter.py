from __future__ import annotations

from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.runtime.ratelimiter import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from irc.runtime.testing import FakeClock


def test_exponential_doubles_from_base_to_cap() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(20)]
    expected = [0.005 * 2**n for n in range(18)] + [1000.0, 1000.0]  # 0.005 * 2**18 = 1310.72 > cap
    assert delays == pytest.approx(expected)
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert limiter.num_requeues("a") == 20


def test_exponential_counts_per_item_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(base=1.0, cap=60.0)
    assert [limiter.when("a"), limiter.when("a"), limiter.when("b")] == [1.0, 2.0, 1.0]
    assert (limiter.num_requeues("a"), limiter.num_requeues("b"), limiter.num_requeues("c")) == (2, 1, 0)
    limiter.forget("a")
    limiter.forget("never-seen")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 1.0


@pytest.mark.parametrize("base", [0.005, 1.0, 1e300])
def test_exponential_survives_huge_failure_counts(base: float) -> None:
    limiter = ItemExponentialFailureRateLimiter(base=base, cap=1000.0)
    delays = [limiter.when("a") for _ in range(3000)]  # 2.0**1024 would overflow
    assert delays[-1] == 1000.0
    assert limiter.num_requeues("a") == 3000


def test_bucket_spends_the_burst_then_goes_into_debt() -> None:
    limiter = BucketRateLimiter(qps=10.0, burst=100, clock=FakeClock())
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100
    assert [limiter.when("x") for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert limiter.num_requeues("x") == 0
    limiter.forget("x")  # items are not tracked: the debt stays
    assert limiter.when("x") == pytest.approx(0.4)


def test_bucket_refills_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=2.0, burst=1, clock=clock)
    assert [limiter.when("a") for _ in range(3)] == [0.0, 0.5, 1.0]
    clock.advance(1.0)  # two tokens back: the debt of two falls to zero
    assert limiter.when("a") == 0.5
    clock.advance(100.0)  # refills to the burst of one, no more
    assert [limiter.when("a"), limiter.when("a")] == [0.0, 0.5]


@pytest.mark.parametrize(("qps", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (1.0, 0)])
def test_bucket_rejects_invalid_settings(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=qps, burst=burst, clock=FakeClock())


@given(qps=st.sampled_from([0.5, 1.0, 4.0, 10.0, 100.0]), burst=st.integers(1, 20), calls=st.integers(1, 60))
@settings(max_examples=50, deadline=None, derandomize=True, database=None)
def test_bucket_without_time_waits_one_interval_more_per_call(qps: float, burst: int, calls: int) -> None:
    limiter = BucketRateLimiter(qps=qps, burst=burst, clock=FakeClock())
    delays = [limiter.when(n) for n in range(calls)]
    assert delays == pytest.approx([max(0, n + 1 - burst) / qps for n in range(calls)])


def test_max_of_asks_every_member_and_returns_the_longest_wait() -> None:
    limiter = MaxOfRateLimiter[Hashable](
        ItemExponentialFailureRateLimiter(base=0.005, cap=1000.0),
        BucketRateLimiter(qps=1.0, burst=1, clock=FakeClock()),
    )
    assert limiter.when("a") == 0.005  # bucket: 0
    assert limiter.when("a") == 1.0  # exponential 0.01, bucket 1.0
    assert limiter.when("b") == 2.0  # exponential 0.005, bucket 2.0
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_needs_a_member() -> None:
    with pytest.raises(ValueError):
        MaxOfRateLimiter[Hashable]()


def test_default_controller_limiter_is_exponential_or_bucket_whichever_is_slower() -> None:
    limiter = default_controller_rate_limiter(FakeClock())
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    assert [limiter.when(n) for n in range(97)] == [0.005] * 97  # the burst of 100 is spent
    assert limiter.when("b") == pytest.approx(0.1)
    assert limiter.num_requeues("a") == 3


def test_limiters_satisfy_the_protocol() -> None:
    limiters: list[RateLimiter[str]] = [
        ItemExponentialFailureRateLimiter(),
        BucketRateLimiter(clock=FakeClock()),
        MaxOfRateLimiter[str](ItemExponentialFailureRateLimiter()),
    ]
    assert all(limiter.when("a") >= 0 for limiter in limiters)
