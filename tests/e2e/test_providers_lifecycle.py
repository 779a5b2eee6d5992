"""The resources through the real Pulumi engine against the emulator (HTTPS, real tokens).

One stack walks the whole lifecycle of every resource type: up -> no-op preview/up (zero API calls)
-> refresh with no changes (bounded API calls) -> edits made through the API as the portal would ->
refresh shows exactly that drift -> up restores it -> an item deleted outside Pulumi -> a program
edit (in-place updates, each calling only what its change needs) -> a move to another workspace
(replacements) -> destroy. Other tests cover check failures at preview, secrets in state, an
interrupted up, creates that never reached the state (taken over, or refused unless adopted), a
same-principal role replacement, and destroy after the workspace vanished.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from fabric_resources import engine
from fabric_resources.client import FabricClient
from fabric_resources.models import ItemDefinition
from fabric_resources.providers import DataPipeline, PipelineSchedule, Workspace, WorkspaceRoleAssignment
from fabric_resources.settings import FabricSettings
from tests.e2e.conftest import export_state, resources_of_type

pytestmark = pytest.mark.e2e

# "Emulator F64", one of the capacities the emulator offers.
F64 = "56bac802-080d-4f73-8a42-1b406eb1fcac"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def wait_activity(name: str, seconds: int, after: str | None = None) -> dict[str, Any]:
    activity: dict[str, Any] = {"name": name, "type": "Wait", "typeProperties": {"waitTimeInSeconds": seconds}}
    if after:
        activity["dependsOn"] = [{"activity": after, "dependencyConditions": ["Succeeded"]}]
    return activity


def content(second_wait: int) -> dict[str, Any]:
    return {"properties": {"activities": [wait_activity("Warm up", 1), wait_activity("Settle", second_wait, "Warm up")]}}


@pytest.fixture
def fabric(emulator: Any) -> Iterator[FabricClient]:
    """A client for the emulator as its default service principal (what the deployer is)."""
    sp = emulator.default_sp
    settings = FabricSettings(api_url=emulator.api_url, authority=emulator.authority, tenant_id=emulator.tenant_id,
                              client_id=sp["client_id"], client_secret=sp["client_secret"], ca_cert=emulator.ca_cert)
    yield FabricClient(settings)


def v1_calls(emulator: Any) -> dict[str, int]:
    return dict(emulator.stats()["by_route"])


def live_wait_seconds(fabric: FabricClient, ws_id: str, item_id: str) -> int:
    files = fabric.items.get_definition(ws_id, item_id).files()
    doc = json.loads(files["pipeline-content.json"])
    settle = next(a for a in doc["properties"]["activities"] if a["name"] == "Settle")
    return int(settle["typeProperties"]["waitTimeInSeconds"])


def changed_resources(events: list[auto.EngineEvent]) -> dict[str, str]:
    """{resource name: op} for every resource whose step was not 'same' (refresh reports 'update')."""
    changes: dict[str, str] = {}
    for event in events:
        done = event.res_outputs_event
        if done is None or done.metadata.op == auto.OpType.SAME:
            continue
        changes[done.metadata.urn.rsplit("::", 1)[-1]] = done.metadata.op.value
    return changes


def changed_outputs(before: dict[str, Any], after: dict[str, Any]) -> dict[str, set[str]]:
    """{resource name: output keys whose value differs} between two exported states."""
    old = {r["urn"]: r.get("outputs", {}) for r in before.get("resources", [])}
    changes: dict[str, set[str]] = {}
    for resource in after.get("resources", []):
        outs, prior = resource.get("outputs", {}), old.get(resource["urn"], {})
        keys = {k for k in set(outs) | set(prior) if outs.get(k) != prior.get(k)}
        if keys:
            changes[resource["urn"].rsplit("::", 1)[-1]] = keys
    return changes


def test_full_lifecycle_of_every_resource_type(make_stack: Any, emulator: Any, fabric: FabricClient) -> None:
    run = uuid.uuid4().hex[:6]
    user = emulator.users[0]
    spec: dict[str, Any] = {
        "second_wait": 2,
        "description": "Loads sales",
        "times": ["06:30"],
        "pipeline_in_second_workspace": False,
        "capacity": None,
        # "" declares the workspace root (None would leave the folder unmanaged: DECISIONS #18).
        "folder": "",
    }

    def program() -> None:
        ws = Workspace("ws", display_name=f"Lifecycle {run}", description="e2e", capacity_id=spec["capacity"])
        target = ws
        if spec["pipeline_in_second_workspace"]:
            target = Workspace("ws2", display_name=f"Lifecycle {run} (moved)")
        pipeline = DataPipeline(
            "ingest",
            workspace_id=target.id,
            display_name="Ingest",
            description=spec["description"],
            definition=content(spec["second_wait"]),
            folder_id=spec["folder"],
        )
        schedule = PipelineSchedule(
            "nightly",
            workspace_id=target.id,
            pipeline_id=pipeline.id,
            enabled=True,
            configuration={"type": "Daily", "times": spec["times"], "startDateTime": "2025-01-01T00:00:00Z",
                           "endDateTime": "2035-01-01T00:00:00Z", "localTimeZoneId": "Tokyo Standard Time"},
        )
        member = WorkspaceRoleAssignment("analyst", workspace_id=ws.id, principal_id=user["object_id"],
                                         principal_type="User", role="Member")
        pulumi.export("ws", ws.id)
        pulumi.export("pipeline", pipeline.id)
        pulumi.export("pipeline_ws", pipeline.workspace_id)
        pulumi.export("hash", pipeline.definition_hash)
        pulumi.export("schedule", schedule.id)
        pulumi.export("member", member.id)

    stack = make_stack(program)

    # -- 1. up creates everything, with the definition inlined in the create call ----------------
    emulator.reset_stats()
    up = stack.up()
    assert up.summary.result == "succeeded"
    out = {k: v.value for k, v in up.outputs.items()}
    calls = v1_calls(emulator)
    assert calls.get("POST /v1/workspaces/{workspaceId}/items", 0) == 1
    assert not any("updateDefinition" in route for route in calls)
    ws_id, item_id = out["ws"], out["pipeline"]
    assert live_wait_seconds(fabric, ws_id, item_id) == 2
    schedule = fabric.schedules.get(ws_id, item_id, out["schedule"])
    assert schedule.enabled is True
    assert schedule.configuration is not None
    assert schedule.configuration.local_time_zone_id == "Tokyo Standard Time"
    assert out["hash"].startswith("sha256:")

    # -- 2. an unchanged program: no changes and not a single Fabric API call ---------------------
    emulator.reset_stats()
    stack.preview(expect_no_changes=True)
    noop = stack.up()
    assert noop.summary.resource_changes is not None
    assert set(noop.summary.resource_changes) == {"same"}
    assert emulator.stats()["total"] == 0

    # -- 3. refresh with nothing changed: no drift, two calls for the pipeline ---------------------
    emulator.reset_stats()
    stack.refresh(expect_no_changes=True)
    calls = v1_calls(emulator)
    pipeline_calls = sum(n for route, n in calls.items() if "{itemId}" in route and "/jobs/" not in route)
    assert pipeline_calls == 1, calls  # its definition; the item itself comes from the workspace listing
    assert calls.get("GET /v1/workspaces/{workspaceId}/items") == 1, calls
    assert emulator.stats()["total"] <= 5, calls  # + workspace, schedule, role assignment

    state = export_state(stack)
    for type_suffix in ("fabric:Workspace", "fabric:DataPipeline", "fabric:PipelineSchedule",
                        "fabric:WorkspaceRoleAssignment"):
        found = resources_of_type(state, type_suffix)
        assert found, type_suffix
        blob = found[0]["inputs"]["__provider"]
        # Pickled by reference and not a secret: a short plain string, never a credential.
        assert isinstance(blob, str) and len(blob) < 600

    before_drift = state

    # -- 4. edits made outside Pulumi, the way the portal makes them ------------------------------
    portal = emulator.session(token=emulator.token(upn=user["user_principal_name"]))
    api = emulator.api_url
    item_url = f"{api}/workspaces/{ws_id}/items/{item_id}"
    assert portal.patch(item_url, json={"displayName": "Ingest (portal)"}, timeout=30).status_code == 200
    definition = portal.post(f"{item_url}/getDefinition", timeout=30).json()["definition"]
    for part in definition["parts"]:
        if part["path"] == "pipeline-content.json":
            doc = json.loads(base64.b64decode(part["payload"]))
            doc["properties"]["activities"][1]["typeProperties"]["waitTimeInSeconds"] = 99
            part["payload"] = base64.b64encode(json.dumps(doc).encode()).decode()
    resp = portal.post(f"{item_url}/updateDefinition", json={"definition": definition}, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    # The description cleared and the item filed into a folder, as the portal does.
    assert portal.patch(item_url, json={"description": ""}, timeout=30).status_code == 200
    folder = fabric.folders.create(ws_id, display_name="Archive")
    assert portal.post(f"{item_url}/move", json={"targetFolderId": folder.id}, timeout=30).status_code == 200
    sched_url = f"{item_url}/jobs/Pipeline/schedules/{out['schedule']}"
    live_schedule = portal.get(sched_url, timeout=30).json()
    declared_config = live_schedule["configuration"]
    portal_config = {**declared_config, "times": ["07:45"], "localTimeZoneId": "Pacific Standard Time"}
    resp = portal.patch(sched_url, json={"enabled": False, "configuration": portal_config}, timeout=30)
    assert resp.status_code == 200, resp.text
    fabric.role_assignments.update(ws_id, out["member"], role="Viewer")
    fabric.workspaces.update(ws_id, description="edited in the portal")

    events: list[auto.EngineEvent] = []
    refresh = stack.refresh(on_event=events.append)
    assert refresh.summary.resource_changes is not None
    assert refresh.summary.resource_changes.get("update") == 4, refresh.summary.resource_changes
    assert changed_resources(events) == {"ws": "update", "ingest": "update", "nightly": "update",
                                         "analyst": "update"}
    state = export_state(stack)
    # Exactly the properties edited outside Pulumi changed, nothing else.
    assert changed_outputs(before_drift, state) == {
        "ingest": {"display_name", "description", "definition", "definition_hash", "folder_id"},
        "nightly": {"enabled", "configuration"},
        "analyst": {"role"},
        "ws": {"description"},
    }
    pipe = resources_of_type(state, "fabric:DataPipeline")[0]
    assert pipe["outputs"]["display_name"] == "Ingest (portal)"
    assert pipe["outputs"].get("description") is None  # None outputs are left out of the state
    assert pipe["outputs"]["folder_id"] == folder.id
    old_config = resources_of_type(before_drift, "fabric:PipelineSchedule")[0]["outputs"]["configuration"]
    new_config = resources_of_type(state, "fabric:PipelineSchedule")[0]["outputs"]["configuration"]
    assert new_config == {**old_config, "times": ["07:45"], "localTimeZoneId": "Pacific Standard Time"}
    # The state now holds the live text as the portal wrote it (the canonical form only compares).
    live_settle = json.loads(pipe["outputs"]["definition"])["properties"]["activities"][1]
    assert live_settle["typeProperties"]["waitTimeInSeconds"] == 99
    assert pipe["outputs"]["definition_hash"] != out["hash"]
    assert resources_of_type(state, "fabric:PipelineSchedule")[0]["outputs"]["enabled"] is False
    assert resources_of_type(state, "fabric:WorkspaceRoleAssignment")[0]["outputs"]["role"] == "Viewer"

    # up puts back what the program declares, in place (same ids).
    restore = stack.up()
    assert restore.summary.resource_changes is not None
    assert restore.summary.resource_changes.get("update") == 4
    assert fabric.workspaces.get(ws_id).description == "e2e"
    live_item = fabric.items.get(ws_id, item_id)
    assert (live_item.display_name, live_item.description, live_item.folder_id) == ("Ingest", "Loads sales", None)
    assert live_wait_seconds(fabric, ws_id, item_id) == 2
    restored = fabric.schedules.get(ws_id, item_id, out["schedule"])
    assert restored.enabled is True and restored.configuration is not None
    assert restored.configuration.model_dump(mode="json", by_alias=True, exclude_none=True) == declared_config
    assert fabric.role_assignments.get(ws_id, out["member"]).role == "Member"
    stack.preview(expect_no_changes=True)

    # -- 5. an item deleted outside Pulumi leaves the state on refresh and comes back on up -------
    assert portal.delete(item_url, timeout=30).status_code == 200
    refresh = stack.refresh()
    assert refresh.summary.resource_changes is not None
    assert refresh.summary.resource_changes.get("delete") == 2, refresh.summary.resource_changes  # + schedule
    up = stack.up()
    assert up.summary.resource_changes is not None
    assert up.summary.resource_changes.get("create") == 2
    item_id = up.outputs["pipeline"].value
    assert [i.display_name for i in fabric.items.list(ws_id, type="DataPipeline")] == ["Ingest"]

    # -- 6. program edits update in place, each calling only what its change needs ---------------
    item_routes = "/v1/workspaces/{workspaceId}/items/{itemId}"
    patch_item, update_definition = f"PATCH {item_routes}", f"POST {item_routes}/updateDefinition"
    move_item = f"POST {item_routes}/move"
    spec.update(second_wait=5, times=["06:30", "18:30"], capacity=F64)
    emulator.reset_stats()
    edit = stack.up()
    assert edit.summary.resource_changes is not None
    assert edit.summary.resource_changes.get("update") == 3, edit.summary.resource_changes
    calls = v1_calls(emulator)
    # The definition alone changed: updateDefinition, and the item's metadata is left alone.
    assert (calls.get(update_definition), calls.get(patch_item), calls.get(move_item)) == (1, None, None), calls
    assert fabric.workspaces.get(ws_id).capacity_id == F64
    assert edit.outputs["pipeline"].value == item_id
    assert live_wait_seconds(fabric, ws_id, item_id) == 5

    spec.update(description="Loads sales, v2")
    emulator.reset_stats()
    edit = stack.up()
    assert edit.summary.resource_changes is not None
    assert edit.summary.resource_changes.get("update") == 1, edit.summary.resource_changes
    calls = v1_calls(emulator)
    assert (calls.get(update_definition), calls.get(patch_item), calls.get(move_item)) == (None, 1, None), calls
    assert fabric.items.get(ws_id, item_id).description == "Loads sales, v2"

    spec.update(folder=folder.id)
    emulator.reset_stats()
    edit = stack.up()
    assert edit.summary.resource_changes is not None
    assert edit.summary.resource_changes.get("update") == 1, edit.summary.resource_changes
    calls = v1_calls(emulator)
    assert (calls.get(update_definition), calls.get(patch_item), calls.get(move_item)) == (None, None, 1), calls
    assert fabric.items.get(ws_id, item_id).folder_id == folder.id
    assert live_wait_seconds(fabric, ws_id, item_id) == 5
    configuration = fabric.schedules.get(ws_id, item_id, edit.outputs["schedule"].value).configuration
    assert configuration is not None and list(getattr(configuration, "times", [])) == ["06:30", "18:30"]

    # -- 7. moving the pipeline to another workspace replaces it (and its schedule) ---------------
    # (and taking the first workspace off its capacity is an in-place update).
    spec.update(pipeline_in_second_workspace=True, capacity="", folder="")
    move = stack.up()
    assert move.summary.resource_changes is not None
    changes = move.summary.resource_changes
    assert (changes.get("replace"), changes.get("create"), changes.get("update")) == (2, 1, 1), changes
    assert fabric.workspaces.get(ws_id).capacity_id is None
    ws2_id, new_item = move.outputs["pipeline_ws"].value, move.outputs["pipeline"].value
    assert ws2_id != ws_id and new_item != item_id
    assert [i.id for i in fabric.items.list(ws_id, type="DataPipeline")] == []
    assert [i.id for i in fabric.items.list(ws2_id, type="DataPipeline")] == [new_item]
    assert live_wait_seconds(fabric, ws2_id, new_item) == 5

    # -- 8. destroy leaves nothing behind ---------------------------------------------------------
    stack.destroy()
    assert fabric.workspaces.find(f"Lifecycle {run}") is None
    assert fabric.workspaces.find(f"Lifecycle {run} (moved)") is None


def test_bad_inputs_fail_at_preview_without_any_api_call(make_stack: Any, emulator: Any) -> None:
    cyclic = {"properties": {"activities": [wait_activity("A", 1, "B"), wait_activity("B", 1, "A")]}}
    some_workspace = str(uuid.uuid4())
    # The engine stops at the first failed check, so each bad input is previewed on its own.
    cases: dict[str, tuple[Any, str]] = {
        "long name": (lambda: Workspace("ws", display_name="x" * 300), "display_name"),
        "cyclic definition": (
            lambda: DataPipeline("cyclic", workspace_id=some_workspace, display_name="Cyclic", definition=cyclic),
            "dependency cycle: 'A' -> 'B' -> 'A'",
        ),
        "unknown role": (
            lambda: WorkspaceRoleAssignment("bad-role", workspace_id=some_workspace, principal_id=str(uuid.uuid4()),
                                            principal_type="User", role="Owner"),
            "invalid 'role'",
        ),
        "bad schedule": (
            lambda: PipelineSchedule("s", workspace_id=some_workspace, pipeline_id=some_workspace, enabled=True,
                                     configuration={"type": "Daily", "times": ["02:00"]}),
            "invalid 'configuration'",
        ),
    }
    current: dict[str, Any] = {}
    stack = make_stack(lambda: current["make"]())
    emulator.reset_stats()
    for name, (make, expected) in cases.items():
        current["make"] = make
        with pytest.raises(auto.CommandError) as err:
            stack.preview()
        assert expected in str(err.value), name
    assert emulator.stats()["total"] == 0


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def cli_export(stack: auto.Stack) -> str:
    """`pulumi stack export` exactly as a user runs it (the Automation API adds --show-secrets)."""
    env = {**os.environ, **stack.workspace.env_vars}
    cli = str(engine.TOOLS_DIR / "bin" / "pulumi")
    done = subprocess.run([cli, "stack", "export", "--stack", stack.name], env=env, cwd=stack.workspace.work_dir,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def without_secret_values(value: Any) -> Any:
    """The state with every value the engine marks as secret removed."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            return "<secret>"
        return {k: without_secret_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secret_values(v) for v in value]
    return value


def test_state_holds_no_secret_or_token(make_stack: Any, emulator: Any) -> None:
    run = uuid.uuid4().hex[:6]

    def program() -> None:
        ws = Workspace("ws", display_name=f"Secrets {run}")
        DataPipeline("p", workspace_id=ws.id, display_name="P", definition=content(1))

    stack = make_stack(program)
    stack.up()
    stack.refresh()
    secret = emulator.default_sp["client_secret"]
    exported = cli_export(stack)
    assert secret not in exported
    assert not JWT_RE.search(exported)
    # Even decrypted, the client secret is only the stack's own secret config (handed to the provider
    # plugin by the engine), never a value our providers wrote into a resource.
    revealed = stack.export_stack().deployment
    assert secret not in json.dumps(without_secret_values(revealed))
    assert not JWT_RE.search(json.dumps(revealed))
    for resource in revealed["resources"]:
        if "fabric:" in resource["type"]:
            assert secret not in json.dumps(resource)
    stack.destroy()


def test_an_interrupted_up_resumes_without_duplicates(make_stack: Any, emulator: Any, fabric: FabricClient) -> None:
    run = uuid.uuid4().hex[:6]
    big = copy.deepcopy(content(1))
    big["properties"]["activities"] += [wait_activity(f"Pad {i:03d}", i, None) for i in range(60)]

    def program() -> None:
        ws = Workspace("ws", display_name=f"Resume {run}")
        small = DataPipeline("small", workspace_id=ws.id, display_name="Small", definition=content(1))
        # Ordered after "small", so "small" exists when "big" fails.
        DataPipeline("big", workspace_id=ws.id, display_name="Big", definition=big,
                     opts=pulumi.ResourceOptions(depends_on=[small]))

    stack = make_stack(program)
    # Creations whose definition is over 2 KB become long-running operations that fail: "big" fails
    # after the workspace and "small" were created.
    faults = emulator.config(lro_mode="size", lro_size_threshold=2048, lro_fail=True, lro_duration_seconds=0.05)
    with faults, pytest.raises(auto.CommandError) as err:
        stack.up()
    assert "OperationFailed" in str(err.value)
    ws = fabric.workspaces.find(f"Resume {run}")
    assert ws is not None
    assert sorted(i.display_name for i in fabric.items.list(ws.id)) == ["Small"]

    stack.up()
    assert sorted(i.display_name for i in fabric.items.list(ws.id)) == ["Big", "Small"]
    assert len([w for w in fabric.workspaces.list() if w.display_name == f"Resume {run}"]) == 1
    stack.preview(expect_no_changes=True)
    stack.destroy()
    assert fabric.workspaces.find(f"Resume {run}") is None


def test_existing_objects_are_refused_unless_adopted(make_stack: Any, emulator: Any, fabric: FabricClient) -> None:
    run = uuid.uuid4().hex[:6]
    # Made beforehand, as if by hand in the portal: a workspace and a pipeline with other content.
    ws = fabric.workspaces.create(f"Adopt {run}", description="made by hand")

    existing = fabric.items.create(ws.id, display_name="Ingest", type="DataPipeline",
                                   definition=ItemDefinition.from_files({"pipeline-content.json": content(42)}))
    flags = {"adopt_pipeline": False}

    def program() -> None:
        workspace = Workspace("ws", display_name=f"Adopt {run}", description="managed", adopt_existing=True)
        pipeline = DataPipeline("ingest", workspace_id=workspace.id, display_name="Ingest", definition=content(3),
                                adopt_existing=flags["adopt_pipeline"])
        pulumi.export("pipeline", pipeline.id)

    stack = make_stack(program)
    with pytest.raises(auto.CommandError) as err:
        stack.up()
    message = str(err.value)
    assert "already exists" in message and "adopt_existing=True" in message
    assert "ItemDisplayNameAlreadyInUse" in message and "requestId=" in message
    assert "was not created by this resource" in message  # its logicalId is Fabric's, not this stack's
    # The workspace was adopted (and converged); the pipeline was left alone.
    assert fabric.workspaces.get(ws.id).description == "managed"
    assert live_wait_seconds(fabric, ws.id, existing.id) == 42

    flags["adopt_pipeline"] = True
    up = stack.up()
    assert up.outputs["pipeline"].value == existing.id
    assert live_wait_seconds(fabric, ws.id, existing.id) == 3
    assert [i.id for i in fabric.items.list(ws.id, type="DataPipeline")] == [existing.id]
    stack.preview(expect_no_changes=True)
    stack.destroy()
    assert fabric.workspaces.find(f"Adopt {run}") is None


def forget(stack: auto.Stack, *names: str) -> None:
    """Drop resources from the state only, as when an `up` created them but died before recording them."""
    exported = stack.export_stack()
    assert exported.deployment is not None
    deployment = dict(exported.deployment)
    deployment["resources"] = [r for r in deployment["resources"] if r["urn"].rsplit("::", 1)[-1] not in names]
    stack.import_stack(auto.Deployment(version=exported.version, deployment=deployment))


def test_creates_missing_from_state_are_taken_over_not_duplicated(
    make_stack: Any, emulator: Any, fabric: FabricClient
) -> None:
    run = uuid.uuid4().hex[:6]
    group = str(uuid.uuid4())
    hourly = {"type": "Cron", "interval": 60, "startDateTime": "2025-01-01T00:00:00Z",
              "endDateTime": "2035-01-01T00:00:00Z", "localTimeZoneId": "W. Europe Standard Time"}
    flags: dict[str, Any] = {"adopt_ws": False, "member_type": None}

    def program() -> None:
        ws = Workspace("ws", display_name=f"Lost {run}", adopt_existing=flags["adopt_ws"])
        pipeline = DataPipeline("ingest", workspace_id=ws.id, display_name="Ingest", definition=content(1))
        schedule = PipelineSchedule("hourly", workspace_id=ws.id, pipeline_id=pipeline.id, enabled=True,
                                    configuration=hourly)
        if flags["member_type"]:
            WorkspaceRoleAssignment("readers", workspace_id=ws.id, principal_id=group,
                                    principal_type=flags["member_type"], role="Viewer")
        pulumi.export("ws", ws.id)
        pulumi.export("pipeline", pipeline.id)
        pulumi.export("schedule", schedule.id)

    stack = make_stack(program)
    first = {k: v.value for k, v in stack.up().outputs.items()}
    ws_id, item_id, schedule_id = first["ws"], first["pipeline"], first["schedule"]
    # A schedule made in the portal with the same timing but disabled: not the declared one.
    decoy = fabric.schedules.create(ws_id, item_id, enabled=False, configuration=hourly)

    # -- a schedule created but never recorded: the re-run takes it over (schedules have no name) --
    forget(stack, "hourly")
    emulator.reset_stats()
    rerun = stack.up()
    assert rerun.outputs["schedule"].value == schedule_id
    calls = v1_calls(emulator)
    assert [r for r in calls if r.startswith("POST ") and r.endswith("/schedules")] == [], calls
    assert [r for r in calls if r.startswith("GET ") and r.endswith("/schedules")], calls  # it looked first
    live = {s.id: s.enabled for s in fabric.schedules.list(ws_id, item_id)}
    assert live == {schedule_id: True, decoy.id: False}
    stack.preview(expect_no_changes=True)

    # -- a workspace and pipeline created but never recorded: the workspace (not empty, so not
    # provably ours) is refused with the fix named; the pipeline carries this stack's logicalId -----
    forget(stack, "ws", "ingest", "hourly")
    with pytest.raises(auto.CommandError) as err:
        stack.up()
    message = str(err.value)
    assert "WorkspaceNameAlreadyExists" in message and "adopt_existing=True" in message, message
    # Opted in for the workspace only: the pipeline is recognised as this stack's own and taken
    # over with no flag, everything converges onto the original objects, nothing is duplicated.
    flags.update(adopt_ws=True, member_type="User")
    events: list[auto.EngineEvent] = []
    converged = {k: v.value for k, v in stack.up(on_event=events.append).outputs.items()}
    assert converged == first
    infos = [e.diagnostic_event.message for e in events
             if e.diagnostic_event is not None and "carries this resource's logicalId" in e.diagnostic_event.message]
    assert len(infos) == 1 and item_id in infos[0], infos
    assert [w.id for w in fabric.workspaces.list() if w.display_name == f"Lost {run}"] == [ws_id]
    assert [i.id for i in fabric.items.list(ws_id)] == [item_id]
    assert sorted(s.id for s in fabric.schedules.list(ws_id, item_id)) == sorted([schedule_id, decoy.id])
    stack.preview(expect_no_changes=True)

    # -- a principal_type correction replaces the assignment: the old one must go first -------------
    flags["member_type"] = "Group"
    retyped = stack.up()
    assert retyped.summary.resource_changes is not None
    assert retyped.summary.resource_changes.get("replace") == 1, retyped.summary.resource_changes
    assignments = [a for a in fabric.role_assignments.list(ws_id) if a.principal.id == group]
    assert [(a.principal.type, a.role) for a in assignments] == [("Group", "Viewer")]

    # -- the workspace deleted outside Pulumi: destroy (no refresh) tolerates every vanished object --
    fabric.workspaces.delete(ws_id)
    destroyed = stack.destroy()
    assert destroyed.summary.resource_changes is not None
    # The four resources and the stack itself.
    assert destroyed.summary.resource_changes.get("delete") == 5, destroyed.summary.resource_changes
    assert not export_state(stack).get("resources")
    assert fabric.workspaces.find(f"Lost {run}") is None
