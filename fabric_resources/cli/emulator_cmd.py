"""``fabric-resources emulator serve|token|start|stop|status``.

``serve`` and ``token`` are the commands of ``python -m fabric_resources.emulator``. ``start`` runs the
emulator in the background for the ``local`` stack (idempotent: an emulator already serving the data
folder is kept), ``stop`` ends it, ``status`` says whether one serves the folder.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_FILE = "server.log"


def register(subparsers: Any) -> None:
    from fabric_resources.emulator import add_commands

    group = subparsers.add_parser("emulator", help="run the local Fabric API emulator, mint tokens")
    commands = group.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND", required=True)
    add_commands(commands)
    for name, func, text in (
        ("start", _cmd_start, "start the emulator in the background (kept if already running)"),
        ("stop", _cmd_stop, "stop the background emulator"),
        ("status", _cmd_status, "say whether an emulator serves the data folder (exit 1 if not)"),
    ):
        parser = commands.add_parser(name, help=text, description=text)
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="state directory (default: $FABRIC_EMULATOR_DIR or ./.emulator)")
        parser.set_defaults(func=func)


def _data_dir(args: argparse.Namespace) -> Path:
    from fabric_resources.emulator import default_data_dir

    return Path(args.data_dir or default_data_dir()).resolve()


def serving(data_dir: Path) -> dict[str, Any] | None:
    """The emulator.json of an emulator that is alive and answering over HTTPS, else None."""
    import requests

    from fabric_resources.emulator import read_info

    info = read_info(data_dir)
    if info is None or not _alive(int(info.get("pid") or 0)):
        return None
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
    try:
        resp = session.get(str(info["authority"]) + "/v2.0/.well-known/openid-configuration",
                           verify=str(info["ca_cert"]), timeout=3)
    except (requests.RequestException, KeyError):
        return None
    finally:
        session.close()
    return info if resp.ok else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmd_start(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    info = serving(data_dir)
    if info is not None:
        print(f"emulator already running (pid {info['pid']}) at {info['api_url']}, data in {data_dir}")
        return 0
    data_dir.mkdir(parents=True, exist_ok=True)
    # A stale emulator.json (a killed emulator) must not be taken for the new one's.
    (data_dir / "emulator.json").unlink(missing_ok=True)
    log = open(data_dir / LOG_FILE, "ab")  # noqa: SIM115 - the child owns it for its life
    try:
        # Its own session: it outlives this command and the shell's Ctrl-C.
        proc = subprocess.Popen(
            [sys.executable, "-m", "fabric_resources.emulator", "serve", "--data-dir", str(data_dir), "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        info = serving(data_dir)
        if info is not None and int(info.get("pid") or 0) == proc.pid:
            print(f"emulator started (pid {proc.pid}) at {info['api_url']}, data in {data_dir}; "
                  "stop it with `fabric-resources emulator stop`")
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    if proc.poll() is None:
        proc.terminate()
    print(f"error: the emulator did not start; see {data_dir / LOG_FILE}", file=sys.stderr)
    return 2


def _cmd_stop(args: argparse.Namespace) -> int:
    from fabric_resources.emulator import read_info

    data_dir = _data_dir(args)
    info = read_info(data_dir)
    pid = int((info or {}).get("pid") or 0)
    if not _alive(pid):
        print(f"no emulator running for {data_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    print(f"emulator stopped (pid {pid})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    info = serving(data_dir)
    if info is None:
        print(f"no emulator running for {data_dir}")
        return 1
    print(f"emulator running (pid {info['pid']}) at {info['api_url']}, data in {data_dir}")
    return 0
