"""Run the test bed outside pytest: `python -m hack.testbed up|down|env|status [COMPONENT ...]`.

Components: cluster, registries, ecr, git (default: all). `up` starts each under the state
directory (IRC_TESTBED_DIR, default ~/.cache/irc/testbed) and seeds it with fixtures, `env` prints
`export` lines for a shell, `down` stops everything and removes the state. The servers keep running
after `up` returns, each in its own process group, and are found again through state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from hack.testbed import cluster, ecr, git, images, procs, registries
from hack.testbed.binaries import cache_dir


class Component(Protocol):
    @property
    def processes(self) -> list[procs.Process]: ...

    def env(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


def _seeded(component: Component, seed: Callable[[], object]) -> Component:
    """`component`, seeded; stopped if seeding fails (no state.json would find it again)."""
    try:
        seed()
    except BaseException:
        component.stop()
        raise
    return component


def _registries(directory: Path) -> Component:
    bed = registries.start(directory)
    return _seeded(bed, lambda: images.push(images.FIXTURES, bed["source"], directory / "fixture-build"))


def _ecr(directory: Path) -> Component:
    server = ecr.start(directory)
    return _seeded(server, lambda: ecr.populate(server))


def _git(directory: Path) -> Component:
    servers = git.start(directory)
    return _seeded(servers, lambda: servers.create_repo("fleet"))


STARTERS: dict[str, Callable[[Path], Component]] = {
    "cluster": cluster.start,
    "registries": _registries,
    "ecr": _ecr,
    "git": _git,
}


def state_dir() -> Path:
    return Path(os.environ.get("IRC_TESTBED_DIR", cache_dir() / "testbed"))


def _state(name: str) -> dict[str, object] | None:
    path = state_dir() / name / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def _processes(state: dict[str, object]) -> list[procs.Process]:
    plist = state["processes"]
    assert isinstance(plist, list)
    return [procs.Process(p["name"], int(p["pid"]), Path(p["log"])) for p in plist]


def up(names: list[str]) -> None:
    for name in names:
        if _state(name) is not None:
            print(f"{name}: already up (hack/testbed.sh down {name} first)", file=sys.stderr)
            continue
        directory = state_dir() / name
        shutil.rmtree(directory, ignore_errors=True)
        component = STARTERS[name](directory)
        state = {
            "env": component.env(),
            "processes": [{"name": p.name, "pid": p.pid, "log": str(p.log)} for p in component.processes],
        }
        (directory / "state.json").write_text(json.dumps(state, indent=2))
        print(f"{name}: up ({', '.join(p.name for p in component.processes)})", file=sys.stderr)


def down(names: list[str]) -> None:
    for name in names:
        state = _state(name)
        if state is not None:
            for process in reversed(_processes(state)):
                process.stop()
            print(f"{name}: down", file=sys.stderr)
        shutil.rmtree(state_dir() / name, ignore_errors=True)


def env(names: list[str]) -> None:
    for name in names:
        state = _state(name)
        if state is None:
            raise SystemExit(f"{name} is not up; run hack/testbed.sh up {name}")
        variables = state["env"]
        assert isinstance(variables, dict)
        for key, value in variables.items():
            print(f"export {key}={shlex.quote(str(value))}")


def status(names: list[str]) -> None:
    for name in names:
        state = _state(name)
        if state is None:
            print(f"{name}: down")
            continue
        for process in _processes(state):
            print(
                f"{name}: {process.name} pid {process.pid} {'running' if process.alive() else 'DEAD'} "
                f"(log {process.log})"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hack/testbed.sh", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "env", "status"])
    parser.add_argument("components", nargs="*", metavar="COMPONENT", help=f"any of {', '.join(STARTERS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.components) - set(STARTERS))
    if unknown:
        parser.error(f"unknown component(s) {', '.join(unknown)}; valid: {', '.join(STARTERS)}")
    names = args.components or list(STARTERS)
    try:
        {"up": up, "down": down, "env": env, "status": status}[args.command](names)
    except (procs.StartError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
