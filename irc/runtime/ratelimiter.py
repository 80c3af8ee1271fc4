"""Rate limiters for the workqueue's retries, as client-go's util/workqueue/default_rate_limiters.go.

A limiter answers "how long should this item wait before its next try?" (`when`, which also counts
a failure), forgets an item once it succeeds, and reports how often it was retried. Limiters compose:
the controller default is the slower of a per-item exponential backoff and an overall token bucket.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from .clock import Clock, RealClock

T_contra = TypeVar("T_contra", contravariant=True)

# 2.0**1024 overflows; beyond this exponent any positive base is capped anyway.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol[T_contra]):
    def when(self, item: T_contra) -> float:
        """Seconds the item should wait before it is retried; counts one failure."""
        ...

    def forget(self, item: T_contra) -> None:
        """Stop tracking the item (it succeeded, or was given up)."""
        ...

    def num_requeues(self, item: T_contra) -> int:
        """How many failures have been counted for the item since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-item backoff of `base * 2**failures` seconds, capped at `cap`.

    Defaults: base 0.005 s (5 ms), cap 1000 s, as client-go's controller default.
    """

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        # item -> failures counted by when() since the last forget().
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        # A huge base may still overflow to inf, which min() turns into the cap.
        return min(self.cap, self.base * 2.0 ** min(failures, _MAX_EXPONENT))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """Overall token bucket, as golang.org/x/time/rate's `Reserve().Delay()`.

    The bucket starts full with `burst` tokens and refills at `qps` tokens per second. Each `when` takes a
    token; when none is left the reservation goes into debt, so successive calls wait 1/qps longer each.
    It does not track items: `forget` does nothing and `num_requeues` is 0.

    Defaults: 10 qps, burst 100, the real clock.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if not 0 < qps < float("inf"):
            raise ValueError(f"qps must be positive and finite, got {qps}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock if clock is not None else RealClock()
        # Tokens available at `_last`; negative while reservations are in debt.
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        # A clock that went backwards refills nothing (rate.Limiter.advance does the same).
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._last = now
        return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter(Generic[T_contra]):
    """The slowest of several limiters: `when` asks every member (each counts the failure) and returns
    the longest wait; `forget` forgets in all; `num_requeues` is the largest count."""

    def __init__(self, *limiters: RateLimiter[T_contra]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: T_contra) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: T_contra) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: T_contra) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> RateLimiter[Hashable]:
    """client-go's DefaultTypedControllerRateLimiter: per-item exponential 5 ms → 1000 s, and an overall
    bucket of 10 qps with burst 100, whichever is slower."""
    return MaxOfRateLimiter[Hashable](
        ItemExponentialFailureRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock)
    )
