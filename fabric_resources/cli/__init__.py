"""The ``fabric-resources`` command line.

Each command group lives in its own module and adds itself with ``register(subparsers)``;
a command sets ``func`` (``args -> exit code``) through ``set_defaults``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fabric_resources.cli import deploy_cmd, emulator_cmd, jobs_cmd
from fabric_resources.emulator import run_command

# Command groups, in the order they appear in --help.
_GROUPS = (emulator_cmd, deploy_cmd, jobs_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fabric-resources",
        description="Microsoft Fabric pipelines as code: local emulator, deployments, pipeline runs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


__all__ = ["build_parser", "main"]
