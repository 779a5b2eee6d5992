"""The real engine's lifecycle on a tiny resource: up, no-op preview/refresh, edit, destroy."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from fabric_resources import engine
from tests.e2e.conftest import export_state, resources_of_type
from tests.e2e.probe import Note

pytestmark = pytest.mark.e2e


def test_cli_is_the_pinned_version() -> None:
    import subprocess

    out = subprocess.run(
        [str(engine.TOOLS_DIR / "bin" / "pulumi"), "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "v3.274.1"
    for helper in ("pulumi-resource-pulumi-python", "pulumi-language-python-exec"):
        assert (engine.TOOLS_DIR / "bin" / helper).stat().st_mode & 0o111, helper


def test_installer_is_idempotent() -> None:
    import subprocess

    out = subprocess.run([str(engine.PROJECT_ROOT / "scripts" / "install-pulumi")], capture_output=True,
                         text=True, check=True)
    # A second run only checks the installed version: no module resolution, no build.
    assert "already installed" in out.stdout
    assert "building" not in out.stdout + out.stderr


def test_installer_rewrites_a_missing_or_stale_language_host_without_building() -> None:
    import subprocess

    host = engine.TOOLS_DIR / "bin" / "pulumi-language-python"
    good = host.read_text()
    # A wrapper copied from another checkout names that checkout's venv: it must be replaced.
    host.write_text(good.replace(str(engine.PROJECT_ROOT), "/elsewhere/fabric-resources"))
    out = subprocess.run([str(engine.PROJECT_ROOT / "scripts" / "install-pulumi")], capture_output=True,
                         text=True, check=True)
    assert host.read_text() == good
    assert "language host installed" in out.stdout and "already installed" in out.stdout
    assert "building" not in out.stdout + out.stderr
    host.unlink()
    subprocess.run([str(engine.PROJECT_ROOT / "scripts" / "install-pulumi")], capture_output=True, check=True)
    assert host.read_text() == good and host.stat().st_mode & 0o111


def test_engine_lifecycle_with_a_package_dynamic_resource(make_stack: Any) -> None:
    text = {"value": "first"}

    def program() -> None:
        a = Note("a", text["value"])
        b = Note("b", "fixed")
        pulumi.export("a_text", a.text)
        pulumi.export("a_revision", a.revision)
        pulumi.export("b_id", b.id)

    stack = make_stack(program, emulator=False)
    up = stack.up()
    assert up.summary.result == "succeeded"
    assert up.outputs["a_text"].value == "first"
    assert up.outputs["a_revision"].value == 1

    # An unchanged program previews and refreshes with no changes.
    stack.preview(expect_no_changes=True)
    stack.refresh(expect_no_changes=True)

    state = export_state(stack)
    notes = resources_of_type(state, "pulumi-python:dynamic:Resource")
    assert len(notes) == 2
    providers = {json.dumps(n["inputs"]["__provider"]) for n in notes}
    # Pickled by reference: one small blob, the same for every resource of the type.
    assert len(providers) == 1
    assert len(next(iter(providers))) < 600

    text["value"] = "second"
    preview = stack.preview()
    assert preview.change_summary.get("update") == 1
    up = stack.up()
    assert up.outputs["a_text"].value == "second"
    assert up.outputs["a_revision"].value == 2
    assert up.summary.resource_changes.get("update") == 1

    stack.destroy()
    assert not [r for r in export_state(stack).get("resources", []) if r["type"] != "pulumi:pulumi:Stack"]
