"""Plumbing shared by the CLI commands: connection options, settings, output, errors.

Connection settings come from, in order:

1. ``--emulator-dir DIR``: the ``emulator.json`` a running local emulator wrote (its default service
   principal), the quickest way to point the CLI at ``fabric-resources emulator serve``.
2. ``--stack NAME``: the plain ``fabric:*`` keys of ``stacks/Pulumi.NAME.yaml`` -- the same settings the
   providers get -- with the environment filling any gap. Values Pulumi stores encrypted
   (``fabric:clientSecret: {secure: ...}``) cannot be read without the Pulumi engine and the stack's
   passphrase, so they are skipped and must come from the environment (``AZURE_CLIENT_SECRET``).
   ``fabric:emulatorDir`` (relative to the project folder) supplies what the other keys leave unset.
3. The environment (``FabricSettings.from_env()``).

The stack file is read with PyYAML's ``safe_load``: PyYAML is not a direct dependency of this project
but is a hard requirement of the ``pulumi`` package we pin, so it is always installed alongside.

Exit codes (stable, documented in ``--help`` epilogs):

* 0 success, 1 the run failed / was cancelled, 2 usage, lookup, API or connection error,
  3 ``--wait --timeout`` expired while the run was still going, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from fabric_resources.errors import FabricError, describe_error

if TYPE_CHECKING:  # imported lazily at run time: `--help` must not pay for requests/MSAL
    from fabric_resources.client import FabricClient
    from fabric_resources.settings import FabricSettings

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_ERROR = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 the run failed or was cancelled; 2 usage, lookup, API or connection error; "
    "3 --timeout expired (the run goes on); 130 interrupted"
)

#: Where stack files live, relative to the project root (Pulumi.yaml's stackConfigDir).
_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# Pulumi.yaml's `name`: the namespace of the program's own stack settings.
PROJECT_NAME = "fabric-resources"
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class CliError(Exception):
    """A failure already phrased for the user: printed as one line, mapped to an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# -- argument parsing ----------------------------------------------------------------------------


def connection_parent() -> argparse.ArgumentParser:
    """Options every command accepts (added to each subcommand through ``parents=``).

    Defaults are SUPPRESS so that a value given before the subcommand (should the top-level parser
    ever define the same options) is not overwritten by a subparser default.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--stack",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="read fabric:* settings from stacks/Pulumi.NAME.yaml (environment fills gaps)",
    )
    group.add_argument(
        "--emulator-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="connect to the local emulator serving DIR (reads DIR/emulator.json)",
    )
    group.add_argument(
        "--output",
        "-o",
        choices=("table", "json"),
        default=argparse.SUPPRESS,
        help="table (default, for people) or json (stable keys, for scripts)",
    )
    return parent


def output_format(args: argparse.Namespace) -> str:
    return str(getattr(args, "output", None) or "table")


# -- settings and client -------------------------------------------------------------------------


def read_stack_config(
    name: str, *, namespace: str = "fabric", project_root: Path | None = None
) -> tuple[dict[str, str], set[str]]:
    """The plain scalar ``<namespace>:*`` keys of ``stacks/Pulumi.<name>.yaml``, and the encrypted keys' names."""
    if not _STACK_NAME.match(name):
        raise CliError(f"invalid stack name {name!r}")
    root = project_root or project_dir()
    path = root / "stacks" / f"Pulumi.{name}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"stack {name!r} not found: no {path}") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    import yaml  # see the module docstring: always present through the pulumi package

    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        # The problem mark (line/column) is enough; never echo file content (it may hold secrets).
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CliError(f"{path} is not valid YAML{where}") from None
    config = doc.get("config") if isinstance(doc, dict) else None
    if config is None:
        return {}, set()
    if not isinstance(config, dict):
        raise CliError(f"{path}: 'config' is not a mapping")
    plain: dict[str, str] = {}
    encrypted: set[str] = set()
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(f"{namespace}:"):
            continue
        if isinstance(value, bool):
            plain[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            plain[key] = str(value)
        elif isinstance(value, dict) and "secure" in value:
            encrypted.add(key)
        # Lists and other maps are not settings the client knows: ignored.
    return plain, encrypted


def default_workspace(args: argparse.Namespace) -> str | None:
    """With ``--stack``: the workspace that stack deploys to (``fabric-resources:workspaceName``)."""
    stack = getattr(args, "stack", None)
    if not stack or getattr(args, "emulator_dir", None):
        return None
    config, _ = read_stack_config(stack, namespace=PROJECT_NAME)
    return config.get(f"{PROJECT_NAME}:workspaceName") or None


def project_dir() -> Path:
    """The folder holding Pulumi.yaml and stacks/ (``FABRIC_PROJECT_DIR`` overrides, for tests)."""
    return Path(os.environ.get("FABRIC_PROJECT_DIR") or _PROJECT_ROOT)


# Encrypted stack keys the environment can stand in for (we cannot decrypt without the engine).
_SECRET_ENV = {"fabric:clientSecret": "AZURE_CLIENT_SECRET", "fabric:token": "FABRIC_TOKEN"}


def load_settings(args: argparse.Namespace) -> FabricSettings:
    from fabric_resources.settings import FabricSettings

    emulator_dir = getattr(args, "emulator_dir", None)
    stack = getattr(args, "stack", None)
    try:
        if emulator_dir:
            return FabricSettings.from_emulator(_running_emulator(Path(emulator_dir)))
        if stack:
            config, encrypted = read_stack_config(stack)
            for key in sorted(encrypted):
                env_name = _SECRET_ENV.get(key)
                if env_name and os.environ.get(env_name):
                    config[key] = os.environ[env_name]
                else:
                    raise CliError(
                        f"stack {stack!r} stores {key} encrypted, which this command cannot decrypt: "
                        f"set {env_name or 'the matching environment variable'} instead"
                    )
            if config.get("fabric:emulatorDir"):
                # Relative to the project, as for `pulumi up` (which runs from the project folder).
                path = Path(config["fabric:emulatorDir"]).expanduser()
                path = path if path.is_absolute() else project_dir() / path
                config["fabric:emulatorDir"] = str(_running_emulator(path))
            return FabricSettings.from_config(config)
        return FabricSettings.from_env()
    except CliError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        # Settings validation errors name the missing key; they never carry secret values.
        raise CliError(f"incomplete connection settings: {_one_line(str(exc))}") from None


def _running_emulator(data_dir: Path) -> Path:
    """``data_dir``, once it holds the emulator.json a running emulator writes."""
    if not (data_dir / "emulator.json").is_file():
        raise CliError(f"no emulator.json in {data_dir}: is the emulator running there?")
    return data_dir


def build_client(args: argparse.Namespace) -> FabricClient:
    from fabric_resources.client import FabricClient

    settings = load_settings(args)
    _remember_secrets(settings)
    # A person waits at a terminal: fewer retries and a shorter per-call deadline than a deployment,
    # so throttling (Retry-After can be minutes) or an outage surfaces as an error within ~30 s.
    return FabricClient(settings, max_attempts=4, timeout=30.0, call_deadline=30.0, retry_after_cap=30.0)


# -- output --------------------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, a dashed rule under the headers."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return _one_line(str(value))


def print_json(data: Any, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    out.flush()


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- errors --------------------------------------------------------------------------------------

# Secrets seen while building the client, scrubbed from anything we print (defence in depth: the
# client's errors are not supposed to carry them, but a server could echo one back).
_SECRETS: set[str] = set()
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)bearer\s+\S+")


def _remember_secrets(settings: Any) -> None:
    for name in ("client_secret", "token"):
        value: Any = getattr(settings, name, None)
        reveal = getattr(value, "get_secret_value", None)  # pydantic SecretStr
        if reveal is not None:
            value = reveal()
        if isinstance(value, str) and len(value) >= 4:
            _SECRETS.add(value)
    env_secret = os.environ.get("AZURE_CLIENT_SECRET")
    if env_secret and len(env_secret) >= 4:
        _SECRETS.add(env_secret)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    text = _JWT.sub("***", text)
    return _BEARER.sub("Bearer ***", text)


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.RequestException)


def fail(message: str, *, stream: TextIO | None = None) -> None:
    print(f"error: {redact(_one_line(message))}", file=stream or sys.stderr, flush=True)


def _report(args: argparse.Namespace, message: str, exc: BaseException | None = None) -> None:
    """The one error line: text, or with `--output json` a JSON object scripts can parse (still stderr)."""
    if getattr(args, "output", None) != "json":
        fail(message)
        return
    error: dict[str, Any] = {"message": redact(_one_line(message))}
    source = getattr(exc, "last_error", None) or exc
    for attribute, key in (("status", "status"), ("error_code", "errorCode"), ("request_id", "requestId")):
        value = getattr(source, attribute, None)
        if value:
            error[key] = value
    print(json.dumps({"error": error}, sort_keys=True), file=sys.stderr, flush=True)


def command(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: every failure becomes one line on stderr and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except CliError as exc:
            _report(args, describe_error(exc), exc)
            return exc.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        except FabricError as exc:
            _report(args, describe_error(exc), exc)
            return EXIT_ERROR
        except Exception as exc:
            if _is_connection_error(exc):
                _report(args, f"cannot reach the Fabric API: {describe_error(exc)}", exc)
                return EXIT_ERROR
            # Unexpected: still one line (the type helps a bug report), no traceback with locals.
            _report(args, f"unexpected {type(exc).__name__}: {describe_error(exc)}", exc)
            return EXIT_ERROR

    return wrapper


__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_TIMEOUT",
    "CliError",
    "build_client",
    "command",
    "connection_parent",
    "default_workspace",
    "describe_error",
    "fail",
    "format_duration",
    "load_settings",
    "output_format",
    "print_json",
    "project_dir",
    "read_stack_config",
    "redact",
    "render_table",
]
