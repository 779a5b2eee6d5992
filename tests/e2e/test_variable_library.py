"""VariableLibrary through the real Pulumi engine against the emulator.

The sample library (libraries/Sales Settings.VariableLibrary) deploys with the stack's active value set;
an unchanged program previews with no API call; a value edited in the portal and a portal switch of the
active set show as drift on refresh and `up` puts both back; a program switch of the active set is one
PATCH; bad definitions and an unknown active set fail at preview with no API call.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from fabric_resources.client import FabricClient
from fabric_resources.models import VariableLibraryContent
from fabric_resources.providers import VariableLibrary, Workspace
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import export_state, resources_of_type

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "libraries" / "Sales Settings.VariableLibrary"


@pytest.fixture
def fabric(emulator: Any) -> FabricClient:
    return FabricClient(FabricSettings.from_emulator(emulator.data_dir))


def live_content(fabric: FabricClient, ws_id: str, lib_id: str) -> VariableLibraryContent:
    files = fabric.variable_libraries.get_definition(ws_id, lib_id).files()
    return VariableLibraryContent.from_files({p: d for p, d in files.items() if p != ".platform"})


def test_variable_library_deploys_drifts_and_switches_value_sets(
        make_stack: Any, emulator: Any, fabric: FabricClient, tmp_path: Path) -> None:
    folder = tmp_path / "Sales Settings.VariableLibrary"
    shutil.copytree(SAMPLE, folder)
    spec: dict[str, Any] = {"active": "test"}
    run = uuid.uuid4().hex[:6]

    def program() -> None:
        ws = Workspace("ws", display_name=f"Library {run}")
        lib = VariableLibrary("settings", workspace_id=ws.id, definition=folder, active_value_set=spec["active"])
        pulumi.export("ws", ws.id)
        pulumi.export("lib", lib.id)
        pulumi.export("active", lib.active_value_set)

    stack = make_stack(program)
    up = stack.up()
    out = {k: v.value for k, v in up.outputs.items()}
    ws_id, lib_id = out["ws"], out["lib"]
    live = fabric.variable_libraries.get(ws_id, lib_id)
    assert (live.display_name, live.description) == ("Sales Settings", "Per-environment settings of the sales pipelines")
    assert live.active_value_set_name == "test" == out["active"]
    content = live_content(fabric, ws_id, lib_id)
    assert content.values("prod") == {"environment": "prod", "source_schema": "sales", "batch_size": 50000,
                                      "full_load": False}
    # What was authored is what was sent: the files' own text, byte for byte.
    sent = fabric.variable_libraries.get_definition(ws_id, lib_id).files()
    assert sent["valueSets/prod.json"] == (folder / "valueSets" / "prod.json").read_bytes()

    emulator.reset_stats()
    stack.preview(expect_no_changes=True)
    assert emulator.stats()["total"] == 0
    stack.refresh(expect_no_changes=True)

    # The portal edits a value of the prod set and switches the active set.
    portal = emulator.session()
    lib_url = f"{emulator.api_url}/workspaces/{ws_id}/variableLibraries/{lib_id}"
    definition = portal.post(f"{lib_url}/getDefinition", timeout=30).json()["definition"]
    for part in definition["parts"]:
        if part["path"] == "valueSets/prod.json":
            doc = json.loads(base64.b64decode(part["payload"]))
            doc["variableOverrides"][2]["value"] = 75000
            part["payload"] = base64.b64encode(json.dumps(doc).encode()).decode()
    assert portal.post(f"{lib_url}/updateDefinition", json={"definition": definition}, timeout=30).status_code == 200
    assert portal.patch(lib_url, json={"properties": {"activeValueSetName": "prod"}}, timeout=30).status_code == 200
    before = export_state(stack)
    refresh = stack.refresh()
    assert refresh.summary.resource_changes == {"same": 2, "update": 1}, refresh.summary.resource_changes
    drifted = resources_of_type(export_state(stack), "fabric:VariableLibrary")[0]["outputs"]
    assert drifted["active_value_set"] == "prod"
    assert "75000" in drifted["definition"]
    assert drifted["definition_hash"] != resources_of_type(before, "fabric:VariableLibrary")[0]["outputs"][
        "definition_hash"]
    stack.up()
    assert fabric.variable_libraries.get(ws_id, lib_id).active_value_set_name == "test"
    assert live_content(fabric, ws_id, lib_id).value_of("batch_size", "prod") == 50000
    stack.preview(expect_no_changes=True)

    # The program switches the stack to the prod set: one PATCH, nothing else written.
    spec["active"] = "prod"
    emulator.reset_stats()
    up = stack.up()
    assert up.summary.resource_changes == {"same": 2, "update": 1}, up.summary.resource_changes
    writes = {r: n for r, n in emulator.stats()["by_route"].items() if not r.startswith("GET")}
    assert writes == {"PATCH /v1/workspaces/{workspaceId}/variableLibraries/{variableLibraryId}": 1}, writes
    assert fabric.variable_libraries.get(ws_id, lib_id).active_value_set_name == "prod"

    # The program drops the prod set while it is active: switched to the default first, then updated.
    (folder / "valueSets" / "prod.json").unlink()
    (folder / "settings.json").write_text(json.dumps({"valueSetsOrder": ["test"]}))
    spec["active"] = "test"
    stack.up()
    live = fabric.variable_libraries.get(ws_id, lib_id)
    assert live.active_value_set_name == "test"
    assert live_content(fabric, ws_id, lib_id).value_set_names() == ["Default value set", "test"]
    stack.preview(expect_no_changes=True)


@pytest.mark.parametrize(("files", "active", "problem"), [
    ({"variables.json": {"variables": [{"name": "n", "type": "Integer", "value": "ten"}]}}, None,
     "is not a valid Integer value"),
    ({"variables.json": {"variables": [{"name": "n", "type": "Integer", "value": 1}]},
      "valueSets/prod.json": {"name": "prod", "variableOverrides": [{"name": "m", "value": 2}]}}, None,
     "overrides 'm', which variables.json does not declare"),
    ({"variables.json": {"variables": [{"name": "n", "type": "Integer", "value": 1}]},
      "valueSets/prod.json": {"name": "prod", "variableOverrides": []}}, "staging",
     "'active_value_set' is 'staging', which the definition does not define; choose one of: Default value set, prod"),
])
def test_bad_variable_libraries_fail_at_preview_without_any_api_call(
        make_stack: Any, emulator: Any, files: dict[str, Any], active: str | None, problem: str) -> None:
    def program() -> None:
        ws = Workspace("ws", display_name=f"Bad library {uuid.uuid4().hex[:6]}")
        VariableLibrary("settings", workspace_id=ws.id, display_name="Settings", definition=files,
                        active_value_set=active)

    stack = make_stack(program)
    emulator.reset_stats()
    with pytest.raises(auto.CommandError) as failed:
        stack.preview()
    assert problem in str(failed.value)
    assert emulator.stats()["total"] == 0
