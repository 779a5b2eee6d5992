"""WorkspaceContent through the real `pulumi` CLI: one git-format folder, two stacks, the emulator's content.

The folder is the repository's sample (`pipelines/`, as Fabric's git integration writes it, with a
fabric-cicd parameter.yml); each stack is an environment (the stack name picks the parameter values).
What is checked is what the emulator stores, read back through the API.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.settings import FabricSettings
from tests.content_folders import execute_pipeline, pipeline, wait, write_item
from tests.e2e.conftest import PulumiCLIError

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
INGEST, LOAD, ORCHESTRATOR = "Ingest Sales", "Parameterised Load", "Nightly Orchestrator"
CONNECTIONS = {"test": "3baf9e6d-929d-49a5-94c6-46db518cc953", "prod": "918a9fa6-0a0f-4694-baf0-4d181fa5b9f0"}
BATCH = {"test": 4, "prod": 8}

PROGRAM = """
    import pulumi
    from fabric_resources import Workspace, WorkspaceContent

    config = pulumi.Config()
    workspace = Workspace("workspace", display_name=config.require("workspaceName"))
    content = WorkspaceContent("sales", workspace_id=workspace.id, path="content")
    pulumi.export("workspace_id", workspace.id)
    pulumi.export("ids", content.ids)
    pulumi.export("folders", {path: folder.id for path, folder in content.folders.items()})
"""


def stored(fabric: FabricClient, ws_id: str, item_id: str) -> dict[str, Any]:
    files = fabric.items.get_definition(ws_id, item_id).files()
    return dict(json.loads(files["pipeline-content.json"]))


def activity(content: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in content["properties"]["activities"] if a["name"] == name)


def check_environment(fabric: FabricClient, environment: str, outputs: dict[str, Any]) -> None:
    """The emulator holds the folder rebound to this stack's workspace and parameters."""
    ws_id, ids = outputs["workspace_id"], outputs["ids"]
    live = {i.display_name: i for i in fabric.items.list(ws_id, type="DataPipeline")}
    assert {n: i.id for n, i in live.items()} == ids
    # The subfolder is a Fabric folder holding its pipeline; the others sit at the root.
    folders = {f.display_name: f.id for f in fabric.folders.list(ws_id)}
    assert folders == {"Maintenance": outputs["folders"]["/Maintenance"]}
    assert live[LOAD].folder_id == folders["Maintenance"]
    assert live[INGEST].folder_id is None and live[ORCHESTRATOR].folder_id is None

    # Each item carries its folder's logicalId, the identity Fabric's git integration gave it.
    for name, directory in ((INGEST, f"{INGEST}.DataPipeline"), (LOAD, f"Maintenance/{LOAD}.DataPipeline")):
        platform = json.loads(fabric.items.get_definition(ws_id, ids[name]).files()[".platform"])
        source = json.loads((ROOT / "pipelines" / directory / ".platform").read_text())
        assert platform["config"]["logicalId"] == source["config"]["logicalId"]
    ingest, load, orchestrator = (stored(fabric, ws_id, ids[n]) for n in (INGEST, LOAD, ORCHESTRATOR))
    copy = activity(ingest, "Copy sales orders")
    assert copy["externalReferences"]["connection"] == CONNECTIONS[environment]
    source = copy["typeProperties"]["source"]["datasetSettings"]
    assert source["externalReferences"]["connection"] == CONNECTIONS[environment]
    assert source["typeProperties"]["schema"] == ("landing_masked" if environment == "test" else "landing")
    assert activity(load, "Load each table")["typeProperties"]["batchCount"] == BATCH[environment]
    # Calls by logicalId now name this workspace's items; the all-zero workspace id is this workspace.
    run = activity(orchestrator, "Run Ingest Sales")["typeProperties"]["pipeline"]
    assert run["referenceName"] == ids[INGEST]
    invoke = activity(orchestrator, "Run table loads")["typeProperties"]
    assert invoke["pipelineId"] == ids[LOAD] and invoke["workspaceId"] == ws_id


def test_one_folder_deployed_to_two_stacks(pulumi_project: Any, emulator: Any, tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    shutil.copytree(ROOT / "pipelines", project_dir / "content")
    run = uuid.uuid4().hex[:6]
    fabric = FabricClient(FabricSettings.from_emulator(emulator.data_dir))

    test = pulumi_project(PROGRAM, stack="test", directory=project_dir,
                          config={"fabric-e2e:workspaceName": f"Sales (test) {run}"})
    test.up()
    test_outputs = test.outputs()
    check_environment(fabric, "test", test_outputs)
    # Drift is compared on the rebound content: nothing to do, in preview or against the live items.
    test.preview("--expect-no-changes")
    test.refresh("--expect-no-changes")

    prod = pulumi_project(stack="prod", directory=project_dir,
                          config={"fabric-e2e:workspaceName": f"Sales (prod) {run}"})
    prod.up()
    prod_outputs = prod.outputs()
    check_environment(fabric, "prod", prod_outputs)
    prod.refresh("--expect-no-changes")
    assert not set(prod_outputs["ids"].values()) & set(test_outputs["ids"].values())
    # The test workspace was not touched by prod's deploy.
    check_environment(fabric, "test", test_outputs)

    # Add one item folder, move another into a new subfolder: the rest stays as it is.
    write_item(project_dir / "content", "Archive Orders", pipeline(wait("archive")), folder="Maintenance")
    shutil.move(project_dir / "content" / f"{INGEST}.DataPipeline",
                project_dir / "content" / "Ingest" / f"{INGEST}.DataPipeline")
    test.up()
    after = test.outputs()
    assert {k: v for k, v in after["ids"].items() if k != "Archive Orders"} == test_outputs["ids"]  # same items
    live = {i.display_name: i for i in fabric.items.list(test_outputs["workspace_id"], type="DataPipeline")}
    assert live[INGEST].folder_id == after["folders"]["/Ingest"]
    assert live["Archive Orders"].folder_id == after["folders"]["/Maintenance"]
    test.preview("--expect-no-changes")

    # Removing an item folder deletes exactly that pipeline.
    shutil.rmtree(project_dir / "content" / "Maintenance" / "Archive Orders.DataPipeline")
    result = test.up()
    assert "1 deleted" in result.stdout, result.describe()
    remaining = {i.display_name: i.id for i in fabric.items.list(test_outputs["workspace_id"], type="DataPipeline")}
    assert remaining == {k: v for k, v in after["ids"].items() if k != "Archive Orders"}
    assert len(list(fabric.items.list(prod_outputs["workspace_id"], type="DataPipeline"))) == 3

    # A bad parameter file stops the preview before any Fabric call.
    parameter_file = project_dir / "content" / "parameter.yml"
    parameter_file.write_text(parameter_file.read_text() + "\nspark_pool:\n  - instance_pool_id: x\n")
    emulator.reset_stats()
    with pytest.raises(PulumiCLIError) as failed:
        test.preview()
    assert "'spark_pool' is a fabric-cicd section this project does not support" in failed.value.result.output
    assert emulator.stats()["total"] == 0

    # So does a pipeline calling one that is in no item folder and in no map.
    parameter_file.write_text((ROOT / "pipelines" / "parameter.yml").read_text())
    write_item(project_dir / "content", "Caller", pipeline(execute_pipeline("run it", str(uuid.uuid4()))))
    emulator.reset_stats()
    with pytest.raises(PulumiCLIError) as failed:
        test.preview()
    assert "Caller.DataPipeline/pipeline-content.json" in failed.value.result.output
    assert "is the logicalId of no item in the folder" in failed.value.result.output
    assert emulator.stats()["total"] == 0
