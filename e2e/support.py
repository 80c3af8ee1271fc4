"""Helpers shared by the e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TypeVar

from kubernetes_asyncio import client, config

T = TypeVar("T")


async def kube_client(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float = 120, what: str) -> T:
    """Poll `check` until it returns a value that is not None; fail after `within` seconds.

    The bound only keeps a broken test bed from hanging the run; it is not a performance assertion.
    """
    try:
        async with asyncio.timeout(within):
            # Polling is right here: the state lives in a server, not in an event of this process.
            while (result := await check()) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            return result
    except TimeoutError:
        raise AssertionError(f"not within {within:.0f} s: {what}") from None


@contextlib.asynccontextmanager
async def running(coroutine: Coroutine[object, object, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run `coroutine` (an informer's or manager's loop) as a task for the block, then cancel it.

    A task that does not stop within 30 s of its cancellation fails the test with the stacks of
    every task still pending, instead of hanging the run (a swallowed cancellation is a bug).
    """
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=30)
        if not done:
            raise AssertionError(f"{task.get_name()} ignored its cancellation; pending tasks:\n{_stacks()}")
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _stacks() -> str:
    out = io.StringIO()
    for t in asyncio.all_tasks():
        t.print_stack(limit=20, file=out)
    return out.getvalue()
