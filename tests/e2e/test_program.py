"""The project's own program (__main__.py) and its stacks, through the real `pulumi` CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric_resources import engine
from fabric_resources.client import FabricClient
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import copy_project_folder, resources_of_type

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "fabric-resources"
PIPELINE_NAMES = {"Ingest Sales", "Nightly Orchestrator", "Parameterised Load"}
# The source (dev) connection id in the folder, replaced per environment by pipelines/parameter.yml.
DEV_SQL = "cf0ff896-3890-43d6-95cf-1c75f3ef600d"
# What the program declares besides the pipelines: the WorkspaceContent component and the Maintenance folder.
CONTENT_EXTRAS = 2
# The variable library in libraries/.
LIBRARIES = 1
# The only calls a first preview makes: each connection named in the stack is looked up (issue #14).
LOOKUP_ROUTE = "GET /v1/connections"


def lookups(config: dict[str, Any]) -> int:
    return len(config.get(f"{PROJECT}:connectionNames") or {})


def sql_connection(environment: str) -> str:
    """The sales connection id parameter.yml gives an environment (dev keeps the folder's own)."""
    entries = yaml.safe_load((ROOT / "pipelines" / "parameter.yml").read_text())["find_replace"]
    entry = next(e for e in entries if e["find_value"] == DEV_SQL)
    return str(entry["replace_value"].get(environment, DEV_SQL))


def stack_config(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text())["config"])


def as_config_strings(config: dict[str, Any]) -> dict[str, str]:
    """Stack-file values as the CLI stores them: strings, structured values as JSON."""
    out = {}
    for key, value in config.items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


def live_content(fabric: FabricClient, ws_id: str, item_id: str) -> str:
    return fabric.items.get_definition(ws_id, item_id).files()["pipeline-content.json"].decode()


def test_stack_files_describe_distinct_environments() -> None:
    configs = {name: stack_config(name) for name in ("local", "dev", "test", "prod")}
    assert configs["local"]["fabric:emulatorDir"] == ".emulator"
    names = {c[f"{PROJECT}:workspaceName"] for c in configs.values()}
    capacities = {c[f"{PROJECT}:capacityId"] for c in configs.values()}
    connections = {sql_connection(name) for name in configs}
    assert len(names) == len(capacities) == len(connections) == 4
    # Pulumi may rewrite a stack file with booleans as strings ("false"); read it as the program does.
    enabled = [n for n, c in configs.items() if str(c[f"{PROJECT}:scheduleEnabled"]).lower() == "true"]
    assert enabled == ["prod"]
    # local and prod name their own connection and activate their own value set.
    local, prod = configs["local"], configs["prod"]
    assert local[f"{PROJECT}:connectionNames"] != prod[f"{PROJECT}:connectionNames"]
    assert (local[f"{PROJECT}:valueSet"], prod[f"{PROJECT}:valueSet"]) == ("test", "prod")
    for name, config in configs.items():
        # No secret in any stack file in clear text; real stacks explain how to set it encrypted.
        assert "fabric:clientSecret" not in config, name
        assert "fabric:token" not in config, name
        if name != "local":
            assert "pulumi config set --secret fabric:clientSecret" in (
                ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text()


def test_program_deploys_the_local_stack_with_the_cli(pulumi_project: Any, emulator: Any, tmp_path: Path) -> None:
    """What a fresh clone does: `pulumi preview/up/refresh/destroy --stack local` in the project folder.

    The folder is a copy of this repository's project (Pulumi.yaml, __main__.py, pipelines/, stacks/,
    no .pulumi-state or .emulator), so the real checkout's state is never touched; its `.emulator`
    is the session emulator's data folder, so the unchanged `local` stack file applies as it is.
    """
    folder = copy_project_folder(tmp_path / "fabric-resources")
    (folder / ".emulator").symlink_to(emulator.data_dir, target_is_directory=True)
    project = pulumi_project(directory=folder, stack="local", emulator=False, passphrase=engine.LOCAL_PASSPHRASE)
    # The stack file exists and holds the local passphrase's salt: `stack init` took it as it is.
    assert "encryptionsalt:" in (folder / "stacks" / "Pulumi.local.yaml").read_text()

    run = uuid.uuid4().hex[:6]
    config = stack_config("local")
    workspace_name = f"{config[f'{PROJECT}:workspaceName']} {run}"
    project.set_config({
        f"{PROJECT}:workspaceName": workspace_name,
        f"{PROJECT}:scheduleEnabled": "true",
        f"{PROJECT}:scheduleTimezone": "W. Europe Standard Time",
        f"{PROJECT}:readers": json.dumps([{"id": emulator.users[1]["object_id"], "type": "User"}]),
    })

    # A first preview: ids (the workspace's, the ingest pipeline's inside the orchestrator's definition)
    # are unknown; check and diff cope with that and nothing is called.
    emulator.reset_stats()
    preview = project.preview()
    # stack, workspace, pipelines, the component and its folder, schedule, role assignments
    creates = 1 + 1 + len(PIPELINE_NAMES) + CONTENT_EXTRAS + 1 + 2 + LIBRARIES + lookups(config)
    assert f"+ {creates} to create" in preview.stdout, preview.describe()
    assert emulator.stats()["by_route"] == {LOOKUP_ROUTE: lookups(config)}

    project.up()
    outputs = project.outputs()
    ws_id = outputs["workspace_id"]
    pipelines = outputs["pipeline_ids"]
    assert set(pipelines) == PIPELINE_NAMES

    fabric = FabricClient(FabricSettings.from_emulator(emulator.data_dir))
    # The stack names its connection; the emulator's connection of that name is the one deployed.
    sales_name = config[f"{PROJECT}:connectionNames"][DEV_SQL]
    sales = next(c.id for c in fabric.connections.list() if c.display_name == sales_name)
    library = fabric.variable_libraries.get(ws_id, outputs["variable_library_ids"]["Sales Settings"])
    assert library.active_value_set_name == config[f"{PROJECT}:valueSet"]
    ws = fabric.workspaces.get(ws_id)
    assert ws.display_name == workspace_name
    assert ws.capacity_id == config[f"{PROJECT}:capacityId"]
    live = {item.display_name: item.id for item in fabric.items.list(ws_id, type="DataPipeline")}
    assert live == pipelines
    # The folder was rebound: the local connection from parameter.yml, the orchestrator's targets from the
    # deployed ids of the pipelines it names by logicalId, and no dev id or logicalId left anywhere.
    ingest = live_content(fabric, ws_id, pipelines["Ingest Sales"])
    orchestrator = live_content(fabric, ws_id, pipelines["Nightly Orchestrator"])
    assert sales in ingest and DEV_SQL not in ingest and sql_connection("local") not in ingest
    assert pipelines["Ingest Sales"] in orchestrator and pipelines["Parameterised Load"] in orchestrator
    assert "3f6c2a8e-1b4d-4c7e-9a51-6d2e8f0b7c14" not in orchestrator
    load = next(i for i in fabric.items.list(ws_id, type="DataPipeline") if i.display_name == "Parameterised Load")
    assert load.folder_id is not None and fabric.folders.get(ws_id, load.folder_id).display_name == "Maintenance"

    schedule = fabric.schedules.get(ws_id, pipelines["Nightly Orchestrator"], outputs["schedule_id"])
    assert schedule.enabled is True
    assert schedule.configuration is not None
    assert schedule.configuration.local_time_zone_id == "W. Europe Standard Time"
    roles = {a.principal.id: a.role for a in fabric.role_assignments.list(ws_id)}
    assert roles[config[f"{PROJECT}:adminPrincipalId"]] == config[f"{PROJECT}:adminRole"]
    assert roles[emulator.users[1]["object_id"]] == "Viewer"
    assert set(outputs["role_assignment_ids"]) == {"admin", f"reader-{emulator.users[1]['object_id'].lower()}"}

    # One pickled provider per resource type, identical for all three pipelines.
    blobs = {json.dumps(r["inputs"]["__provider"]) for r in resources_of_type(project.export(), "fabric:DataPipeline")}
    assert len(blobs) == 1

    # Unchanged program and config: nothing to do, and not one Fabric API call to find that out.
    emulator.reset_stats()
    project.preview("--expect-no-changes")
    assert emulator.stats()["total"] == 0
    emulator.reset_stats()
    project.refresh("--skip-preview", "--expect-no-changes")
    by_route = emulator.stats()["by_route"]
    item_calls = sum(n for route, n in by_route.items() if "{itemId}" in route and "/jobs/" not in route)
    # Each pipeline is read with exactly one call, its definition; the items themselves come from one
    # listing of the workspace that the whole refresh shares.
    assert item_calls == len(PIPELINE_NAMES), by_route
    assert by_route.get("GET /v1/workspaces/{workspaceId}/items") == 1, by_route

    # A new connection id for this environment (the stack's `connections` map wins over parameter.yml)
    # changes exactly the pipeline that uses it.
    new_sales = str(uuid.uuid4())
    project.config_set(f"{PROJECT}:connections", json.dumps({DEV_SQL: new_sales}))
    changed = project.up()
    assert "1 updated" in changed.stdout, changed.describe()
    assert new_sales in live_content(fabric, ws_id, pipelines["Ingest Sales"])
    assert {i.id for i in fabric.items.list(ws_id, type="DataPipeline")} == set(pipelines.values())

    project.destroy()
    assert fabric.workspaces.find(workspace_name) is None
    assert project.resources() == []


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
def test_real_environment_stacks_preview_cleanly(make_stack: Any, emulator: Any, environment: str) -> None:
    """Each environment's config is accepted by the program and every provider's check.

    The stack's own `fabric:*` connection is swapped for the emulator's; a preview of a new stack
    creates everything and therefore calls no Fabric API at all.
    """
    config = {k: v for k, v in stack_config(environment).items() if not k.startswith("fabric:")}
    # The stack name is the environment that picks parameter.yml's values.
    stack = make_stack(engine.program_from_file(ROOT / "__main__.py"), config=as_config_strings(config),
                       project_name=PROJECT, stack_name=environment)
    emulator.reset_stats()
    preview = stack.preview()
    readers = len(config.get(f"{PROJECT}:readers") or [])
    admins = 1 if config.get(f"{PROJECT}:adminPrincipalId") else 0
    # the stack, the workspace, the pipelines, the component and its folder, the schedule and the roles
    assert preview.change_summary.get("create") == (2 + len(PIPELINE_NAMES) + CONTENT_EXTRAS + 1 + admins + readers
                                                    + LIBRARIES + lookups(config))
    assert emulator.stats()["by_route"] == ({LOOKUP_ROUTE: lookups(config)} if lookups(config) else {})
