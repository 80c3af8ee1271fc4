"""When the detection controller scans: next_scan_in (due by interval, spec change, scan request,
failure) and the update predicate that keeps its own status writes from waking it."""

from __future__ import annotations

from typing import Any

import pytest

from irc.api.conditions import rfc3339
from irc.api.imagepolicy import REQUESTED_AT
from irc.reconcilers.detection import next_scan_in, wakes
from irc.runtime.informer import UpdateEvent

NOW = 1_800_000_000.0
HOUR = 3600.0


def policy(
    *,
    generation: int = 2,
    scanned: tuple[str, int] | None = ("True", 2),
    last_scan: float | None = NOW - 600,
    requested: str | None = None,
    handled: str | None = None,
    ready: tuple[str, int] = ("True", 2),
) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": ready[0], "observedGeneration": ready[1], "reason": "x"}]
    if scanned is not None:
        conditions.append({"type": "Scanned", "status": scanned[0], "observedGeneration": scanned[1]})
    status: dict[str, Any] = {"conditions": conditions}
    if last_scan is not None:
        status["lastScanTime"] = rfc3339(last_scan)
    if handled is not None:
        status["lastHandledReconcileAt"] = handled
    metadata: dict[str, Any] = {"name": "p", "namespace": "ns", "generation": generation}
    if requested is not None:
        metadata["annotations"] = {REQUESTED_AT: requested}
    return {"metadata": metadata, "status": status}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (policy(), HOUR - 600),  # scanned 10 minutes ago: due in 50
        (policy(last_scan=NOW - 2 * HOUR), 0.0),  # overdue
        (policy(scanned=None, last_scan=None), 0.0),  # never scanned
        (policy(scanned=("True", 1)), 0.0),  # the spec changed since the scan
        (policy(requested="a"), 0.0),  # a scan request not handled yet
        (policy(requested="a", handled="a"), HOUR - 600),  # ... and once handled
        (policy(scanned=("False", 2)), 0.0),  # the last scan failed (a restart retries at once)
        (policy(last_scan=None), 0.0),
    ],
)
def test_next_scan_in(obj: dict[str, Any], expected: float) -> None:
    assert next_scan_in(obj, HOUR, NOW) == pytest.approx(expected)


def test_a_restart_within_the_interval_does_not_rescan() -> None:
    """The status is all a new manager has: a recent success means waiting, not scanning."""
    assert next_scan_in(policy(last_scan=NOW - 1), HOUR, NOW) == pytest.approx(HOUR - 1)


def update(old: dict[str, Any], new: dict[str, Any]) -> UpdateEvent:
    return UpdateEvent(old, new)


@pytest.mark.parametrize(
    ("new", "wake"),
    [
        (policy(last_scan=NOW), False),  # our own status write: lastScanTime moved
        (policy(scanned=("False", 2)), False),  # ... or the Scanned condition changed
        (policy(generation=3), True),  # a spec change
        (policy(ready=("False", 2)), True),  # the policy controller's verdict changed
        (policy(ready=("True", 3)), True),  # ... or now covers a newer generation
        (policy(requested="now"), True),  # a scan request
    ],
)
def test_wakes_on_spec_ready_and_requests_only(new: dict[str, Any], wake: bool) -> None:
    assert wakes(update(policy(), new)) is wake
