"""A local, faithful emulator of the Microsoft Fabric REST API (HTTPS, Entra-compatible identity).

Run it with ``python -m fabric_resources.emulator serve --data-dir DIR`` (or ``fabric-resources
emulator serve``); connection facts for clients are written to ``DIR/emulator.json``.
``... token --user UPN | --client-id ID`` prints a bearer token, as if copied from the portal.

Only the standard library is imported here so the command line starts quickly; the server,
identity and HTTP stack are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR_ENV = "FABRIC_EMULATOR_DIR"
INFO_FILE = "emulator.json"


def default_data_dir() -> Path:
    return Path(os.environ.get(DEFAULT_DATA_DIR_ENV) or ".emulator")


def read_info(data_dir: Path | str) -> dict[str, Any] | None:
    """The running emulator's emulator.json, or None when there is none (or it is unreadable)."""
    try:
        info = json.loads((Path(data_dir) / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def add_commands(subparsers: Any) -> None:
    """Add ``serve`` and ``token`` to an argparse sub-command set (shared with the project CLI)."""
    serve_p = subparsers.add_parser("serve", help="run the emulator (HTTPS) in the foreground")
    serve_p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    _add_data_dir(serve_p)
    serve_p.add_argument("--log-level", default="warning",
                         choices=["critical", "error", "warning", "info", "debug"])
    serve_p.set_defaults(func=_cmd_serve)

    token_p = subparsers.add_parser("token", help="print a bearer token for an emulator principal")
    who = token_p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="UPN", help="user principal name")
    who.add_argument("--client-id", metavar="ID", help="service principal client id")
    _add_data_dir(token_p)
    token_p.add_argument("--lifetime", type=int, metavar="SECONDS", default=None,
                         help="token lifetime (default: the emulator's token_lifetime_seconds)")
    token_p.set_defaults(func=_cmd_token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fabric_resources.emulator",
                                     description="Local Microsoft Fabric REST API emulator.")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command it names (``func`` set by ``set_defaults``); with no
    command, help on stderr and exit 2. Shared with the project CLI."""
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"state directory (default: ${DEFAULT_DATA_DIR_ENV} or ./.emulator)")


def _cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(args.data_dir or default_data_dir(), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or default_data_dir())
    try:
        token = issue_token(data_dir, user=args.user, client_id=args.client_id, lifetime_seconds=args.lifetime)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def issue_token(data_dir: Path, *, user: str | None = None, client_id: str | None = None,
                lifetime_seconds: int | None = None) -> str:
    """A token from the running emulator, or signed locally with the data dir's key when it is down."""
    info = read_info(data_dir)
    if info is not None:
        token = _token_from_server(info, user=user, client_id=client_id, lifetime_seconds=lifetime_seconds)
        if token is not None:
            return token
    from .identity import IDENTITY_FILE, Identity

    if not (data_dir / IDENTITY_FILE).exists():
        raise LookupError(f"no emulator state in {data_dir} (start `serve` once, or pass --data-dir)")
    identity = Identity.load_or_create(data_dir, (info or {}).get("api_url", ""))
    principal = identity.find_principal(client_id=client_id) if client_id else identity.find_principal(upn=user)
    if principal is None:
        known = ", ".join(p.upn or p.client_id or p.object_id for p in identity.principals)
        raise LookupError(f"unknown principal {user or client_id!r}; known: {known}")
    return identity.issue_token(principal, lifetime_seconds=lifetime_seconds)


def _token_from_server(info: dict[str, Any], *, user: str | None, client_id: str | None,
                       lifetime_seconds: int | None) -> str | None:
    """POST /_emulator/token; None when the emulator is not reachable (then we sign locally)."""
    import requests

    body: dict[str, Any] = {"client_id": client_id} if client_id else {"user_principal_name": user}
    if lifetime_seconds is not None:
        body["lifetime_seconds"] = lifetime_seconds
    session = requests.Session()
    session.trust_env = False  # the environment's CA bundle would override the emulator's CA
    try:
        resp = session.post(f"{info['admin_url']}/token", json=body, verify=info["ca_cert"], timeout=10)
    except (requests.RequestException, KeyError, OSError):
        return None
    finally:
        session.close()
    if resp.status_code in (400, 404):
        try:
            message = resp.json().get("message") or resp.text
        except ValueError:
            message = resp.text
        raise LookupError(f"emulator refused: {str(message)[:300]}")
    if resp.status_code != 200:
        return None
    try:
        return str(resp.json()["access_token"])
    except (ValueError, KeyError):
        return None


__all__ = ["DEFAULT_DATA_DIR_ENV", "INFO_FILE", "add_commands", "build_parser", "default_data_dir",
           "issue_token", "main", "read_info", "run_command"]
