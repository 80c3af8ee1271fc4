"""hack/testbed/procs.py: the ports servers are given."""

from __future__ import annotations

import random

from hack.testbed import procs


def test_free_ports_are_never_handed_out_twice() -> None:
    """A cluster picks all its ports before it starts a server: a port picked earlier is still free
    when the next is picked, and must not be picked again (the apiserver and kwok once shared one)."""
    state = random.getstate()
    try:
        random.seed(7)  # the sampling repeats itself, as it would after any reseeding
        first = procs.free_port()
        random.seed(7)
        ports = [procs.free_port() for _ in range(200)]
    finally:
        random.setstate(state)
    assert first not in ports and len(set(ports)) == len(ports)
    low, high = procs._ephemeral_range()
    assert not any(low <= p <= high for p in ports)
