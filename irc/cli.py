"""The `irc` command line: `irc manager` runs the controllers; `irc --version`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Collection, Mapping, Sequence

from irc import __version__
from irc.reconcilers import CONTROLLERS
from irc.runtime import LeaderElectionLost, LeaderElectionOptions, Manager, ManagerOptions
from irc.runtime import logging as irc_logging

log = logging.getLogger("irc.manager")


class UsageError(Exception):
    pass


def select_controllers(spec: Sequence[str], known: Collection[str]) -> list[str]:
    """kube-controller-manager's --controllers grammar: `*` every controller, `name` that one,
    `-name` not that one (wins over `*` and `name`). Unknown names are a UsageError."""
    items = [s.strip() for part in spec for s in part.split(",") if s.strip()]
    unknown = sorted({i.lstrip("-") for i in items} - {"*"} - set(known))
    if unknown:
        valid = ", ".join(sorted(known)) or "none yet"
        raise UsageError(f"unknown controller(s) {', '.join(unknown)}; valid: {valid}")
    chosen = set(items)
    return [name for name in sorted(known) if f"-{name}" not in chosen and (name in chosen or "*" in chosen)]


def parse_workers(values: Sequence[str], known: Collection[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise UsageError(f"--max-concurrent-reconciles expects name=N with N >= 1, got {value!r}")
        if name not in known:
            raise UsageError(f"--max-concurrent-reconciles: unknown controller {name!r}")
        out[name] = int(count)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irc", description="Image automation and image backup for Kubernetes."
    )
    parser.add_argument("--version", action="version", version=f"irc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    m = commands.add_parser("manager", help="run the controllers", description="Run the irc controllers.")
    m.add_argument(
        "--controllers",
        action="append",
        default=[],
        metavar="LIST",
        help="comma-separated: '*' all, 'name' one, '-name' not that one (default '*')",
    )
    m.add_argument(
        "--kubeconfig", help="path to a kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)"
    )
    m.add_argument("--context", help="kubeconfig context to use")
    m.add_argument(
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        help="watch only this namespace (repeatable; default all)",
    )
    m.add_argument("--leader-elect", action="store_true", help="hold a Lease while reconciling")
    m.add_argument("--leader-election-id", default="irc-manager", help="the Lease name (default irc-manager)")
    m.add_argument(
        "--leader-election-namespace",
        help="the Lease namespace (default: the pod's namespace in a cluster, else 'default')",
    )
    m.add_argument("--metrics-bind-address", default=":8080", help="'0' disables (default :8080)")
    m.add_argument("--health-probe-bind-address", default=":8081", help="'0' disables (default :8081)")
    m.add_argument(
        "--max-concurrent-reconciles",
        action="append",
        default=[],
        metavar="NAME=N",
        help="workers for one controller (repeatable)",
    )
    m.add_argument(
        "--kube-api-qps",
        type=float,
        default=-1.0,
        help="client-side request rate limit; <= 0 leaves it to the server (default)",
    )
    m.add_argument("--kube-api-burst", type=int, default=10)
    m.add_argument("--log-format", choices=["json", "console"], default="console")
    m.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    return parser


async def run_manager(args: argparse.Namespace, names: Sequence[str], workers: Mapping[str, int]) -> int:
    options = ManagerOptions(
        namespaces=tuple(args.namespaces),
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        leader_election=LeaderElectionOptions(
            enabled=args.leader_elect, id=args.leader_election_id, namespace=args.leader_election_namespace
        ),
        max_concurrent_reconciles=workers,
    )
    mgr = await Manager.from_kubeconfig(
        args.kubeconfig, args.context, options, qps=args.kube_api_qps, burst=args.kube_api_burst
    )
    for name in names:
        CONTROLLERS[name](mgr)
    log.info("starting manager %s with controllers: %s", __version__, ", ".join(names) or "none")
    try:
        await mgr.run()
    except LeaderElectionLost:
        log.error("leader election lost; exiting")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        names = select_controllers(args.controllers or ["*"], CONTROLLERS)
        workers = parse_workers(args.max_concurrent_reconciles, CONTROLLERS)
    except UsageError as e:
        parser.error(str(e))  # exits 2
    irc_logging.configure(args.log_format, args.log_level)
    try:
        return asyncio.run(run_manager(args, names, workers))
    except Exception as e:  # a startup failure (bad kubeconfig, caches not syncing): one clear line
        log.error("manager failed: %s", e, exc_info=args.log_level == "debug")
        return 1


if __name__ == "__main__":
    sys.exit(main())
