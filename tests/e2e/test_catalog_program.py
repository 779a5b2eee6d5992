"""A program with folders, a variable library, a connection looked up by name and tags, through the real
`pulumi` CLI against the emulator: it deploys, previews clean with no API call, shows portal edits
(tags, the active value set, a folder rename) as drift, and the pipeline reading a library variable runs
with the active set's value. Unknown connection and tag names fail at preview, naming close matches.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import PulumiCLIError

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "libraries" / "Sales Settings.VariableLibrary"

PROGRAM = '''
import pulumi
from fabric_resources import DataPipeline, Folder, VariableLibrary, Workspace, lookup_connection

cfg = pulumi.Config()
ws = Workspace("ws", display_name=cfg.require("workspaceName"))
sales = Folder("sales", workspace_id=ws.id, display_name="Sales")
ingest_folder = Folder("ingest-folder", workspace_id=ws.id, display_name="Ingest", parent_folder_id=sales.id)
settings = VariableLibrary("settings", workspace_id=ws.id, definition="Sales Settings.VariableLibrary",
                           active_value_set=cfg.require("valueSet"), folder_id=sales.id, tags=["Sales"])
source = lookup_connection(cfg.require("salesConnection"))
content = {"properties": {
    "activities": [{
        "name": "Read environment", "type": "SetVariable",
        "typeProperties": {"variableName": "env",
                           "value": {"value": "@pipeline().libraryVariables.environment", "type": "Expression"}},
        "externalReferences": {"connection": "{{ sales_connection_id }}"},
    }],
    "variables": {"env": {"type": "String"}},
    "libraryVariables": {"environment": {"type": "String", "variableName": "environment",
                                         "libraryName": "Sales Settings"}},
}}
ingest = DataPipeline("ingest", workspace_id=ws.id, display_name="Ingest Sales", definition=content,
                      parameters={"sales_connection_id": source.connection_id}, folder_id=ingest_folder.id,
                      tags=cfg.require_object("tags"), opts=pulumi.ResourceOptions(depends_on=[settings]))
pulumi.export("ws", ws.id)
pulumi.export("pipeline", ingest.id)
pulumi.export("library", settings.id)
pulumi.export("sales", sales.id)
pulumi.export("connection", source.connection_id)
pulumi.export("connection_type", source.connection_type)
'''


@pytest.fixture
def fabric(emulator: Any) -> FabricClient:
    return FabricClient(FabricSettings.from_emulator(emulator.data_dir))


def tags_of(fabric: FabricClient, ws: str, item_id: str) -> list[str]:
    return sorted(t.display_name for t in fabric.items.get(ws, item_id).tags or [])


def run_environment(fabric: FabricClient, ws: str, pipeline: str) -> str:
    job = fabric.jobs.run(ws, pipeline)
    done = fabric.jobs.wait(ws, pipeline, job.id, timeout=120)
    assert done.status == "Completed", done.failure_reason
    runs = fabric.jobs.query_activity_runs(ws, job.id)
    return str(next(r for r in runs if r.activity_name == "Read environment").output["value"])


def test_folders_library_connection_and_tags_deploy_drift_and_run(
        pulumi_project: Any, emulator: Any, fabric: FabricClient, tmp_path: Path) -> None:
    config = {"workspaceName": f"Catalog {uuid.uuid4().hex[:6]}", "valueSet": "test",
              "salesConnection": "Sales SQL (test)", "tags": '["Finance", "Sales"]'}
    project = pulumi_project(PROGRAM, config=config)
    shutil.copytree(SAMPLE, project.directory / "Sales Settings.VariableLibrary")
    project.up()
    out = project.outputs()
    ws, pipeline, library = out["ws"], out["pipeline"], out["library"]
    assert out["connection_type"] == "SQL"
    connection = next(c for c in fabric.connections.list() if c.display_name == "Sales SQL (test)")
    assert out["connection"] == connection.id
    live = fabric.items.get_definition(ws, pipeline).files()["pipeline-content.json"].decode()
    assert connection.id in live
    assert tags_of(fabric, ws, pipeline) == ["Finance", "Sales"] and tags_of(fabric, ws, library) == ["Sales"]
    assert fabric.items.get(ws, library).folder_id == out["sales"]
    assert run_environment(fabric, ws, pipeline) == "test"

    emulator.reset_stats()
    project.preview("--expect-no-changes")
    assert emulator.stats()["total"] == 0
    project.refresh("--expect-no-changes")

    # Portal edits: a tag removed and another added, the prod set activated, the folder renamed.
    tag_ids = {t.display_name: t.id for t in fabric.tags.list()}
    fabric.tags.unapply(ws, pipeline, [tag_ids["Finance"]])
    fabric.tags.apply(ws, pipeline, [tag_ids["Certified"]])
    fabric.variable_libraries.set_active_value_set(ws, library, "prod")
    fabric.folders.update(ws, out["sales"], display_name="Sales (old)")
    assert run_environment(fabric, ws, pipeline) == "prod"  # runs read the active set at run start
    drift = project.preview("--refresh", "--diff", "--expect-no-changes", check=False)
    assert drift.returncode != 0
    for shown in ("Certified", "prod", "Sales (old)"):
        assert shown in drift.output, drift.describe()
    project.refresh()
    resources = {r["urn"].rsplit("::", 1)[-1]: r for r in project.resources()}
    assert resources["ingest"]["outputs"]["tags"] == ["Certified", "Sales"]
    assert resources["settings"]["outputs"]["active_value_set"] == "prod"
    assert resources["sales"]["outputs"]["display_name"] == "Sales (old)"
    project.up()
    assert tags_of(fabric, ws, pipeline) == ["Finance", "Sales"]
    assert fabric.variable_libraries.get(ws, library).active_value_set_name == "test"
    assert fabric.folders.get(ws, out["sales"]).display_name == "Sales"
    project.preview("--expect-no-changes")

    # Another stack setting: the prod set and connection, one tag fewer; applied in place.
    project.set_config({"valueSet": "prod", "salesConnection": "Sales SQL (prod)", "tags": '["Sales"]'})
    project.up()
    prod = next(c for c in fabric.connections.list() if c.display_name == "Sales SQL (prod)")
    assert project.outputs()["pipeline"] == pipeline and project.outputs()["connection"] == prod.id
    assert prod.id in fabric.items.get_definition(ws, pipeline).files()["pipeline-content.json"].decode()
    assert tags_of(fabric, ws, pipeline) == ["Sales"]
    assert run_environment(fabric, ws, pipeline) == "prod"
    project.destroy()
    assert [c.display_name for c in fabric.connections.list() if c.id == prod.id] == ["Sales SQL (prod)"]


@pytest.mark.parametrize(("setting", "value", "expected"), [
    ("salesConnection", "Sales SQL (staging)", ["no connection named 'Sales SQL (staging)'", "did you mean",
                                                 "'Sales SQL (local)'"]),
    ("tags", '["Finanse"]', ["'tags' names 'Finanse'", "did you mean 'Finance'"]),
])
def test_unknown_connection_and_tag_names_fail_at_preview(
        pulumi_project: Any, emulator: Any, tmp_path: Path, setting: str, value: str, expected: list[str]) -> None:
    config = {"workspaceName": f"Catalog bad {uuid.uuid4().hex[:6]}", "valueSet": "test",
              "salesConnection": "Sales SQL (test)", "tags": "[]", setting: value}
    project = pulumi_project(PROGRAM, config=config)
    shutil.copytree(SAMPLE, project.directory / "Sales Settings.VariableLibrary")
    emulator.reset_stats()
    with pytest.raises(PulumiCLIError) as failed:
        project.preview()
    for text in expected:
        assert text in failed.value.result.output, failed.value.result.describe()
    writes = {r: n for r, n in emulator.stats()["by_route"].items() if not r.startswith("GET")}
    assert writes == {}, writes
