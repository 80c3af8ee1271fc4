"""The `irc` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from irc import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irc", description="Image automation and image backup for Kubernetes."
    )
    parser.add_argument("--version", action="version", version=f"irc {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0
