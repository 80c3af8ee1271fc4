"""The reconcilers irc ships, by controller name. Each entry pairs a module-level `setup(mgr, settings)`,
which builds the reconciler and declares its watches, with the module's `RULES`, the RBAC its calls
need; `irc manager --controllers` picks which run and `irc rbac --controllers` what they may do.
workload-rewrite is off by default (`*` leaves it out): it changes what the cluster runs, so it runs
only when named."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from irc.reconcilers import creation, detection, imagebackup, policy, workloadrewrite
from irc.reconcilers.settings import Settings
from irc.runtime import Manager, PolicyRule
from irc.runtime.rbac import MANAGER_RULES

Setup = Callable[[Manager, Settings], None]


@dataclass(frozen=True)
class Shipped:
    """A controller irc ships: how to set it up and the RBAC its calls need."""

    setup: Setup
    rules: tuple[PolicyRule, ...]
    on_by_default: bool = True
    """Whether `--controllers=*` includes it (kube-controller-manager's disabled-by-default list)."""


CONTROLLERS: dict[str, Shipped] = {
    creation.NAME: Shipped(creation.setup, creation.RULES),
    detection.NAME: Shipped(detection.setup, detection.RULES),
    imagebackup.NAME: Shipped(imagebackup.setup, imagebackup.RULES),
    policy.NAME: Shipped(policy.setup, policy.RULES),
    workloadrewrite.NAME: Shipped(workloadrewrite.setup, workloadrewrite.RULES, on_by_default=False),
}


def rules(names: Iterable[str]) -> list[PolicyRule]:
    """What a manager running the controllers `names` needs: theirs and the runtime's own."""
    return [*MANAGER_RULES, *(rule for name in names for rule in CONTROLLERS[name].rules)]
