"""Issue #10 through the real engine: configuration layering, ids spelled in any case, inputs left
unset, authored definitions deployed as written, and bad input refused at preview with 0 writes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pulumi
import pytest

from fabric_resources.client import FabricClient
from fabric_resources.providers import DataPipeline, PipelineSchedule, Workspace
from fabric_resources.providers.data_pipeline import EMPTY_PIPELINE
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import emulator_stack_config, export_state, resources_of_type

pytestmark = pytest.mark.e2e


def emulator_client(emulator: Any) -> FabricClient:
    return FabricClient(FabricSettings.from_emulator(emulator.data_dir))


def writes(emulator: Any) -> int:
    """API calls that change something (every method but GET), as the emulator counted them."""
    return sum(n for route, n in emulator.stats()["by_route"].items() if not route.startswith("GET "))


def test_prod_setup_ids_in_stack_secret_in_environment(
    make_stack: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stacks/Pulumi.prod.yaml's layout: tenant and client id in the stack file, no secret there;
    # the deploying job exports AZURE_CLIENT_SECRET. Nothing else may supply a credential.
    for var in ("FABRIC_TOKEN", "FABRIC_EMULATOR_DIR", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(var, raising=False)
    plain, secret = emulator_stack_config(emulator)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret["fabric:clientSecret"])
    name = f"prod-layout-{uuid.uuid4().hex[:8]}"

    def program() -> None:
        ws = Workspace("ws", display_name=name)
        pulumi.export("ws_id", ws.id)

    stack = make_stack(program, emulator=False, config=plain)
    result = stack.up(on_output=lambda _line: None)
    ws_id = result.outputs["ws_id"].value
    assert [r["id"] for r in resources_of_type(export_state(stack), "Workspace")] == [ws_id]
    # The secret that made this work is nowhere in the state.
    assert secret["fabric:clientSecret"] not in str(export_state(stack))


def test_outputs_inside_definitions_parameters_and_schedule_configurations(
    make_stack: Any, emulator: Any, tmp_path: Path
) -> None:
    # Deploy-time values anywhere a program puts them: a definition dict, a parameter value, a
    # schedule configuration. They also order the deployment (the child exists before its parent).
    name = f"outputs-{uuid.uuid4().hex[:8]}"
    with_tokens = tmp_path / "pipeline-content.json"
    with_tokens.write_text('{"properties": {"activities": [], "annotations": [{{ refs }}]}}\n')

    def program() -> None:
        ws = Workspace("ws", display_name=name)
        child = DataPipeline("child", workspace_id=ws.id, display_name="Child", definition=EMPTY_PIPELINE)
        parent = DataPipeline(
            "parent", workspace_id=ws.id, display_name="Parent",
            definition={"properties": {"activities": [{
                "name": "Run child", "type": "ExecutePipeline",
                "typeProperties": {"pipeline": {"referenceName": child.id, "type": "PipelineReference"},
                                   "waitOnCompletion": True},
            }]}},
        )
        tokens = DataPipeline(
            "tokens", workspace_id=ws.id, display_name="Tokens",
            definition=str(with_tokens),
            parameters={"refs": {"child": child.id, "parent": parent.id}},
        )
        schedule = PipelineSchedule(
            "daily", workspace_id=ws.id, pipeline_id=parent.id, enabled=False,
            configuration={"type": "Daily", "times": [ws.id.apply(lambda _: "06:30")],
                           "startDateTime": "2030-01-01T00:00:00", "endDateTime": "2031-01-01T00:00:00",
                           "localTimeZoneId": ws.id.apply(lambda _: "UTC")},
        )
        pulumi.export("ws", ws.id)
        pulumi.export("child", child.id)
        pulumi.export("parent", parent.id)
        pulumi.export("tokens", tokens.id)
        pulumi.export("schedule_config", schedule.configuration)

    stack = make_stack(program)
    out = {k: v.value for k, v in stack.up(on_output=lambda _line: None).outputs.items()}
    fabric = emulator_client(emulator)
    stored = fabric.items.get_definition(out["ws"], out["parent"]).files()["pipeline-content.json"]
    reference = json.loads(stored)["properties"]["activities"][0]["typeProperties"]["pipeline"]
    assert reference["referenceName"] == out["child"]
    tokens = fabric.items.get_definition(out["ws"], out["tokens"]).files()["pipeline-content.json"]
    assert '"child": "' + out["child"] + '"' in tokens.decode()
    assert out["schedule_config"]["times"] == ["06:30"] and out["schedule_config"]["localTimeZoneId"] == "UTC"
    # Nothing left to do: the resolved values are what the state records.
    assert stack.preview(on_output=lambda _line: None).change_summary.get("same") == 6


BAD_SCHEDULE_PROGRAM = '''
import json

import pulumi

from fabric_resources.providers import DataPipeline, PipelineSchedule, Workspace
from fabric_resources.providers.data_pipeline import EMPTY_PIPELINE

config = pulumi.Config()
ws = Workspace("ws", display_name=config.require("workspace"))
pipe = DataPipeline("pipe", workspace_id=ws.id, display_name="Scheduled", definition=EMPTY_PIPELINE)
PipelineSchedule("schedule", workspace_id=ws.id, pipeline_id=pipe.id, enabled=True,
                 configuration=json.loads(config.require("schedule")))
'''

GOOD_DAILY = {"type": "Daily", "times": ["06:30"], "startDateTime": "2030-01-01T00:00:00Z",
              "endDateTime": "2031-01-01T00:00:00Z", "localTimeZoneId": "UTC"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"localTimeZoneId": "Mars/Olympus"}, "localTimeZoneId"),
        ({"times": ["25:00"]}, "times"),
        ({"type": "Weekly", "weekdays": ["Funday"]}, "weekdays"),
        ({"endDateTime": "2029-01-01T00:00:00Z"}, "endDateTime"),
    ],
)
def test_a_malformed_schedule_is_refused_by_pulumi_up_before_any_write(
    pulumi_project: Any, emulator: Any, change: dict[str, Any], field: str
) -> None:
    # What the issue tried: `pulumi up --yes` on a workspace, a pipeline and a bad schedule. The
    # preview must fail naming the field, and nothing may have been written (0 API writes).
    project = pulumi_project(BAD_SCHEDULE_PROGRAM, config={
        "fabric-e2e:workspace": f"bad-schedule-{uuid.uuid4().hex[:8]}",
        "fabric-e2e:schedule": json.dumps({**GOOD_DAILY, **change}),
    })
    before = writes(emulator)
    result = project.up(check=False)
    assert result.returncode != 0, result.describe()
    assert f"configuration.{field}" in result.output, result.describe()
    assert writes(emulator) - before == 0
    assert project.resources() == []


F64 = "56bac802-080d-4f73-8a42-1b406eb1fcac"  # "Emulator F64"


def test_ids_in_any_case_and_a_tenant_default_capacity_leave_nothing_to_do(make_stack: Any, emulator: Any) -> None:
    # One workspace names its capacity in upper case; the other names none and lands on the
    # tenant's default capacity. Neither may show a change afterwards, and neither is unassigned.
    run = uuid.uuid4().hex[:8]

    def program() -> None:
        upper = Workspace("upper", display_name=f"upper-{run}", capacity_id=F64.upper())
        default = Workspace("default", display_name=f"default-{run}")
        pulumi.export("upper", upper.id)
        pulumi.export("default", default.id)

    stack = make_stack(program)
    with emulator.config(default_capacity_id=F64):
        out = {k: v.value for k, v in stack.up(on_output=lambda _line: None).outputs.items()}
    fabric = emulator_client(emulator)
    assert fabric.workspaces.get(out["upper"]).capacity_id == F64
    assert fabric.workspaces.get(out["default"]).capacity_id == F64
    assert stack.preview(on_output=lambda _line: None).change_summary.get("same") == 3
    stack.refresh(on_output=lambda _line: None)
    assert stack.up(on_output=lambda _line: None).summary.resource_changes == {"same": 3}
    assert fabric.workspaces.get(out["default"]).capacity_id == F64, "never unassigned"
