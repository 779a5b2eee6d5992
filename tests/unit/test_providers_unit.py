"""Provider check/diff behaviour as plain calls (no engine, no emulator, no network)."""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from pathlib import Path
from typing import Any

import dill
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from fabric_resources.definitions import canonical_json, content_hash
from fabric_resources.errors import DefinitionError
from fabric_resources.models import DailyScheduleConfig
from fabric_resources.providers import _base
from fabric_resources.providers.data_pipeline import (
    DataPipelineProvider,
    default_logical_id,
    render_definition,
)
from fabric_resources.providers.role_assignment import WorkspaceRoleAssignmentProvider
from fabric_resources.providers.schedule import PipelineScheduleProvider
from fabric_resources.providers.workspace import WorkspaceProvider
from tests.unit.conftest import failures_of

REPO_ROOT = Path(__file__).resolve().parents[2]
WS = "0b2f1c5e-3a4d-4e8f-9b1a-2c3d4e5f6a7b"
WS2 = "1c3f2d6e-4b5e-4f90-8c2b-3d4e5f6a7b8c"
ITEM = "2d4a3e7f-5c6f-4a01-9d3c-4e5f6a7b8c9d"
PRINCIPAL = "3e5b4f80-6d70-4b12-8e4d-5f6a7b8c9d0e"

CONTENT: dict[str, Any] = {
    "properties": {
        "activities": [
            {"name": "Wait1", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
            {
                "name": "Wait2",
                "type": "Wait",
                "dependsOn": [{"activity": "Wait1", "dependencyConditions": ["Succeeded"]}],
                "typeProperties": {"waitTimeInSeconds": 2},
            },
        ]
    }
}


# check and diff must never build a client: every test here runs under the no_clients fixture.
pytestmark = pytest.mark.usefixtures("no_clients")


def pipeline_inputs(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "workspace_id": WS,
        "display_name": "Ingest",
        "description": None,
        "definition": json.dumps(CONTENT),
        "folder_id": None,
        "adopt_existing": False,
        "definition_hash": None,
        "__provider": "pickled",
    }
    inputs.update(changes)
    return inputs


def pipeline_state(**changes: Any) -> dict[str, Any]:
    """Outputs as create() would have stored them."""
    state = {
        "workspace_id": WS,
        "display_name": "Ingest",
        "description": None,
        "definition": canonical_json(CONTENT),
        "definition_hash": content_hash(CONTENT),
        "folder_id": None,
        "adopt_existing": False,
        "__provider": "pickled",
    }
    state.update(changes)
    return state


# -- check ----------------------------------------------------------------------------------------


def test_workspace_check_accepts_valid_inputs_and_names_each_bad_field() -> None:
    p = WorkspaceProvider()
    ok = p.check({}, {"display_name": "Sales", "description": "d", "capacity_id": None, "adopt_existing": False})
    assert ok.failures == []

    bad = p.check({}, {"display_name": "", "description": "x" * 4001, "capacity_id": "not-a-guid"})
    failures = failures_of(bad)
    assert set(failures) == {"display_name", "description", "capacity_id"}
    assert "display_name" in failures["display_name"]
    assert "4000" in failures["description"]

    missing = p.check({}, {"description": "d"})
    assert "required" in failures_of(missing)["display_name"]


def test_check_tolerates_unknowns_and_still_validates_known_fields() -> None:
    p = WorkspaceRoleAssignmentProvider()
    result = p.check(
        {}, {"workspace_id": Unknown(), "principal_id": PRINCIPAL, "principal_type": "User", "role": "Owner"}
    )
    failures = failures_of(result)
    assert list(failures) == ["role"]
    assert "Admin" in failures["role"]
    assert isinstance(result.inputs["workspace_id"], Unknown)


def test_role_assignment_check_rejects_bad_principal_type() -> None:
    p = WorkspaceRoleAssignmentProvider()
    result = p.check({}, {"workspace_id": WS, "principal_id": PRINCIPAL, "principal_type": "Robot", "role": "Viewer"})
    assert list(failures_of(result)) == ["principal_type"]


def test_unknown_property_is_reported() -> None:
    result = WorkspaceProvider().check({}, {"display_name": "Sales", "colour": "blue"})
    assert list(failures_of(result)) == ["colour"]


def test_pipeline_check_keeps_the_authored_text_and_diff_compares_canonically() -> None:
    text = json.dumps(CONTENT, indent=4)
    p = DataPipelineProvider()
    result = p.check({}, pipeline_inputs(definition=text))
    assert result.failures == []
    # What the user authored is what is sent and recorded; the canonical form only compares.
    assert result.inputs["definition"] == text
    assert p.diff(ITEM, pipeline_state(), dict(result.inputs)).changes is False
    assert p.diff(ITEM, pipeline_state(definition=text), dict(result.inputs)).changes is False
    edited = json.dumps({"properties": {"activities": CONTENT["properties"]["activities"][:1]}}, indent=4)
    assert p.diff(ITEM, pipeline_state(definition=text), dict(p.check({}, pipeline_inputs(
        definition=edited)).inputs)).changes is True


@pytest.mark.parametrize(
    ("activities", "expected"),
    [
        (
            [{"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}] * 2,
            "unique",
        ),
        (
            [{"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
              "dependsOn": [{"activity": "Ghost", "dependencyConditions": ["Succeeded"]}]}],
            "Ghost",
        ),
        (
            [
                {"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
                 "dependsOn": [{"activity": "B", "dependencyConditions": ["Succeeded"]}]},
                {"name": "B", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
                 "dependsOn": [{"activity": "A", "dependencyConditions": ["Succeeded"]}]},
            ],
            "cycle",
        ),
    ],
)
def test_pipeline_check_rejects_invalid_definitions(activities: list[Any], expected: str) -> None:
    text = json.dumps({"properties": {"activities": activities}})
    result = DataPipelineProvider().check({}, pipeline_inputs(definition=text))
    failures = failures_of(result)
    assert list(failures) == ["definition"]
    assert expected in failures["definition"]


def test_pipeline_check_reports_broken_json_and_bad_ids() -> None:
    result = DataPipelineProvider().check(
        {}, pipeline_inputs(definition='{"properties": {"activities": [}}', workspace_id="ws-1")
    )
    failures = failures_of(result)
    assert set(failures) == {"workspace_id", "definition"}
    assert "line 1" in failures["definition"]


def test_pipeline_check_skips_definition_validation_while_unknown() -> None:
    result = DataPipelineProvider().check({}, pipeline_inputs(definition=Unknown()))
    assert result.failures == []


def test_schedule_check_validates_configuration() -> None:
    p = PipelineScheduleProvider()
    base = {"workspace_id": WS, "pipeline_id": ITEM, "job_type": "Pipeline", "enabled": True}
    good = p.check({}, {**base, "configuration": {
        "type": "Daily", "times": ["06:30"], "startDateTime": "2025-01-01T00:00:00",
        "endDateTime": "2030-01-01T00:00:00", "localTimeZoneId": "W. Europe Standard Time"}})
    assert good.failures == []
    # Stored in the API's own spelling, time zone untouched.
    assert good.inputs["configuration"]["localTimeZoneId"] == "W. Europe Standard Time"
    assert good.inputs["configuration"]["times"] == ["06:30"]

    bad = p.check({}, {**base, "configuration": {"type": "Hourly", "times": ["06:30"]}})
    assert list(failures_of(bad)) == ["configuration"]
    missing = p.check({}, {**base, "configuration": {"type": "Cron", "interval": 5,
                                                     "startDateTime": "2025-01-01T00:00:00"}})
    reason = failures_of(missing)["configuration"]
    assert "endDateTime" in reason or "end_date_time" in reason


# -- diff -----------------------------------------------------------------------------------------


def test_pipeline_diff_ignores_form_service_fields_and_provider_blob() -> None:
    p = DataPipelineProvider()
    exported = json.loads(json.dumps(CONTENT))
    exported["properties"]["lastModifiedByObjectId"] = PRINCIPAL
    exported["properties"]["annotations"] = []
    exported["properties"]["activities"][0]["policy"] = {"timeout": "0.12:00:00", "retry": 0}
    news = pipeline_inputs(definition=json.dumps(exported, indent=3), __provider="another-blob")
    result = p.diff(ITEM, pipeline_state(), news)
    assert result.changes is False
    assert result.replaces == []


def test_pipeline_diff_sees_an_activity_edit_and_metadata_changes() -> None:
    p = DataPipelineProvider()
    edited = json.loads(json.dumps(CONTENT))
    edited["properties"]["activities"][1]["typeProperties"]["waitTimeInSeconds"] = 30
    result = p.diff(ITEM, pipeline_state(), pipeline_inputs(definition=json.dumps(edited)))
    assert result.changes is True and result.replaces == []

    renamed = p.diff(ITEM, pipeline_state(), pipeline_inputs(display_name="Ingest v2", description=""))
    assert renamed.changes is True and renamed.replaces == []
    # "" and None both mean "no description".
    same = p.diff(ITEM, pipeline_state(), pipeline_inputs(description=""))
    assert same.changes is False


def test_pipeline_diff_replaces_on_workspace_move_even_when_unknown() -> None:
    p = DataPipelineProvider()
    moved = p.diff(ITEM, pipeline_state(), pipeline_inputs(workspace_id=WS2))
    assert moved.changes is True and moved.replaces == ["workspace_id"]
    pending = p.diff(ITEM, pipeline_state(), pipeline_inputs(workspace_id=Unknown()))
    assert pending.replaces == ["workspace_id"]
    unknown_definition = p.diff(ITEM, pipeline_state(), pipeline_inputs(definition=Unknown()))
    assert unknown_definition.changes is True and unknown_definition.replaces == []


def test_role_assignment_diff_role_updates_principal_replaces() -> None:
    p = WorkspaceRoleAssignmentProvider()
    state = {"workspace_id": WS, "principal_id": PRINCIPAL, "principal_type": "User", "role": "Viewer"}
    same_upper = p.diff(PRINCIPAL, state, {**state, "principal_id": PRINCIPAL.upper()})
    assert same_upper.changes is False
    role = p.diff(PRINCIPAL, state, {**state, "role": "Member"})
    assert role.changes is True and role.replaces == []
    other = p.diff(PRINCIPAL, state, {**state, "principal_id": ITEM, "workspace_id": WS2})
    assert set(other.replaces or []) == {"principal_id", "workspace_id"}
    assert other.delete_before_replace is False


@pytest.mark.parametrize(
    ("change", "replaces", "delete_first"),
    [
        # Same principal, same workspace: the old assignment must go before the new one can exist.
        ({"principal_type": "Group"}, ["principal_type"], True),
        ({"principal_type": "Group", "role": "Admin"}, ["principal_type"], True),
        ({"principal_type": "Group", "workspace_id": WS.upper()}, ["principal_type"], True),
        # Another holder or another workspace: no clash, so Pulumi's create-then-delete is kept.
        ({"principal_id": ITEM}, ["principal_id"], False),
        ({"principal_type": "Group", "principal_id": ITEM}, ["principal_id", "principal_type"], False),
        ({"workspace_id": WS2}, ["workspace_id"], False),
        ({"workspace_id": Unknown(), "principal_type": "Group"}, ["workspace_id", "principal_type"], False),
        ({"role": "Member"}, [], False),
    ],
)
def test_role_assignment_replacement_of_the_same_holder_deletes_first(
    change: dict[str, Any], replaces: list[str], delete_first: bool
) -> None:
    p = WorkspaceRoleAssignmentProvider()
    state = {"workspace_id": WS, "principal_id": PRINCIPAL, "principal_type": "User", "role": "Viewer"}
    result = p.diff(PRINCIPAL, state, {**state, **change})
    assert result.changes is True
    assert sorted(result.replaces or []) == sorted(replaces)
    assert result.delete_before_replace is delete_first


def test_schedule_diff_compares_configuration_semantically() -> None:
    p = PipelineScheduleProvider()
    config = DailyScheduleConfig(times=["06:30"], start_date_time="2025-01-01T00:00:00",
                                 end_date_time="2030-01-01T00:00:00", local_time_zone_id="Tokyo Standard Time")
    state = {"workspace_id": WS, "pipeline_id": ITEM, "job_type": "Pipeline", "enabled": True,
             "configuration": config.to_api()}
    # Same configuration written with a different key order: no change.
    reordered = dict(reversed(list(config.to_api().items())))
    assert p.diff("s", state, {**state, "configuration": reordered}).changes is False
    disabled = p.diff("s", state, {**state, "enabled": False})
    assert disabled.changes is True and disabled.replaces == []
    other_zone = p.diff("s", state, {**state, "configuration": {**config.to_api(), "localTimeZoneId": "UTC"}})
    assert other_zone.changes is True
    moved = p.diff("s", state, {**state, "pipeline_id": WS2})
    assert moved.replaces == ["pipeline_id"]


def test_workspace_diff_capacity_change_is_an_update() -> None:
    p = WorkspaceProvider()
    state = {"display_name": "Sales", "description": None, "capacity_id": None, "adopt_existing": False}
    assert p.diff(WS, state, {**state, "adopt_existing": True}).changes is False
    result = p.diff(WS, state, {**state, "capacity_id": ITEM})
    assert result.changes is True and result.replaces == []


# -- the pickled provider -------------------------------------------------------------------------


def test_pickled_providers_are_tiny_stable_and_secret_free() -> None:
    blobs = {}
    for cls in (WorkspaceProvider, DataPipelineProvider, PipelineScheduleProvider, WorkspaceRoleAssignmentProvider):
        first, second = serialize_provider(cls()), serialize_provider(cls())
        assert first == second
        assert len(first) < 400, (cls.__name__, len(first))
        blobs[cls] = first
        # Pickled by reference: loading gives an instance of the installed class.
        assert type(dill.loads(base64.b64decode(first))) is cls

    secret = "s3cr3t-value-never-in-state"
    provider = DataPipelineProvider()
    provider.configure(ConfigureRequest(Config({"fabric:clientSecret": secret, "fabric:apiUrl": "https://x/v1"},
                                               "fabric-resources")))
    blob = pickle.dumps(provider)
    assert secret.encode() not in blob
    assert b"https://x/v1" not in blob
    assert _base._CONFIGS[provider._config_key]["fabric:clientSecret"] == secret


# -- program-side rendering -----------------------------------------------------------------------


def test_render_definition_requires_every_token() -> None:
    folder = REPO_ROOT / "tests" / "fixtures" / "token_pipelines" / "Nightly Orchestrator.DataPipeline"
    with pytest.raises(DefinitionError) as err:
        render_definition(folder, {})
    assert "ingest_pipeline_id" in str(err.value)


def test_render_definition_of_a_folder_keeps_its_logical_id() -> None:
    folder = REPO_ROOT / "tests" / "fixtures" / "token_pipelines" / "Parameterised Load.DataPipeline"
    text, name, _description, logical_id = render_definition(folder, {"unused": "x"})
    assert name == "Parameterised Load"
    # The folder's own identity is kept (what Fabric's git integration calls this item everywhere).
    assert logical_id == "c52b9e71-4d08-4f3a-8e6c-2a7d1b5f9e03"
    assert text == (folder / "pipeline-content.json").read_text()


def test_render_definition_of_a_folder_without_tokens_is_the_file_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "Authored.DataPipeline"
    folder.mkdir()
    authored = (
        '{\n    "name": "Authored",\n    "properties": {\n        "activities": [\n            {"name": "W", '
        '"type": "Wait", "state": "Active",\n             "policy": {"timeout": "0.12:00:00", "retry": 0},\n'
        '             "typeProperties": {"waitTimeInSeconds": 1}}\n        ],\n        "annotations": []\n    }\n}\n'
    )
    (folder / "pipeline-content.json").write_text(authored)
    text, name, _description, _logical_id = render_definition(folder, {"unused": "x"})
    assert name == "Authored"
    assert text == authored


def test_one_client_per_settings_shared_by_all_providers_of_a_stack() -> None:
    config = {"fabric:apiUrl": "https://127.0.0.1:9/v1", "fabric:tenantId": WS, "fabric:clientId": ITEM,
              "fabric:clientSecret": "not-used-no-call-is-made"}
    first, second, other = WorkspaceProvider(), DataPipelineProvider(), PipelineScheduleProvider()
    for provider in (first, second):
        provider.configure(ConfigureRequest(Config(dict(config), "fabric-resources")))
    other.configure(ConfigureRequest(Config({**config, "fabric:apiUrl": "https://127.0.0.1:8/v1"}, "x")))
    try:
        # Built lazily on first use (no network), then cached by settings fingerprint.
        assert first.client is second.client
        assert other.client is not first.client
    finally:
        for key in list(_base._CLIENTS):
            if key in (first._config_key, other._config_key):
                del _base._CLIENTS[key]


def test_check_lower_cases_every_id_input_once_in_the_base() -> None:
    up = str.upper
    pipeline = DataPipelineProvider().check({}, pipeline_inputs(workspace_id=up(WS), folder_id=up(ITEM)))
    assert (pipeline.inputs["workspace_id"], pipeline.inputs["folder_id"]) == (WS, ITEM)
    role = WorkspaceRoleAssignmentProvider().check(
        {}, {"workspace_id": up(WS), "principal_id": up(PRINCIPAL), "principal_type": "User", "role": "Viewer"})
    assert (role.inputs["workspace_id"], role.inputs["principal_id"]) == (WS, PRINCIPAL)
    schedule = PipelineScheduleProvider().check({}, {
        "workspace_id": up(WS), "pipeline_id": up(ITEM), "job_type": "Pipeline", "enabled": True,
        "configuration": {"type": "Cron", "interval": 5, "startDateTime": "2025-01-01T00:00:00",
                          "endDateTime": "2030-01-01T00:00:00", "localTimeZoneId": "UTC"}})
    assert (schedule.inputs["workspace_id"], schedule.inputs["pipeline_id"]) == (WS, ITEM)
    workspace = WorkspaceProvider().check({}, {"display_name": "Sales", "capacity_id": up(WS)})
    assert workspace.inputs["capacity_id"] == WS
    # A state written before normalisation (upper-case capacity) is not a change either.
    p = WorkspaceProvider()
    assert p.diff("id", {"display_name": "Sales", "capacity_id": up(WS)}, dict(workspace.inputs)).changes is False


# -- logicalId ------------------------------------------------------------------------------------


def test_default_logical_id_is_stable_and_distinct_per_project_stack_and_resource() -> None:
    one = default_logical_id("proj", "dev", "ingest", "DataPipeline")
    assert one == default_logical_id("proj", "dev", "ingest", "DataPipeline")
    others = {default_logical_id("proj", "prod", "ingest", "DataPipeline"), default_logical_id("proj", "dev", "load", "DataPipeline"),
              default_logical_id("other", "dev", "ingest", "DataPipeline")}
    assert one not in others and len(others) == 3
    assert uuid.UUID(one).version == 5


def test_a_folder_without_logical_id_or_with_the_placeholder_gets_none(tmp_path: Path) -> None:
    for config in ({}, {"config": {"version": "2.0", "logicalId": "00000000-0000-0000-0000-000000000000"}}):
        folder = tmp_path / f"P{len(config)}.DataPipeline"
        folder.mkdir()
        (folder / "pipeline-content.json").write_text(json.dumps(CONTENT))
        (folder / ".platform").write_text(json.dumps({"metadata": {"type": "DataPipeline"}, **config}))
        assert render_definition(folder, {})[3] is None


def test_a_folder_logical_id_that_is_not_a_guid_is_refused_naming_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "P.DataPipeline"
    folder.mkdir()
    (folder / "pipeline-content.json").write_text(json.dumps(CONTENT))
    (folder / ".platform").write_text(json.dumps({"config": {"logicalId": "pipeline-1"}}))
    with pytest.raises(DefinitionError) as err:
        render_definition(folder, {})
    assert err.value.field == ".platform.config.logicalId" and "not a GUID" in str(err.value)


def test_pipeline_check_validates_logical_id_and_diff_sees_its_change() -> None:
    provider = DataPipelineProvider()
    assert "logical_id" in failures_of(provider.check({}, pipeline_inputs(logical_id="nope")))
    lid = default_logical_id("p", "s", "r", "DataPipeline")
    state = pipeline_state(logical_id=lid)
    assert not provider.diff(ITEM, state, pipeline_inputs(logical_id=lid.upper())).changes
    changed = provider.diff(ITEM, state, pipeline_inputs(logical_id=default_logical_id("p", "s", "x", "DataPipeline")))
    assert changed.changes and not changed.replaces
    # Left unset, it is Fabric's to choose: never a change.
    assert not provider.diff(ITEM, state, pipeline_inputs(logical_id=None)).changes


_GOOD_DAILY = {"type": "Daily", "times": ["06:30"], "startDateTime": "2030-01-01T00:00:00Z",
               "endDateTime": "2031-01-01T00:00:00Z", "localTimeZoneId": "W. Europe Standard Time"}
_GOOD_MONTHLY = {**_GOOD_DAILY, "type": "Monthly", "recurrence": 1,
                 "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 1}}


@pytest.mark.parametrize(
    ("configuration", "field"),
    [
        ({**_GOOD_DAILY, "localTimeZoneId": "Mars/Olympus"}, "configuration.localTimeZoneId"),
        ({**_GOOD_DAILY, "times": ["25:00"]}, "configuration.times"),
        ({**_GOOD_DAILY, "times": ["6.30"]}, "configuration.times"),
        ({**_GOOD_DAILY, "type": "Weekly", "weekdays": ["Funday"]}, "configuration.weekdays"),
        ({**_GOOD_DAILY, "endDateTime": "2029-12-31T00:00:00Z"}, "configuration.endDateTime"),
        ({**_GOOD_DAILY, "startDateTime": "tomorrow"}, "configuration.startDateTime"),
        ({**_GOOD_DAILY, "type": "Cron", "interval": 0, "times": None}, "interval"),
        ({**_GOOD_DAILY, "type": "Cron", "interval": 5270401, "times": None}, "interval"),
        ({**_GOOD_MONTHLY, "recurrence": 13}, "recurrence"),
        ({**_GOOD_MONTHLY, "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 32}}, "dayOfMonth"),
        ({**_GOOD_MONTHLY, "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "Sixth",
                                          "weekday": "Monday"}}, "weekIndex"),
        ({**_GOOD_MONTHLY, "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "First",
                                          "weekday": "Funday"}}, "weekday"),
    ],
)
def test_malformed_schedules_are_refused_in_check_and_in_the_program(configuration: dict[str, Any],
                                                                     field: str) -> None:
    from fabric_resources.providers.schedule import PipelineSchedule
    from fabric_resources.scheduling import ScheduleValidationError

    configuration = {k: v for k, v in configuration.items() if v is not None}
    result = PipelineScheduleProvider().check({}, {
        "workspace_id": WS, "pipeline_id": ITEM, "job_type": "Pipeline", "enabled": True,
        "configuration": configuration})
    reason = failures_of(result)["configuration"]
    assert field in reason or field.split(".")[-1] in reason.replace("_", ""), reason
    # The program refuses it too, before anything is registered with the engine.
    with pytest.raises(ScheduleValidationError) as info:
        PipelineSchedule("bad", workspace_id=WS, pipeline_id=ITEM, enabled=True, configuration=configuration)
    assert "PipelineSchedule 'bad'" in str(info.value) and info.value.field.endswith(field.split(".")[-1])


def test_a_valid_schedule_passes_check_with_every_type() -> None:
    p = PipelineScheduleProvider()
    base = {"workspace_id": WS, "pipeline_id": ITEM, "job_type": "Pipeline", "enabled": True}
    for configuration in (_GOOD_DAILY, _GOOD_MONTHLY,
                          {**_GOOD_DAILY, "type": "Weekly", "weekdays": ["Monday", "Friday"]},
                          {k: v for k, v in {**_GOOD_DAILY, "type": "Cron", "interval": 15}.items() if k != "times"}):
        assert p.check({}, {**base, "configuration": configuration}).failures == [], configuration
