"""The reconcilers irc ships, by controller name. Each entry is a module-level `setup(mgr, settings)`
that builds the reconciler and declares its watches; `irc manager --controllers` picks which run.
More land with their issues (creation, workload-rewrite)."""

from __future__ import annotations

from collections.abc import Callable

from irc.reconcilers import detection, imagebackup, policy
from irc.reconcilers.settings import Settings
from irc.runtime import Manager

Setup = Callable[[Manager, Settings], None]

CONTROLLERS: dict[str, Setup] = {
    detection.NAME: detection.setup,
    imagebackup.NAME: imagebackup.setup,
    policy.NAME: policy.setup,
}
