"""One folder, one parameter.yml, one environment: fabric-cicd 1.4 and WorkspaceContent deploy the same.

fabric-cicd runs unmodified in a subprocess against the emulator: it accepts no API host but Fabric's, so
``HTTPS_PROXY`` points it at a local CONNECT proxy that tunnels ``api.fabric.microsoft.com`` to the
emulator (tests/connect_proxy.py), ``REQUESTS_CA_BUNDLE`` makes it trust the emulator's CA, and
azure-identity's ``ClientSecretCredential`` gets its token from the emulator's Entra-compatible authority.
WorkspaceContent deploys the same folder to another workspace through the real `pulumi` CLI. Then what
the emulator stores for each is compared, each workspace's own ids replaced by names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.settings import FabricSettings
from tests.connect_proxy import fabric_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = {"test": "3baf9e6d-929d-49a5-94c6-46db518cc953", "prod": "918a9fa6-0a0f-4694-baf0-4d181fa5b9f0"}

# Beyond the sample's own entries: dynamic values, _ALL_ and a file_path glob, as a fabric-cicd team writes them.
EXTRA_PARAMETERS = """
  - find_value: "ingest_status"
    replace_value:
      _ALL_: "ingest_outcome"
    file_path: "**/Nightly Orchestrator.DataPipeline/pipeline-content.json"
  - find_value: "Loads a list of tables"
    replace_value:
      test: "Loads the test list of tables"
    item_type: ["Notebook", "DataPipeline"]
"""
EXTRA_KEY_VALUES = """
  - find_key: $.properties.activities[?(@.name=="Record success")].typeProperties.value.value
    replace_value:
      _ALL_: "$workspace.$id"
  - find_key: $.properties.activities[?(@.name=="Record failure")].typeProperties.value
    replace_value:
      test: "$items.DataPipeline.Ingest Sales.$id"
"""

FABRIC_CICD = """
    import json, sys
    from azure.identity import ClientSecretCredential
    from fabric_cicd import FabricWorkspace, publish_all_items

    args = json.loads(sys.argv[1])
    credential = ClientSecretCredential(args["tenant"], args["client_id"], args["secret"],
                                        authority=args["authority"], disable_instance_discovery=True)
    workspace = FabricWorkspace(workspace_id=args["workspace"], repository_directory=args["folder"],
                                item_type_in_scope=["DataPipeline"], environment=args["environment"],
                                token_credential=credential)
    publish_all_items(workspace)
"""

PROGRAM = """
    import pulumi
    from fabric_resources import WorkspaceContent

    config = pulumi.Config()
    content = WorkspaceContent("sales", workspace_id=config.require("workspaceId"), path="content",
                               environment=config.require("environment"))
    pulumi.export("ids", content.ids)
"""


def run_fabric_cicd(emulator: Any, folder: Path, workspace_id: str, environment: str) -> None:
    sp = emulator.default_sp
    authority = urlsplit(emulator.authority)
    args = {"tenant": emulator.tenant_id, "client_id": sp["client_id"], "secret": sp["client_secret"],
            "authority": f"{authority.scheme}://{authority.netloc}", "workspace": workspace_id,
            "folder": str(folder), "environment": environment}
    with fabric_proxy(urlsplit(emulator.api_url).port or 443) as proxy:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FABRIC_", "AZURE_"))}
        env.update({
            "HTTPS_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}",
            "NO_PROXY": "127.0.0.1,localhost",   # the token endpoint is dialled directly
            "REQUESTS_CA_BUNDLE": emulator.ca_cert,
            # fabric-cicd reads a workspace's capacity from the Power BI host unless told otherwise.
            "DEFAULT_API_ROOT_URL": "https://api.fabric.microsoft.com",
        })
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(FABRIC_CICD), json.dumps(args)], env=env,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert proxy.tunnelled, "fabric-cicd did not go through the proxy"


def deployed(fabric: FabricClient, ws_id: str) -> dict[str, dict[str, Any]]:
    """Per display name: description, folder name, logicalId and content text, ids replaced by names."""
    items = {i.display_name: i for i in fabric.items.list(ws_id, type="DataPipeline")}
    folders = {f.id: f.display_name for f in fabric.folders.list(ws_id)}
    names = {ws_id: "<workspace>", **{i.id: f"<item {n}>" for n, i in items.items()}}
    out: dict[str, dict[str, Any]] = {}
    for name, item in items.items():
        files = fabric.items.get_definition(ws_id, item.id).files()
        text = files["pipeline-content.json"].decode()
        for real, label in names.items():
            text = text.replace(real, label)
        out[name] = {
            "description": item.description,
            "folder": folders.get(item.folder_id or ""),
            "logicalId": json.loads(files[".platform"])["config"]["logicalId"],
            "content": text,
        }
    return out


@pytest.mark.parametrize("environment", ["test", "prod"])
def test_workspace_content_deploys_what_fabric_cicd_deploys(pulumi_project: Any, emulator: Any,
                                                             tmp_path: Path, environment: str) -> None:
    project_dir = tmp_path / "project"
    folder = project_dir / "content"
    shutil.copytree(ROOT / "pipelines", folder)
    parameter_file = folder / "parameter.yml"
    text = parameter_file.read_text()
    text = text.replace("key_value_replace:\n", EXTRA_PARAMETERS.lstrip("\n") + "key_value_replace:\n")
    parameter_file.write_text(text + EXTRA_KEY_VALUES)

    fabric = FabricClient(FabricSettings.from_emulator(emulator.data_dir))
    capacity = fabric.capacities.list()[0].id
    run = uuid.uuid4().hex[:6]
    theirs = fabric.workspaces.create(f"fabric-cicd {run}", capacity_id=capacity)
    ours = fabric.workspaces.create(f"WorkspaceContent {run}", capacity_id=capacity)
    try:
        run_fabric_cicd(emulator, folder, theirs.id, environment)
        project = pulumi_project(PROGRAM, directory=project_dir, config={"fabric-e2e:workspaceId": ours.id,
                                                                         "fabric-e2e:environment": environment})
        project.up()
        project.preview("--expect-no-changes")

        cicd, content = deployed(fabric, theirs.id), deployed(fabric, ours.id)
        assert set(cicd) == set(content) == {"Ingest Sales", "Nightly Orchestrator", "Parameterised Load"}
        for name in cicd:
            assert content[name] == cicd[name], name
        # What was compared is rebound, not the folder as written.
        orchestrator = cicd["Nightly Orchestrator"]["content"]
        assert "<item Ingest Sales>" in orchestrator and "<item Parameterised Load>" in orchestrator
        acts = {a["name"]: a for a in json.loads(orchestrator)["properties"]["activities"]}
        assert acts["Record success"]["typeProperties"]["value"]["value"] == "<workspace>"  # _ALL_
        assert acts["Run table loads"]["typeProperties"]["workspaceId"] == "<workspace>"
        assert "ingest_outcome" in orchestrator and "ingest_status" not in orchestrator  # file_path glob
        ingest, load = cicd["Ingest Sales"]["content"], cicd["Parameterised Load"]["content"]
        assert CONNECTIONS[environment] in ingest
        # Values given for test only: applied there, skipped in prod (by both).
        in_test = environment == "test"
        assert (acts["Record failure"]["typeProperties"]["value"] == "<item Ingest Sales>") == in_test
        assert ("Loads the test list" in load) == in_test
        assert ('"landing_masked"' in ingest) == in_test
        assert json.loads(load)["properties"]["activities"][2]["typeProperties"]["batchCount"] == (
            4 if in_test else 8)
        assert cicd["Parameterised Load"]["folder"] == "Maintenance"
    finally:
        # fabric-cicd's workspace is ours to remove; the stack's pipelines go with the stack's destroy.
        fabric.workspaces.delete(theirs.id)
