"""The project's own program (__main__.py) with the `local` stack's config, through the real engine."""

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
from tests.e2e.conftest import export_state, resources_of_type

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "fabric-resources"
PIPELINE_NAMES = {"Ingest Sales", "Nightly Orchestrator", "Parameterised Load"}


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
    connections = {c[f"{PROJECT}:connections"]["sales"] for c in configs.values()}
    assert len(names) == len(capacities) == len(connections) == 4
    # Pulumi may rewrite a stack file with booleans as strings ("false"); read it as the program does.
    enabled = [n for n, c in configs.items() if str(c[f"{PROJECT}:scheduleEnabled"]).lower() == "true"]
    assert enabled == ["prod"]
    for name, config in configs.items():
        # No secret in any stack file in clear text; real stacks explain how to set it encrypted.
        assert "fabric:clientSecret" not in config, name
        assert "fabric:token" not in config, name
        if name != "local":
            assert "pulumi config set --secret fabric:clientSecret" in (
                ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text()


def test_program_deploys_the_local_stack(make_stack: Any, emulator: Any) -> None:
    run = uuid.uuid4().hex[:6]
    config = stack_config("local")
    # The local stack reads the emulator's connection from emulator.json; point it at the test emulator.
    config["fabric:emulatorDir"] = str(emulator.data_dir)
    config[f"{PROJECT}:workspaceName"] = f"{config[f'{PROJECT}:workspaceName']} {run}"
    config[f"{PROJECT}:scheduleEnabled"] = True
    config[f"{PROJECT}:scheduleTimezone"] = "W. Europe Standard Time"
    config[f"{PROJECT}:readers"] = [{"id": emulator.users[1]["object_id"], "type": "User"}]
    sales = config[f"{PROJECT}:connections"]["sales"]

    stack = make_stack(engine.program_from_file(ROOT / "__main__.py"), config=as_config_strings(config),
                       emulator=False, project_name=PROJECT)
    # A first preview: ids (the workspace's, the ingest pipeline's inside the orchestrator's definition)
    # are unknown; check and diff cope with that and nothing is called.
    emulator.reset_stats()
    preview = stack.preview()
    assert preview.change_summary.get("create") == 1 + 1 + len(PIPELINE_NAMES) + 1 + 2  # stack, ws, ..., roles
    assert emulator.stats()["total"] == 0

    up = stack.up()
    outputs = {k: v.value for k, v in up.outputs.items()}
    ws_id = outputs["workspace_id"]
    pipelines = outputs["pipeline_ids"]
    assert set(pipelines) == PIPELINE_NAMES

    fabric = FabricClient(FabricSettings.from_emulator(emulator.data_dir))
    ws = fabric.workspaces.get(ws_id)
    assert ws.display_name.endswith(run)
    assert ws.capacity_id == config[f"{PROJECT}:capacityId"]
    live = {item.display_name: item.id for item in fabric.items.list(ws_id, type="DataPipeline")}
    assert live == pipelines
    # Tokens were filled: the connection from config, the orchestrator's target from the ingest item id.
    ingest = live_content(fabric, ws_id, pipelines["Ingest Sales"])
    orchestrator = live_content(fabric, ws_id, pipelines["Nightly Orchestrator"])
    assert "{{" not in ingest and "{{" not in orchestrator
    assert sales in ingest
    assert pipelines["Ingest Sales"] in orchestrator

    schedule = fabric.schedules.get(ws_id, pipelines["Nightly Orchestrator"], outputs["schedule_id"])
    assert schedule.enabled is True
    assert schedule.configuration is not None
    assert schedule.configuration.local_time_zone_id == "W. Europe Standard Time"
    roles = {a.principal.id: a.role for a in fabric.role_assignments.list(ws_id)}
    assert roles[config[f"{PROJECT}:adminPrincipalId"]] == config[f"{PROJECT}:adminRole"]
    assert roles[emulator.users[1]["object_id"]] == "Viewer"

    # One pickled provider per resource type, identical for all three pipelines.
    blobs = {json.dumps(r["inputs"]["__provider"]) for r in resources_of_type(export_state(stack), "fabric:DataPipeline")}
    assert len(blobs) == 1

    # Unchanged program and config: nothing to do, and not one Fabric API call to find that out.
    emulator.reset_stats()
    stack.preview(expect_no_changes=True)
    assert emulator.stats()["total"] == 0
    emulator.reset_stats()
    stack.refresh(expect_no_changes=True)
    by_route = emulator.stats()["by_route"]
    item_calls = sum(n for route, n in by_route.items() if "{itemId}" in route and "/jobs/" not in route)
    # Each pipeline is read with exactly two calls: the item and its definition.
    assert item_calls == 2 * len(PIPELINE_NAMES), by_route

    # A new connection id for this environment changes exactly the pipeline that uses it.
    new_sales = str(uuid.uuid4())
    stack.set_config(f"{PROJECT}:connections", _config_value(json.dumps({"sales": new_sales})))
    changed = stack.up()
    assert changed.summary.resource_changes is not None
    assert changed.summary.resource_changes.get("update") == 1, changed.summary.resource_changes
    assert new_sales in live_content(fabric, ws_id, pipelines["Ingest Sales"])
    assert {i.id for i in fabric.items.list(ws_id, type="DataPipeline")} == set(pipelines.values())

    stack.destroy()
    assert fabric.workspaces.find(ws.display_name) is None


def _config_value(value: str) -> Any:
    from pulumi import automation as auto

    return auto.ConfigValue(value=value)


@pytest.mark.parametrize("environment", ["dev", "test", "prod"])
def test_real_environment_stacks_preview_cleanly(make_stack: Any, emulator: Any, environment: str) -> None:
    """Each environment's config is accepted by the program and every provider's check.

    The stack's own `fabric:*` connection is swapped for the emulator's; a preview of a new stack
    creates everything and therefore calls no Fabric API at all.
    """
    config = {k: v for k, v in stack_config(environment).items() if not k.startswith("fabric:")}
    stack = make_stack(engine.program_from_file(ROOT / "__main__.py"), config=as_config_strings(config),
                       project_name=PROJECT)
    emulator.reset_stats()
    preview = stack.preview()
    readers = len(config.get(f"{PROJECT}:readers") or [])
    admins = 1 if config.get(f"{PROJECT}:adminPrincipalId") else 0
    # the stack, the workspace, the pipelines, the schedule and the role assignments
    assert preview.change_summary.get("create") == 2 + len(PIPELINE_NAMES) + 1 + admins + readers
    assert emulator.stats()["total"] == 0
