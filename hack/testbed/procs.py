"""Start and stop the test bed's server processes.

Every server runs in its own process group with its output in a log file, so a test run (or
`hack/cluster.sh up`) can leave it running and `stop` can always find and end it. A server that
dies or never becomes ready fails the start at once, with the tail of its log in the error.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DIE_WITH_PARENT = False
"""When True (the e2e suite sets it), servers get SIGTERM from the kernel if the process that started
them dies, so a killed test run leaves nothing behind. `hack/testbed.sh up` leaves it False: its
servers must outlive the command."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: PR_SET_PDEATHSIG (1) = SIGTERM when the parent exits.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class StartError(RuntimeError):
    """A server exited or did not become ready; the message carries the tail of its log."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, chosen outside the kernel's
    ephemeral range: a port handed out by bind(0) can be taken by any outgoing connection (the
    apiserver's, etcd's) between now and the moment the server binds it. Never the same port twice
    in one process: the cluster picks all its ports before starting any server, and a port given
    to the apiserver was still free when kwok's was picked."""
    low, high = _ephemeral_range()
    candidates = [p for p in range(10000, 65536) if not low <= p <= high and p not in _handed_out]
    for port in random.sample(candidates, 50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a crowded machine: any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


@dataclass
class Process:
    name: str
    pid: int
    log: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    """Held while the server runs, so Python does not collect it and warn that it is still running;
    None for a server another process started (`hack/testbed.sh up`)."""

    def alive(self) -> bool:
        return running(self.pid)

    def stop(self, grace: float = 10.0, *, kill: bool = False) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds (at once with `kill`, as a crash
        would end it); never leaves it behind."""
        steps = ((signal.SIGKILL, 5.0),) if kill else ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0))
        for sig, wait in steps:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _group_running(self.pid):
                    if self.popen is not None:  # reap it (a killed leader can outlast its /proc entry)
                        self.popen.wait(timeout=wait)
                    return
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} (process group {self.pid}) did not stop")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[2])


def running(pid: int) -> bool:
    # A process that exited stays a zombie until its parent reaps it: reap our own children, and
    # count anyone else's zombie (a server left by `up`, whose parent is gone) as stopped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _group_running(pgid: int) -> bool:
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None and stat[1] == pgid and running(int(entry.name)):
                    return True
    return False


def start(
    name: str,
    argv: Sequence[str],
    logdir: Path,
    ready: Callable[[], bool],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Process:
    """Start `argv` in a new session, then poll `ready()` until it returns True.

    Raises StartError with the log's tail if the process exits first or `timeout` passes.
    """
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if DIE_WITH_PARENT else None,
        )
    proc = Process(name, popen.pid, log, popen)
    deadline = time.monotonic() + timeout
    try:
        while True:
            code = popen.poll()
            if code is not None:
                raise StartError(
                    f"{name} exited with code {code} while starting; last lines of {log}:\n{tail(log)}"
                )
            # A half-started server answers oddly: refused, reset, a bad status line (HTTPException)
            with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
                if ready():
                    return proc
            if time.monotonic() > deadline:
                raise StartError(f"{name} not ready after {timeout:.0f} s; last lines of {log}:\n{tail(log)}")
            time.sleep(0.1)
    except BaseException:  # the caller never gets a process it could stop: stop it here
        proc.stop()
        raise


def run(argv: Sequence[str], *, timeout: float = 600, input: str | None = None) -> str:
    """Run a command to completion; on failure raise with its stderr, which CalledProcessError hides."""
    result = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def port_open(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection((host, port), timeout=1):
            return True

    return check


def http_ok(url: str, context: ssl.SSLContext | None = None) -> Callable[[], bool]:
    """Ready when `url` answers 200 (any status below 500 if the server is only meant to be up)."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return int(resp.status) == 200
        except urllib.error.HTTPError:
            return False

    return check
