"""A manager without a cluster, for testing what a controller module's `setup(mgr)` registers."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from irc.runtime.cache import Index
from irc.runtime.client import Client
from irc.runtime.controller import Controller
from irc.runtime.manager import Manager, ManagerOptions
from irc.runtime.transport import MockTransport, Request, Response


class RecordingManager(Manager):
    """A Manager whose client fails any request (a `setup` must make none), recording what is
    registered: `controllers` by name, each with its options, and `indexes` in order. Its metrics and
    health servers are off whatever `options` say."""

    def __init__(self, options: ManagerOptions | None = None) -> None:
        options = dataclasses.replace(
            options or ManagerOptions(), metrics_bind_address="0", health_probe_bind_address="0"
        )
        super().__init__(Client(MockTransport(_no_api)), options)
        self.controllers: dict[str, Controller] = {}
        self.indexes: list[Index] = []

    def add_controller(self, controller: Controller, bind: Callable[[], Awaitable[None]]) -> None:
        super().add_controller(controller, bind)
        self.controllers[controller.name] = controller

    def add_index(self, index: Index) -> None:
        super().add_index(index)
        self.indexes.append(index)


async def _no_api(request: Request) -> Response:
    raise AssertionError(f"setup() made an API request: {request.method} {request.path}")
