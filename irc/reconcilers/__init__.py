"""The reconcilers irc ships, by controller name. Each entry is a module-level `setup(mgr)` that
builds the reconciler and declares its watches; `irc manager --controllers` picks which run.
The table is filled as the reconcilers land (policy, detection, creation, image-backup,
workload-rewrite)."""

from __future__ import annotations

from collections.abc import Callable

from irc.runtime import Manager

Setup = Callable[[Manager], None]

CONTROLLERS: dict[str, Setup] = {}
