"""Driving the real Pulumi engine: the project-local CLI, and the environment each stack gets.

Deployments run the plain ``pulumi`` CLI in the project folder (``fabric-resources deploy``,
``scripts/deploy``); the engine starts this project's Python language host
(``fabric_resources.language_host``, installed beside the CLI by ``scripts/install-pulumi``), which runs
``__main__.py`` with the project's ``.venv``. ``select_stack`` keeps the Automation API path for
programs that embed the engine as a library (inline programs need no language host).

Stacks keep their own backend and secrets. Only the ``local`` stack (the emulator) gets defaults: the
project's file backend ``.pulumi-state/`` unless ``PULUMI_BACKEND_URL`` is set, and the fixed
``LOCAL_PASSPHRASE`` unless a passphrase (or a passphrase file) is set. Any other stack uses whatever
``pulumi login`` / ``PULUMI_BACKEND_URL`` and its own ``secretsprovider`` say; with no passphrase set
the engine asks for one or fails clearly. Always: no update checks, no plugin downloads.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pulumi import automation as auto

from fabric_resources.providers._concurrency import MAX_IN_FLIGHT_CEILING

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = PROJECT_ROOT / ".tools" / "pulumi"
PULUMI = TOOLS_DIR / "bin" / "pulumi"
DEFAULT_BACKEND_DIR = PROJECT_ROOT / ".pulumi-state"
LOCAL_STACK = "local"
# The `local` stack's alone: its secrets are emulator credentials. Real environments set their own.
LOCAL_PASSPHRASE = "fabric-resources-local-only"

_OFFLINE = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
}


def is_local(stack: str) -> bool:
    """The emulator stack, also when named fully (``organization/project/local``)."""
    return stack.rsplit("/", 1)[-1] == LOCAL_STACK


def engine_env(
    stack: str,
    *,
    backend_dir: Path | None = None,
    passphrase: str | None = None,
    pulumi_home: Path | None = None,
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What to add to ``base`` (default: this process's environment) for the CLI to run ``stack``.

    ``backend_dir``/``passphrase`` given explicitly always apply (tests, private set-ups); otherwise
    only the ``local`` stack gets the project's defaults, and only where ``base`` sets nothing.
    """
    current = os.environ if base is None else base
    # The dynamic-provider plugin runs `python3 -m pulumi.dynamic` when Pulumi.yaml names no
    # virtualenv (Automation API inline programs): this interpreter must be found first.
    path_parts = [str(Path(sys.executable).parent), str(TOOLS_DIR / "bin"), current.get("PATH", "")]
    env = {"PATH": os.pathsep.join(p for p in path_parts if p), **_OFFLINE}
    if backend_dir is not None:
        Path(backend_dir).mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = Path(backend_dir).as_uri()
    elif is_local(stack) and not current.get("PULUMI_BACKEND_URL"):
        DEFAULT_BACKEND_DIR.mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = DEFAULT_BACKEND_DIR.as_uri()
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    elif is_local(stack) and not (
        "PULUMI_CONFIG_PASSPHRASE" in current or current.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    ):
        env["PULUMI_CONFIG_PASSPHRASE"] = LOCAL_PASSPHRASE
    if pulumi_home is not None:
        env["PULUMI_HOME"] = str(pulumi_home)
    if not current.get("PULUMI_PARALLEL"):
        # The engine's default --parallel is four per CPU (8 on two cores), below the providers'
        # own in-flight limit (fabric:maxInFlight, DECISIONS.md #17), which is what should bound them.
        env["PULUMI_PARALLEL"] = str(MAX_IN_FLIGHT_CEILING)
    if extra:
        env.update(extra)
    return env


def cli_environment(stack: str, *, backend_dir: Path | None = None, passphrase: str | None = None) -> dict[str, str]:
    """The full environment for a ``pulumi`` subprocess working on ``stack`` (see ``engine_env``)."""
    return {**os.environ, **engine_env(stack, backend_dir=backend_dir, passphrase=passphrase)}


def require_cli() -> Path:
    if not PULUMI.exists():
        raise RuntimeError(f"The Pulumi CLI is not installed at {PULUMI}: run scripts/install-pulumi first.")
    return PULUMI


def pulumi_command() -> auto.PulumiCommand:
    require_cli()
    return auto.PulumiCommand(root=str(TOOLS_DIR), skip_version_check=True)


def program_from_file(path: Path) -> Callable[[], None]:
    """An inline program that runs a Pulumi program file (``__main__.py``) as `pulumi up` would."""

    def run() -> None:
        runpy.run_path(str(path), run_name="__main__")

    return run


def select_stack(
    stack_name: str,
    *,
    program: Callable[[], None] | None = None,
    work_dir: Path = PROJECT_ROOT,
    project_settings: auto.ProjectSettings | None = None,
    backend_dir: Path | None = None,
    passphrase: str | None = None,
    pulumi_home: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> auto.Stack:
    """Automation API: create or select a stack of the project in ``work_dir`` with an inline program."""
    env = engine_env(stack_name, backend_dir=backend_dir, passphrase=passphrase, pulumi_home=pulumi_home,
                     extra=extra_env)
    # A new stack gets passphrase secrets only where a passphrase is known; otherwise the backend's default.
    secrets = "passphrase" if "PULUMI_CONFIG_PASSPHRASE" in env else None
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir),
        env_vars=env,
        pulumi_command=pulumi_command(),
        project_settings=project_settings,
        pulumi_home=str(pulumi_home) if pulumi_home else None,
        secrets_provider=secrets,
    )
    main = program or program_from_file(work_dir / "__main__.py")
    name = project_settings.name if project_settings else "fabric-resources"
    return auto.create_or_select_stack(stack_name=stack_name, project_name=name, program=main, opts=opts)


__all__ = [
    "LOCAL_PASSPHRASE",
    "LOCAL_STACK",
    "PROJECT_ROOT",
    "PULUMI",
    "cli_environment",
    "engine_env",
    "is_local",
    "program_from_file",
    "pulumi_command",
    "require_cli",
    "select_stack",
]
