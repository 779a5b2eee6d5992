"""``fabric-resources emulator serve|token``: the same commands as ``python -m fabric_resources.emulator``."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    from fabric_resources.emulator import add_commands

    group = subparsers.add_parser("emulator", help="run the local Fabric API emulator, mint tokens")
    add_commands(group.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND", required=True))
