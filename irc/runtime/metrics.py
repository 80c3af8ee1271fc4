"""Prometheus metrics with controller-runtime's names and labels, so existing dashboards work.

Nothing registers at import time: `RuntimeMetrics(registry)` creates every series in the registry it
is given (the manager's, or a fresh one per test). Components take the RuntimeMetrics they report to.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

# client-go's workqueue buckets: ExponentialBuckets(10e-9, 10, 12) = 1e-8 … 1e3 seconds.
WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))
# controller-runtime's reconcile_time_seconds buckets.
RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0,
    40.0, 50.0, 60.0,
)  # fmt: skip
RECONCILE_RESULTS = ("success", "error", "requeue", "requeue_after")


class LocalHistogram:
    """A histogram observed from one event loop: a bisect and two additions per observation, where
    prometheus_client's takes a lock and walks its buckets. Read by a collector when scraped."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, as exposition wants them."""
        out, total = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


@dataclass(frozen=True)
class QueueSample:
    """One work queue's workqueue_* values at a scrape."""

    depth: int
    adds: int
    retries: int
    queue_duration: LocalHistogram
    work_duration: LocalHistogram
    unfinished_work: float
    longest_running: float


Family = GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily
S = TypeVar("S")


class _ReadAtScrape(Collector, Generic[S]):
    """Series read from a sample per name (a queue's, a controller's) when scraped, so what they
    count is counted in plain numbers rather than in locked series."""

    what = ""  # what a name names, for the error on a second one

    def __init__(self) -> None:
        self._samples: dict[str, Callable[[], S]] = {}

    def add(self, name: str, sample: Callable[[], S]) -> None:
        if name in self._samples:
            raise ValueError(f"a {self.what} named {name!r} already reports to these metrics")
        self._samples[name] = sample

    def describe(self) -> Iterator[Family]:
        return self._families({})

    def collect(self) -> Iterator[Family]:
        return self._families({name: sample() for name, sample in self._samples.items()})

    def _families(self, samples: dict[str, S]) -> Iterator[Family]:
        raise NotImplementedError


class WorkQueueCollector(_ReadAtScrape[QueueSample]):
    """client-go's workqueue_* series, labelled (name, controller) = (queue name, queue name)."""

    what = "work queue"

    def _families(self, samples: dict[str, QueueSample]) -> Iterator[Family]:
        q = ("name", "controller")
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=q)
        adds = CounterMetricFamily("workqueue_adds", "Total number of adds handled by workqueue", labels=q)
        queue_duration = HistogramMetricFamily(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            labels=q,
        )
        work_duration = HistogramMetricFamily(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            labels=q,
        )
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration",
            labels=q,
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running",
            labels=q,
        )
        retries = CounterMetricFamily(
            "workqueue_retries", "Total number of retries handled by workqueue", labels=q
        )
        for name, s in samples.items():
            labels = [name, name]
            depth.add_metric(labels, s.depth)
            adds.add_metric(labels, s.adds)
            queue_duration.add_metric(labels, s.queue_duration.buckets(), s.queue_duration.sum)
            work_duration.add_metric(labels, s.work_duration.buckets(), s.work_duration.sum)
            unfinished.add_metric(labels, s.unfinished_work)
            longest.add_metric(labels, s.longest_running)
            retries.add_metric(labels, s.retries)
        yield from (depth, adds, queue_duration, work_duration, unfinished, longest, retries)


class ReconcileCounts:
    """One controller's controller_runtime_* values: its workers count in plain numbers (a locked series
    cost 0.5 to 0.9 µs per update, four updates a reconcile), read by ControllerCollector when scraped."""

    __slots__ = ("active", "errors", "max_concurrent", "results", "terminal", "time")

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self.active = self.errors = self.terminal = 0
        self.results = dict.fromkeys(RECONCILE_RESULTS, 0)
        self.time = LocalHistogram(RECONCILE_BUCKETS)


class ControllerCollector(_ReadAtScrape[ReconcileCounts]):
    """controller-runtime's controller_runtime_* series, labelled by controller. A controller's series
    exist, at zero, once it is added (controller-runtime's initMetrics)."""

    what = "controller"

    def _families(self, controllers: dict[str, ReconcileCounts]) -> Iterator[Family]:
        c = ("controller",)
        total = CounterMetricFamily(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            labels=("controller", "result"),
        )
        errors = CounterMetricFamily(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            labels=c,
        )
        terminal = CounterMetricFamily(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            labels=c,
        )
        panics = CounterMetricFamily(  # Python has no panics: an exception is an error, always 0
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            labels=c,
        )
        time = HistogramMetricFamily(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            labels=c,
        )
        max_concurrent = GaugeMetricFamily(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            labels=c,
        )
        active = GaugeMetricFamily(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            labels=c,
        )
        for name, counts in controllers.items():
            for result, n in counts.results.items():
                total.add_metric([name, result], n)
            errors.add_metric([name], counts.errors)
            terminal.add_metric([name], counts.terminal)
            panics.add_metric([name], 0)
            time.add_metric([name], counts.time.buckets(), counts.time.sum)
            max_concurrent.add_metric([name], counts.max_concurrent)
            active.add_metric([name], counts.active)
        yield from (total, errors, terminal, panics, time, max_concurrent, active)


@dataclass
class RuntimeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.workqueues = WorkQueueCollector()
        r.register(self.workqueues)

        self.controllers = ControllerCollector()
        r.register(self.controllers)
        self.leader_election_status = Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, "
            "0 indicates backup, 1 indicates master. 'name' is the string used "
            "to identify the lease. Please make sure to group by name.",
            ("name",),
            registry=r,
        )
        self.rest_client_requests = Counter(
            "rest_client_requests_total",
            "Number of HTTP requests, partitioned by status code, method, and host.",
            ("code", "method", "host"),
            registry=r,
        )
