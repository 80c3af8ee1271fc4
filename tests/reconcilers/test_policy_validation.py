"""The policy reconciler's validation write: an invalid policy's Warning Event is recorded once its
Ready=False is written, so a status Conflict (retried as a whole reconcile) records no duplicate."""

from __future__ import annotations

from typing import Any

import pytest

from irc.reconcilers.policy import PolicyReconciler
from irc.runtime import errors
from irc.runtime.client import Client
from irc.runtime.manager import Manager, ManagerOptions
from irc.runtime.testing import FakeClock
from irc.runtime.transport import MockTransport, Request, Response

POLICY = {
    "metadata": {"name": "p", "namespace": "ns", "generation": 1, "resourceVersion": "5"},
    "spec": {
        "ecrRepository": {"region": "us-east-1", "repositoryPattern": "a/*"},
        "policy": {"semver": {"range": "<<1"}},  # invalid: InvalidPolicy
        "templateRef": {"name": "t"},
    },
}


async def _no_api(request: Request) -> Response:
    raise AssertionError(f"unexpected API request {request.method} {request.path}")


class Api:
    def __init__(self, conflicts: int) -> None:
        self.conflicts, self.patches = conflicts, 0

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.patches += 1
        if self.conflicts:
            self.conflicts -= 1
            raise errors.Conflict(409, "Conflict", "the object has been modified")
        return {}


@pytest.mark.parametrize("conflicts", [0, 1])
async def test_the_warning_is_recorded_once_its_condition_is_written(
    conflicts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    reconciler = PolicyReconciler(
        Manager(Client(MockTransport(_no_api), clock=clock), ManagerOptions(), clock=clock)
    )
    api, events = Api(conflicts), list[tuple[str, str]]()
    reconciler.client = api  # type: ignore[assignment]
    monkeypatch.setattr(
        reconciler.recorder, "event", lambda obj, kind, reason, message: events.append((kind, reason))
    )
    for _ in range(conflicts):  # the Conflict fails the reconcile; the controller retries it
        with pytest.raises(errors.Conflict):
            await reconciler._validate(POLICY, clock.wall())
    assert events == []
    await reconciler._validate(POLICY, clock.wall())
    assert events == [("Warning", "InvalidPolicy")] and api.patches == conflicts + 1
