"""Folder through the real Pulumi engine against the emulator: nested folders holding a pipeline,
portal renames/moves seen as drift and put back, program renames/moves done in place, a folder still
holding a foreign item refused on destroy (naming it), and a bad name refused at preview with 0 writes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from fabric_resources.client import FabricClient
from fabric_resources.providers import DataPipeline, Folder, Workspace
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import export_state, resources_of_type

pytestmark = pytest.mark.e2e


@pytest.fixture
def fabric(emulator: Any) -> FabricClient:
    return FabricClient(FabricSettings.from_emulator(emulator.data_dir))


def test_nested_folders_drift_moves_and_a_refused_delete(make_stack: Any, emulator: Any, fabric: FabricClient) -> None:
    run = uuid.uuid4().hex[:6]
    spec: dict[str, Any] = {"top": "Sales", "ingest_under_top": True}

    def program() -> None:
        ws = Workspace("ws", display_name=f"Folders {run}")
        top = Folder("top", workspace_id=ws.id, display_name=spec["top"])
        ingest = Folder("ingest", workspace_id=ws.id, display_name="Ingest",
                        parent_folder_id=top.id if spec["ingest_under_top"] else None)
        pipeline = DataPipeline("load", workspace_id=ws.id, display_name="Load",
                                definition={"properties": {"activities": []}}, folder_id=ingest.id)
        pulumi.export("ws", ws.id)
        pulumi.export("top", top.id)
        pulumi.export("ingest", ingest.id)
        pulumi.export("pipeline", pipeline.id)

    stack = make_stack(program)
    out = {k: v.value for k, v in stack.up().outputs.items()}
    ws_id = out["ws"]
    assert fabric.folders.get(ws_id, out["ingest"]).parent_folder_id == out["top"]
    assert fabric.items.get(ws_id, out["pipeline"]).folder_id == out["ingest"]

    emulator.reset_stats()
    stack.preview(expect_no_changes=True)
    assert emulator.stats()["total"] == 0
    stack.refresh(expect_no_changes=True)

    # The portal renames the inner folder and moves it to the workspace root.
    portal = emulator.session(token=emulator.token(upn=emulator.users[0]["user_principal_name"]))
    fabric.role_assignments.add(ws_id, principal_id=emulator.users[0]["object_id"], principal_type="User",
                                role="Member")
    folder_url = f"{emulator.api_url}/workspaces/{ws_id}/folders/{out['ingest']}"
    assert portal.patch(folder_url, json={"displayName": "Ingest (old)"}, timeout=30).status_code == 200
    assert portal.post(f"{folder_url}/move", json={}, timeout=30).status_code == 200
    refresh = stack.refresh()
    # (the stack itself counts as one "same")
    assert refresh.summary.resource_changes == {"same": 4, "update": 1}, refresh.summary.resource_changes
    drifted = next(r for r in resources_of_type(export_state(stack), "fabric:Folder") if r["id"] == out["ingest"])
    assert drifted["outputs"]["display_name"] == "Ingest (old)"
    assert "parent_folder_id" not in drifted["outputs"]  # at the root: None is left out of the state
    stack.up()
    live = fabric.folders.get(ws_id, out["ingest"])
    assert (live.display_name, live.parent_folder_id) == ("Ingest", out["top"])
    stack.preview(expect_no_changes=True)

    # The program renames the outer folder and moves the inner one out of it: in place, same ids.
    spec.update(top="Sales EMEA", ingest_under_top=False)
    up = stack.up()
    assert up.summary.resource_changes == {"same": 3, "update": 2}, up.summary.resource_changes
    assert {k: v.value for k, v in up.outputs.items()} == out
    assert fabric.folders.get(ws_id, out["top"]).display_name == "Sales EMEA"
    assert fabric.folders.get(ws_id, out["ingest"]).parent_folder_id is None

    # Someone files their own notebook into the stack's folder: destroy refuses to delete it.
    foreign = fabric.items.create(ws_id, display_name="Scratch", type="Notebook", folder_id=out["top"])
    with pytest.raises(auto.CommandError) as refused:
        stack.destroy()
    message = str(refused.value)
    assert "folder 'Sales EMEA'" in message and "Notebook 'Scratch'" in message and "does not manage" in message
    assert fabric.items.get(ws_id, foreign.id).folder_id == out["top"]
    fabric.items.delete(ws_id, foreign.id)
    stack.destroy()
    assert export_state(stack).get("resources") in (None, [])


def test_a_bad_folder_name_fails_preview_with_no_writes(make_stack: Any, emulator: Any) -> None:
    def program() -> None:
        ws = Workspace("ws", display_name=f"Bad folder {uuid.uuid4().hex[:6]}")
        Folder("bad", workspace_id=ws.id, display_name="Q1/Q2 ")

    stack = make_stack(program)
    emulator.reset_stats()
    with pytest.raises(auto.CommandError) as failed:
        stack.preview()
    message = str(failed.value)
    assert "Folder: invalid 'display_name'" in message and "must not start or end with a space" in message
    assert emulator.stats()["total"] == 0
