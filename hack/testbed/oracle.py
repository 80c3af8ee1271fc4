"""hack/go-oracle as a subprocess: Go's own Masterminds/semver, path.Match, regexp, distribution/reference
and fluxcd/pkg/version answer JSON-line queries (see its main.go), so e2e tests can check irc's
reimplementations against the real thing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from hack.testbed.binaries import Binaries

# Queries per round trip: a chunk's queries (under ~40 KB, the longest being the reference test's long
# names) fit in the 64 KiB pipe, so writing them never waits on the oracle, which may itself be waiting
# for us to read its replies (a reference's reply can reach ~3 KB); both waiting would deadlock.
_CHUNK = 64


class Oracle:
    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [str(Binaries.locate().go_oracle)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, queries: Sequence[Mapping[str, object]]) -> list[dict[str, Any]]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        answers: list[dict[str, Any]] = []
        for start in range(0, len(queries), _CHUNK):
            chunk = queries[start : start + _CHUNK]
            self._proc.stdin.write("".join(json.dumps(q) + "\n" for q in chunk))
            self._proc.stdin.flush()
            for _ in chunk:
                line = self._proc.stdout.readline()
                assert line, f"go-oracle exited with {self._proc.poll()}"
                answers.append(json.loads(line))
        return answers

    def close(self) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
