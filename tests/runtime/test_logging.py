"""irc.runtime.logging.configure: records go to sys.stderr as it is when they are logged, so a test
runner or an embedding program that replaces (and closes) sys.stderr after configuring loses no record
and gets no "Logging error"."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from irc.runtime import logging as irc_logging


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_records_follow_sys_stderr_when_it_is_replaced(
    restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    irc_logging.configure("json", "info")
    logging.getLogger("irc.test").info("to the first")
    first.close()  # what pytest does with a test's captured stderr
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("irc.test").info("to the second")
    [record] = [json.loads(line) for line in second.getvalue().splitlines()]
    assert (record["event"], record["level"]) == ("to the second", "info")
