"""The ``fabric-resources`` command line.

Each command group lives in its own module and adds itself with ``register(subparsers)``;
a command sets ``func`` (``args -> exit code``) through ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Command-group modules, in the order they appear in --help. Imported lazily so that a
# broken optional group never takes the whole CLI down with it.
_GROUPS = (
    "fabric_resources.cli.emulator_cmd",
    "fabric_resources.cli.deploy_cmd",
    "fabric_resources.cli.jobs_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabric-resources",
        description="Microsoft Fabric pipelines as code: local emulator, deployments, pipeline runs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _GROUPS:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args) or 0)


__all__ = ["build_parser", "main"]
