"""Driving the real Pulumi engine offline, through the Automation API.

The Python language host (``pulumi-language-python``) cannot be built on machines that only reach
package registries (its Go module has no published versions), so every deployment -- the README's
main job and the end-to-end tests -- runs the project's ``__main__.py`` as an Automation API *inline
program*: the engine talks to a language server inside this process instead of spawning a host. The
dynamic providers still run in their own process (``pulumi-resource-pulumi-python``), exactly as
under ``pulumi up``. See DECISIONS.md.

Everything here is local: a project-local CLI in ``.tools/pulumi/bin``, a file backend, a passphrase
secrets provider, no update checks and no plugin downloads.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pulumi import automation as auto

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = PROJECT_ROOT / ".tools" / "pulumi"
DEFAULT_BACKEND_DIR = PROJECT_ROOT / ".pulumi-state"
# Only for stacks whose secrets are emulator credentials; real environments set their own.
LOCAL_PASSPHRASE = "fabric-resources-local-only"


def engine_env(
    *,
    backend_dir: Path | None = None,
    pulumi_home: Path | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the CLI and the plugins it spawns: offline, file backend, our tools first."""
    backend = Path(backend_dir or os.environ.get("FABRIC_PULUMI_BACKEND_DIR") or DEFAULT_BACKEND_DIR)
    backend.mkdir(parents=True, exist_ok=True)
    # The dynamic-provider plugin runs `python3 -m pulumi.dynamic`: the interpreter running this code
    # (the project venv) must come first so the provider process can import fabric_resources.
    path_parts = [str(Path(sys.executable).parent), str(TOOLS_DIR / "bin"), os.environ.get("PATH", "")]
    env = {
        "PATH": os.pathsep.join(p for p in path_parts if p),
        "PULUMI_BACKEND_URL": backend.as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE),
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    if pulumi_home is not None:
        env["PULUMI_HOME"] = str(pulumi_home)
    if extra:
        env.update(extra)
    return env


def pulumi_command() -> auto.PulumiCommand:
    binary = TOOLS_DIR / "bin" / "pulumi"
    if not binary.exists():
        raise RuntimeError(f"The Pulumi CLI is not installed at {binary}: run scripts/install-pulumi first.")
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
    pulumi_home: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> auto.Stack:
    """Create or select a stack of the project in ``work_dir`` (its Pulumi.yaml and stack configs)."""
    env = engine_env(backend_dir=backend_dir, pulumi_home=pulumi_home, extra=extra_env)
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir),
        env_vars=env,
        pulumi_command=pulumi_command(),
        project_settings=project_settings,
        pulumi_home=str(pulumi_home) if pulumi_home else None,
        secrets_provider="passphrase",
    )
    main = program or program_from_file(work_dir / "__main__.py")
    name = project_settings.name if project_settings else "fabric-resources"
    return auto.create_or_select_stack(stack_name=stack_name, project_name=name, program=main, opts=opts)


__all__ = ["PROJECT_ROOT", "engine_env", "program_from_file", "pulumi_command", "select_stack"]
