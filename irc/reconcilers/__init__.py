"""The reconcilers irc ships, by controller name. Each entry pairs a module-level `setup(mgr, settings)`,
which builds the reconciler and declares its watches, with the module's `RULES`, the RBAC its calls
need; `irc manager --controllers` picks which run and `irc rbac --controllers` what they may do.
More land with their issues (creation, workload-rewrite)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from irc.reconcilers import detection, imagebackup, policy
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, PolicyRule
from irc.runtime.rbac import MANAGER_RULES

Setup = Callable[[Manager, Settings], None]


@dataclass(frozen=True)
class Shipped:
    """A controller irc ships: how to set it up and the RBAC its calls need."""

    setup: Setup
    rules: tuple[PolicyRule, ...]


CONTROLLERS: dict[str, Shipped] = {
    detection.NAME: Shipped(detection.setup, detection.RULES),
    imagebackup.NAME: Shipped(imagebackup.setup, imagebackup.RULES),
    policy.NAME: Shipped(policy.setup, policy.RULES),
}


def rules(names: Iterable[str]) -> list[PolicyRule]:
    """What a manager running the controllers `names` needs: theirs and the runtime's own."""
    return [*MANAGER_RULES, *(rule for name in names for rule in CONTROLLERS[name].rules)]
