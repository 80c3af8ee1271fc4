"""The cyclic garbage collector paused while an informer loads a list.

CPython runs a full collection whenever the objects that survived the young generations have grown by
a quarter since the last one. A list is the worst case for that rule: it adds a whole cache of
long-lived objects at once, so 10,000 Deployments (120,000 dicts and lists the collector tracks) set
off six full collections, each traversing the cache as loaded so far, and they took half of an
initial sync's CPU (docs/performance.md). Decoded JSON holds no reference cycles, so collecting during
the load finds nothing; `paused()` switches the collector off while a list arrives and runs one full
collection after it, which traverses every loaded object once and leaves them in the oldest
generation, counted, so the quarter rule starts from the loaded heap rather than the one before it.

The collector is the process's, not the informer's. The pause is counted: concurrent loads (a
manager's informers starting together) end it once, when the last one is done; a process that had
switched the collector off itself keeps it off. While it lasts, cycles made by other code wait for
the end of the pause to be collected (their memory is freed then).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False
"""Whether the collector was on when the outermost pause began (and goes on again at its end)."""


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block (which may await), then, if it was on, one full collection
    when the block made more new objects than the collector's young generation holds."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            resume = _depth == 0 and _resume
            if resume:
                gc.enable()
        # A load of a few objects (a small kind's relist) leaves the collector to its own schedule:
        # a full collection traverses the whole heap, which a big cache makes costly.
        if resume and gc.get_count()[0] > gc.get_threshold()[0]:
            gc.collect()
