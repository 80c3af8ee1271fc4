"""The collector's pause during a list: off inside, on again after with one full collection, counted
across overlapping loads, and never switched on in a process that had switched it off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from irc.runtime import gcpause


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """The generation of every collection the collector runs during the test."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


def test_the_collector_is_off_inside_and_collects_once_fully_after(full_collections: list[int]) -> None:
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        loaded = [{"i": [i]} for i in range(50_000)]  # enough to set off collections many times over
        assert full_collections == []
    assert gc.isenabled()
    assert full_collections == [2] and len(loaded) == 50_000


def test_overlapping_pauses_end_with_the_last(full_collections: list[int]) -> None:
    first, second = gcpause.paused(), gcpause.paused()
    first.__enter__()
    second.__enter__()
    loaded = [{"i": [i]} for i in range(5_000)]
    first.__exit__(None, None, None)  # loads need not end in the order they began
    assert not gc.isenabled() and full_collections == []
    second.__exit__(None, None, None)
    assert gc.isenabled() and full_collections == [2] and len(loaded) == 5_000


def test_a_collector_switched_off_by_the_process_stays_off(full_collections: list[int]) -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
        assert full_collections == []
    finally:
        gc.enable()


def test_the_collector_is_back_on_after_a_load_that_failed() -> None:
    with pytest.raises(ValueError), gcpause.paused():
        raise ValueError("the list failed")
    assert gc.isenabled()


def test_a_load_of_a_few_objects_leaves_the_collector_to_its_schedule(full_collections: list[int]) -> None:
    gc.collect()  # an empty young generation to start from
    full_collections.clear()
    with gcpause.paused():
        kept = [{"i": [i]} for i in range(10)]
    assert gc.isenabled() and full_collections == [] and len(kept) == 10
