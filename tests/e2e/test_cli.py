"""The plain `pulumi` CLI as users run it, with this project's Python language host.

Each test runs the real CLI in a project folder of its own (Pulumi.yaml + __main__.py), so the engine
starts `.tools/pulumi/bin/pulumi-language-python`, which runs the program with the virtualenv's
Python through `pulumi-language-python-exec`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fabric_resources import engine
from fabric_resources.client import FabricClient
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import VENV, alive, descendants, project_yaml

pytestmark = pytest.mark.e2e

# The probe resource lives in tests/, which the venv does not install: the program and the provider
# process find it through PYTHONPATH (what a user's own package would get from its install).
PROBE_ENV = {"PYTHONPATH": str(engine.PROJECT_ROOT)}

NOTES_PROGRAM = """
    import pulumi
    from tests.e2e.probe import Note

    config = pulumi.Config()
    a = Note("a", config.require("text"))
    b = Note("b", "fixed")
    pulumi.export("a_text", a.text)
    pulumi.export("a_revision", a.revision)
    pulumi.export("stack", pulumi.get_stack())
    pulumi.export("secret_seen", config.require_secret("password").apply(lambda v: len(v)))
"""


def test_language_host_is_installed_beside_the_cli() -> None:
    host = engine.TOOLS_DIR / "bin" / "pulumi-language-python"
    assert host.stat().st_mode & 0o111
    text = host.read_text()
    # It names this checkout's interpreter and exec script, so it works from any folder.
    assert str(engine.PROJECT_ROOT / ".venv" / "bin" / "python") in text
    assert str(engine.TOOLS_DIR / "bin" / "pulumi-language-python-exec") in text


def test_cli_lifecycle_with_the_project_language_host(pulumi_project: Any) -> None:
    project = pulumi_project(NOTES_PROGRAM, emulator=False, config={"fabric-e2e:text": "first"},
                             secret_config={"fabric-e2e:password": "hunter2-secret"})
    project.env.update(PROBE_ENV)

    preview = project.preview()
    assert "+ 3 to create" in preview.stdout, preview.describe()
    up = project.up()
    assert "3 created" in up.stdout, up.describe()
    outputs = project.outputs()
    assert outputs["a_text"] == "first"
    assert outputs["a_revision"] == 1
    assert outputs["stack"] == project.stack
    assert outputs["secret_seen"] == "[secret]"
    assert project.outputs(show_secrets=True)["secret_seen"] == len("hunter2-secret")

    project.preview("--expect-no-changes")
    project.refresh("--expect-no-changes")

    project.config_set("fabric-e2e:text", "second")
    changed = project.up()
    assert "1 updated" in changed.stdout, changed.describe()
    assert project.outputs()["a_revision"] == 2
    assert "hunter2-secret" not in (project.directory / f"Pulumi.{project.stack}.yaml").read_text()

    project.destroy()
    assert project.resources() == []


def test_program_outside_the_repo_deploys_fabric_resources(pulumi_project: Any, emulator: Any,
                                                           tmp_path: Path) -> None:
    """A program in a folder of its own, its Pulumi.yaml's virtualenv pointing at the project's .venv."""
    name = f"Outside {os.urandom(3).hex()}"
    project = pulumi_project(f"""
        import pulumi
        from fabric_resources import DataPipeline, Workspace

        ws = Workspace("ws", display_name={name!r})
        p = DataPipeline("p", workspace_id=ws.id, display_name="Copy",
                         definition={{"properties": {{"activities": []}}}})
        pulumi.export("workspace_id", ws.id)
        pulumi.export("pipeline_id", p.id)
    """, directory=tmp_path / "elsewhere" / "infra")
    assert f"virtualenv: {VENV}" in (project.directory / "Pulumi.yaml").read_text()
    project.up()
    outputs = project.outputs()
    fabric = FabricClient(FabricSettings.from_emulator(emulator.data_dir))
    assert fabric.workspaces.get(outputs["workspace_id"]).display_name == name
    assert [i.id for i in fabric.items.list(outputs["workspace_id"], type="DataPipeline")] == [outputs["pipeline_id"]]
    project.preview("--expect-no-changes")
    project.destroy()
    assert fabric.workspaces.find(name) is None


def test_program_error_is_reported_once_without_a_host_traceback(pulumi_project: Any) -> None:
    project = pulumi_project("""
        import pulumi

        def fail() -> None:
            raise ValueError("the program says no-7f3a")

        fail()
    """, emulator=False)
    result = project.up(check=False)
    assert result.returncode != 0
    out = result.output
    # Once: one traceback, one exception line (the engine's progress line only names the failure).
    assert out.count("Traceback (most recent call last)") == 1, result.describe()
    assert out.count("ValueError: the program says no-7f3a") == 1, result.describe()
    # The program's own traceback, pointing at its own line...
    assert 'raise ValueError("the program says no-7f3a")' in out, result.describe()
    # ...and nothing from the host or the engine around it.
    assert "fabric_resources/language_host" not in out, result.describe()
    assert "KeyboardInterrupt" not in out
    assert "non-zero exit code" not in out, result.describe()


def test_missing_virtualenv_is_one_clear_line(pulumi_project: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-venv"
    project = pulumi_project("import pulumi\n", emulator=False,
                             pulumi_yaml=project_yaml("fabric-e2e", virtualenv=missing))
    result = project.preview(check=False)
    assert result.returncode != 0
    # One line in the stack's diagnostics (the progress view echoes the same diagnostic above it).
    diagnostics = result.output.split("Diagnostics:", 1)[-1]
    lines = [line for line in diagnostics.splitlines() if str(missing) in line]
    assert len(lines) == 1, result.describe()
    assert "does not exist" in lines[0] and "pulumi install" in lines[0], result.describe()
    assert "Traceback" not in result.output, result.describe()


def test_ctrl_c_during_up_leaves_no_language_host_traceback(pulumi_project: Any) -> None:
    project = pulumi_project("""
        import pulumi
        from tests.e2e.probe import Note

        Note("slow", "x", delay=4)
        Note("after", "y", opts=pulumi.ResourceOptions(depends_on=[]))
    """, emulator=False)
    project.env.update(PROBE_ENV)
    proc = project.start("up", "--yes", "--skip-preview")
    deadline = time.monotonic() + 60
    # Interrupt while the slow create is in flight (not while the stack itself is being registered).
    while "slow creating" not in " ".join(project.output_so_far(proc).split()):
        assert proc.poll() is None, project.output_so_far(proc)
        assert time.monotonic() < deadline, project.output_so_far(proc)
        time.sleep(0.2)
    # What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    os.killpg(proc.pid, signal.SIGINT)
    result = project.wait(proc, timeout=120)
    out = result.output
    flat = " ".join(out.split())
    # The engine cancelled in order: the in-flight create finished, nothing new was started.
    assert "^C received; cancelling" in out and "update canceled" in out, result.describe()
    assert "slow created" in flat, result.describe()
    assert "KeyboardInterrupt" not in out, result.describe()
    assert "Traceback" not in out, result.describe()
    assert "language_host" not in out, result.describe()
    # It was recorded (nothing orphaned), and no program or host process outlives the CLI.
    names = {r["urn"].rsplit("::", 1)[-1] for r in project.resources()}
    assert "slow" in names, result.describe()
    assert not processes_mentioning(project.stack)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_sigkill_of_the_deployment_leaves_no_program_running(pulumi_project: Any) -> None:
    """Killing the CLI's whole process group (a CI job cancelled hard) takes the host's program with it."""
    project = pulumi_project("""
        import time
        import pulumi
        from tests.e2e.probe import Note

        Note("slow", "x", delay=30)
        time.sleep(30)
    """, emulator=False)
    project.env.update(PROBE_ENV)
    proc = project.start("up", "--yes", "--skip-preview")
    deadline = time.monotonic() + 60
    while "slow creating" not in " ".join(project.output_so_far(proc).split()):
        assert proc.poll() is None and time.monotonic() < deadline, project.output_so_far(proc)
        time.sleep(0.2)
    assert processes_mentioning(project.stack), "the program should be running"
    tree = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    project.wait(proc)
    deadline = time.monotonic() + 10
    while processes_mentioning(project.stack) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(project.stack)
    # The engine starts each plugin in a process group of its own, so the CLI's group kill leaves the
    # dynamic-provider process behind (Pulumi's behaviour, as on a user's machine); end it here so
    # the test leaves nothing running.
    for pid in tree:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    project.cancel()
