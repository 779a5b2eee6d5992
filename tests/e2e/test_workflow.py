"""The shell workflow around the CLI: `source scripts/env`, `pulumi install`, `fabric-resources emulator
start|stop|status` and `fabric-resources deploy`, each in a throw-away copy of the project folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fabric_resources import engine
from tests.e2e.conftest import VENV, copy_project_folder, project_yaml

pytestmark = pytest.mark.e2e


def clean_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: no Pulumi backend, passphrase or Fabric settings of ours, a fresh PULUMI_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "FABRIC_", "AZURE_"))}
    env["PULUMI_HOME"] = str(tmp_path / "pulumi-home")
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    return env


def shell(script: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A fresh-clone-like copy: the project, scripts/env, and links to this checkout's .venv and .tools."""
    root = copy_project_folder(tmp_path / "checkout")
    (root / "scripts").mkdir()
    shutil.copy2(engine.PROJECT_ROOT / "scripts" / "env", root / "scripts" / "env")
    (root / ".tools").symlink_to(engine.TOOLS_DIR.parent, target_is_directory=True)
    return root


def test_scripts_env_gives_the_fixed_passphrase_and_file_backend_to_the_local_stack_only(
    checkout: Path, tmp_path: Path
) -> None:
    env = clean_env(tmp_path)
    local = shell("""
        set -e
        source scripts/env
        pulumi stack init local --secrets-provider passphrase --non-interactive
        pulumi config set --secret fabric:token local-token-value --stack local --non-interactive
        pulumi stack select local --non-interactive
        # No --stack: the selected stack is local, so it gets the passphrase too.
        pulumi config get fabric:token --non-interactive
    """, cwd=checkout, env=env)
    assert local.returncode == 0, local.stdout + local.stderr
    assert local.stdout.strip().splitlines()[-1] == "local-token-value"
    assert (checkout / ".pulumi-state" / ".pulumi" / "stacks" / "fabric-resources" / "local.json").exists()
    stack_file = (checkout / "stacks" / "Pulumi.local.yaml").read_text()
    assert "secure:" in stack_file and "local-token-value" not in stack_file

    # Another stack gets no passphrase: with a file backend of the user's, the engine asks for one.
    other = tmp_path / "team-backend"
    other.mkdir()
    dev = shell(f"""
        source scripts/env
        export PULUMI_BACKEND_URL={other.as_uri()}
        pulumi stack init dev --secrets-provider passphrase --non-interactive
    """, cwd=checkout, env=env)
    assert dev.returncode != 0
    assert "PULUMI_CONFIG_PASSPHRASE" in dev.stdout + dev.stderr, dev.stdout + dev.stderr
    # ...and no backend: without PULUMI_BACKEND_URL or `pulumi login`, dev is never put in the project's.
    unlogged = shell("""
        source scripts/env
        pulumi stack init dev --non-interactive
    """, cwd=checkout, env=env)
    assert unlogged.returncode != 0
    assert not list((checkout / ".pulumi-state").rglob("dev.json*"))
    # Another project's stack named local (outside this checkout) gets nothing either.
    elsewhere = tmp_path / "other-project"
    elsewhere.mkdir()
    (elsewhere / "Pulumi.yaml").write_text(project_yaml("other"))
    foreign = shell(f"""
        source {checkout}/scripts/env
        pulumi stack init local --non-interactive
    """, cwd=elsewhere, env=env)
    assert foreign.returncode != 0
    assert "PULUMI_ACCESS_TOKEN" in foreign.stdout + foreign.stderr, foreign.stdout + foreign.stderr
    # The user's own passphrase wins over the fixed one, also for local (which then cannot decrypt).
    mine = shell("""
        source scripts/env
        PULUMI_CONFIG_PASSPHRASE=not-the-local-one pulumi config get fabric:token --stack local --non-interactive
    """, cwd=checkout, env=env)
    assert mine.returncode != 0
    assert "passphrase" in (mine.stdout + mine.stderr).lower()


def test_emulator_start_is_idempotent_and_stop_ends_it(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    cli = [sys.executable, "-m", "fabric_resources.cli", "emulator"]

    def emulator(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, command, "--data-dir", str(data)], capture_output=True, text=True, timeout=120)

    try:
        first = emulator("start")
        assert first.returncode == 0, first.stderr
        assert "emulator started" in first.stdout
        pid = int(first.stdout.split("(pid ", 1)[1].split(")", 1)[0])
        again = emulator("start")
        assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout, again.stdout
        assert emulator("status").returncode == 0
        stopped = emulator("stop")
        assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
        assert emulator("status").returncode == 1
        assert not (data / "emulator.json").exists()
        assert emulator("stop").returncode == 0  # nothing left to stop is not an error
    finally:
        subprocess.run([*cli, "stop", "--data-dir", str(data)], capture_output=True, timeout=60)


def test_pulumi_install_creates_the_virtualenv_and_installs_requirements(pulumi_project: Any) -> None:
    project = pulumi_project("import pulumi\n", emulator=False,
                             pulumi_yaml=project_yaml("fabric-e2e", virtualenv="venv"))
    (project.directory / "requirements.txt").write_text("# nothing beyond the standard library\n")
    result = project.run("install", stack=False)
    assert (project.directory / "venv" / "bin" / "python").exists(), result.describe()
    assert "requirements.txt" in result.output, result.describe()


def test_fabric_resources_deploy_runs_the_cli_on_the_local_stack(checkout: Path, tmp_path: Path,
                                                                  emulator: Any) -> None:
    (checkout / ".emulator").symlink_to(emulator.data_dir, target_is_directory=True)
    env = clean_env(tmp_path)
    # The project's default backend is the real checkout's .pulumi-state: point the local stack elsewhere.
    env["PULUMI_BACKEND_URL"] = (tmp_path / "state").as_uri()
    (tmp_path / "state").mkdir()
    deploy = [str(VENV / "bin" / "fabric-resources"), "deploy", "--project-dir", str(checkout)]
    emulator.reset_stats()
    preview = subprocess.run([*deploy, "preview", "--stack", "local"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "+ pulumi preview --stack local" in preview.stdout
    assert "to create" in preview.stdout
    # A preview writes nothing (the program may look its connections up by name: reads only).
    writes = {route: n for route, n in emulator.stats()["by_route"].items() if not route.startswith("GET ")}
    assert writes == {}, writes
    # Only local is created on demand: another stack must exist in the user's own backend.
    dev = subprocess.run([*deploy, "preview", "--stack", "dev"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert dev.returncode == 2
    assert "cannot select stack 'dev'" in dev.stderr
