"""DataPipeline (and VariableLibrary) create paths that meet an existing item, driven directly against the emulator (HTTPS,
real tokens, faults injected mid-create): an item carrying this resource's logicalId is taken over
and converged; any other is refused unless adopted; a create settled by a lookup proves the found
item is ours and brings its definition to the declared one; an operation that ends without a result
or past its deadline leaves no orphan behind.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.definitions import build_definition_parts, canonical_json
from fabric_resources.models import ItemDefinition
from fabric_resources.providers._base import FabricProviderError, platform_logical_id
from fabric_resources.providers.data_pipeline import DataPipelineProvider
from fabric_resources.providers.variable_library import VariableLibraryProvider
from fabric_resources.settings import FabricSettings
from tests.conftest import EmulatorProcess
from tests.integration.conftest import direct

ITEMS_POST = "POST /v1/workspaces/{workspaceId}/items"


def content(seconds: int) -> dict[str, Any]:
    return {"properties": {"activities": [
        {"name": "Wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": seconds}}]}}


def props(ws_id: str, logical_id: str | None, seconds: int = 3, **more: Any) -> dict[str, Any]:
    return {"workspace_id": ws_id, "display_name": "Ingest", "description": "declared",
            "definition": canonical_json(content(seconds)), "folder_id": None, "logical_id": logical_id,
            "adopt_existing": False, **more}


def made_elsewhere(client: FabricClient, ws_id: str, logical_id: str | None, seconds: int = 42,
                   name: str = "Ingest") -> str:
    """A pipeline created as an earlier interrupted run (our logicalId) or someone else would."""
    platform = {"config": {"version": "2.0", "logicalId": logical_id}} if logical_id else None
    parts = build_definition_parts(json.dumps(content(seconds)), platform, display_name=name, description=None)
    item = client.items.create(ws_id, display_name=name, type="DataPipeline",
                               definition=ItemDefinition.model_validate({"parts": parts}))
    return item.id


def live(client: FabricClient, ws_id: str, item_id: str) -> tuple[int, str | None, Any]:
    """(wait seconds, logicalId, item) as Fabric holds them."""
    definition = client.items.get_definition(ws_id, item_id)
    doc = json.loads(definition.files()["pipeline-content.json"])
    seconds = doc["properties"]["activities"][0]["typeProperties"]["waitTimeInSeconds"]
    return seconds, platform_logical_id(definition), client.items.get(ws_id, item_id)


def pipelines(client: FabricClient, ws_id: str) -> list[str]:
    return [i.id for i in client.items.list(ws_id, type="DataPipeline")]


def test_create_stamps_the_logical_id_and_read_reports_it(client: FabricClient, workspace: str) -> None:
    provider = direct(DataPipelineProvider, client)
    lid = str(uuid.uuid4())
    created = provider.create(props(workspace, lid))
    assert created.outs["logical_id"] == lid
    assert live(client, workspace, created.id)[1] == lid
    read = provider.read(created.id, created.outs)
    assert read.outs["logical_id"] == lid and read.inputs["logical_id"] == lid


def test_an_item_with_our_logical_id_is_taken_over_and_converged(
    client: FabricClient, workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lid = str(uuid.uuid4())
    folder = client.folders.create(workspace, display_name="Sales")
    existing = made_elsewhere(client, workspace, lid, seconds=42)  # an interrupted run's older version
    created = direct(DataPipelineProvider, client).create(props(workspace, lid, seconds=3, folder_id=folder.id))
    assert created.id == existing
    seconds, logical_id, item = live(client, workspace, existing)
    assert (seconds, logical_id, item.description, item.folder_id) == (3, lid, "declared", folder.id)
    assert created.outs["folder_id"] == folder.id and created.outs["logical_id"] == lid
    assert pipelines(client, workspace) == [existing]
    log = capsys.readouterr().err
    assert log.count("info: ") == 1 and "carries this resource's logicalId" in log and existing in log


def test_an_item_with_another_or_no_logical_id_is_refused_untouched(client: FabricClient, workspace: str,
                                                                    emulator: EmulatorProcess) -> None:
    for foreign in (str(uuid.uuid4()), None):
        name = f"Ingest {foreign is None}"
        existing = made_elsewhere(client, workspace, foreign, seconds=42, name=name)
        before = live(client, workspace, existing)
        emulator.reset_stats()
        mine = str(uuid.uuid4())
        with pytest.raises(FabricProviderError) as err:
            direct(DataPipelineProvider, client).create(props(workspace, mine, display_name=name))
        message = str(err.value)
        assert "ItemDisplayNameAlreadyInUse" in message and "requestId=" in message
        assert "adopt_existing=True" in message and mine in message
        # Made without a .platform, the item still has a logicalId (Fabric generates one): not ours.
        assert before[1] is not None and before[1] in message
        writes = [r for r in emulator.stats()["by_route"] if r.split()[0] in ("PATCH", "DELETE")
                  or r.endswith(("/updateDefinition", "/move"))]
        assert writes == []
        assert live(client, workspace, existing) == before


def test_adoption_converges_definition_logical_id_and_folder_in_one_create(client: FabricClient,
                                                                           workspace: str) -> None:
    folder = client.folders.create(workspace, display_name="Adopted")
    existing = made_elsewhere(client, workspace, str(uuid.uuid4()), seconds=42)
    lid = str(uuid.uuid4())
    created = direct(DataPipelineProvider, client).create(props(workspace, lid, folder_id=folder.id, adopt_existing=True))
    assert created.id == existing
    seconds, logical_id, item = live(client, workspace, existing)
    assert (seconds, logical_id, item.folder_id) == (3, lid, folder.id)
    assert created.outs["folder_id"] == folder.id


def test_a_lost_answer_settled_by_lookup_proves_ownership(client: FabricClient, workspace: str,
                                                          emulator: EmulatorProcess) -> None:
    provider = direct(DataPipelineProvider, client)
    # The create is done but its answer lost: found by name, ours, nothing to change.
    lid = str(uuid.uuid4())
    with emulator.config(fault_route=ITEMS_POST, drop_after_rate=1.0):
        created = provider.create(props(workspace, lid, seconds=5))
    assert live(client, workspace, created.id)[:2] == (5, lid)
    assert pipelines(client, workspace) == [created.id]

    # The answer lost before the work, and a same-named item of someone else's is what the lookup
    # finds: it must not be recorded as ours with the declared definition (the old behaviour).
    foreign = made_elsewhere(client, workspace, str(uuid.uuid4()), seconds=42, name="Other")
    with emulator.config(fault_route=ITEMS_POST, drop_rate=1.0), pytest.raises(FabricProviderError) as err:
        provider.create(props(workspace, str(uuid.uuid4()), display_name="Other"))
    assert "was not created by this resource" in str(err.value)
    assert live(client, workspace, foreign)[0] == 42

    # Adopting: the item found by the lookup is compared and brought to the declared definition.
    with emulator.config(fault_route=ITEMS_POST, drop_rate=1.0):
        adopted = provider.create(props(workspace, str(uuid.uuid4()), seconds=7, display_name="Other",
                                        adopt_existing=True))
    assert adopted.id == foreign and live(client, workspace, foreign)[0] == 7


def test_a_create_that_ends_without_a_result_finds_its_item(client: FabricClient, workspace: str,
                                                            emulator: EmulatorProcess) -> None:
    lid = str(uuid.uuid4())
    with emulator.config(lro_mode="always", lro_no_result=True, lro_duration_seconds=0.1):
        created = direct(DataPipelineProvider, client).create(props(workspace, lid))
    assert pipelines(client, workspace) == [created.id]
    assert live(client, workspace, created.id)[1] == lid


def test_a_create_past_its_deadline_is_taken_over_by_the_next_attempt(emulator: EmulatorProcess,
                                                                      workspace: str) -> None:
    lid = str(uuid.uuid4())
    settings = FabricSettings.from_emulator(emulator.data_dir)
    with FabricClient(settings, lro_timeout=0.3) as impatient, FabricClient(settings) as client:
        with emulator.config(lro_mode="always", lro_duration_seconds=1.5):
            with pytest.raises(FabricProviderError) as err:
                direct(DataPipelineProvider, impatient).create(props(workspace, lid))
            assert "deadline" in str(err.value)
            # The operation completes after the deadline: the item exists, outside any state.
            for _ in range(100):
                if pipelines(client, workspace):
                    break
                client.transport.sleep(0.1)
        orphan = pipelines(client, workspace)
        assert len(orphan) == 1
        # The next `up` creates again: the item carries our logicalId, so it is ours.
        again = direct(DataPipelineProvider, client).create(props(workspace, lid, seconds=4))
        assert again.id == orphan[0] and pipelines(client, workspace) == orphan
        assert live(client, workspace, again.id)[:2] == (4, lid)


def test_a_renamed_item_with_our_logical_id_is_not_taken_silently(client: FabricClient, workspace: str) -> None:
    # The name is free but the logicalId is held (renamed in the portal, or two resources given one
    # logical_id): refused, naming the item, since taking it could give it two owners.
    lid = str(uuid.uuid4())
    holder = made_elsewhere(client, workspace, lid, name="Renamed")
    with pytest.raises(FabricProviderError) as err:
        direct(DataPipelineProvider, client).create(props(workspace, lid))
    assert "ItemLogicalIdAlreadyInUse" in str(err.value) and holder in str(err.value)
    adopted = direct(DataPipelineProvider, client).create(props(workspace, lid, adopt_existing=True))
    assert adopted.id == holder and live(client, workspace, holder)[2].display_name == "Ingest"


# -- the same for variable libraries -------------------------------------------------------------


LIBRARY = {"variables.json": json.dumps({"variables": [{"name": "n", "type": "Integer", "value": 1}]}),
           "settings.json": json.dumps({"valueSetsOrder": []})}


def lib_props(ws_id: str, logical_id: str, value: int = 1, **more: Any) -> dict[str, Any]:
    files = dict(LIBRARY, **{"variables.json": json.dumps({"variables": [{"name": "n", "type": "Integer",
                                                                          "value": value}]})})
    return {"workspace_id": ws_id, "display_name": "Settings", "description": None,
            "definition": json.dumps(files, sort_keys=True), "active_value_set": None, "folder_id": None,
            "logical_id": logical_id, "adopt_existing": False, "tags": None, **more}


def library_made_elsewhere(client: FabricClient, ws_id: str, logical_id: str, name: str = "Settings") -> str:
    files: dict[str, Any] = dict(LIBRARY)
    files[".platform"] = {"metadata": {"type": "VariableLibrary", "displayName": name},
                          "config": {"version": "2.0", "logicalId": logical_id}}
    return client.variable_libraries.create(ws_id, display_name=name,
                                            definition=ItemDefinition.from_files(files)).id


def live_library(client: FabricClient, ws_id: str, item_id: str) -> tuple[int, str | None, Any]:
    definition = client.variable_libraries.get_definition(ws_id, item_id)
    value = json.loads(definition.files()["variables.json"])["variables"][0]["value"]
    return value, platform_logical_id(definition), client.items.get(ws_id, item_id)


def test_a_variable_library_carries_a_logical_id_and_is_taken_over_by_it(
    client: FabricClient, workspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = direct(VariableLibraryProvider, client)
    lid = str(uuid.uuid4())
    created = provider.create(lib_props(workspace, lid))
    assert created.outs["logical_id"] == lid and live_library(client, workspace, created.id)[1] == lid
    assert provider.read(created.id, created.outs).inputs["logical_id"] == lid

    # Left by an interrupted run (ours, older content): taken over and converged, folder included.
    other_ws = client.workspaces.create(f"ws-{uuid.uuid4().hex[:8]}").id
    try:
        folder = client.folders.create(other_ws, display_name="Config")
        left = library_made_elsewhere(client, other_ws, lid)
        again = provider.create(lib_props(other_ws, lid, value=5, folder_id=folder.id))
        assert again.id == left
        value, logical_id, item = live_library(client, other_ws, left)
        assert (value, logical_id, item.folder_id) == (5, lid, folder.id)
        assert "carries this resource's logicalId" in capsys.readouterr().err
    finally:
        client.workspaces.delete(other_ws)


def test_a_foreign_variable_library_is_refused_unless_adopted(client: FabricClient, workspace: str) -> None:
    theirs = library_made_elsewhere(client, workspace, str(uuid.uuid4()))
    provider = direct(VariableLibraryProvider, client)
    mine = str(uuid.uuid4())
    with pytest.raises(FabricProviderError) as err:
        provider.create(lib_props(workspace, mine, value=9))
    assert "was not created by this resource" in str(err.value) and "adopt_existing=True" in str(err.value)
    assert live_library(client, workspace, theirs)[0] == 1
    adopted = provider.create(lib_props(workspace, mine, value=9, adopt_existing=True))
    assert adopted.id == theirs and live_library(client, workspace, theirs)[:2] == (9, mine)


def test_a_renamed_variable_library_with_our_logical_id_is_not_taken_silently(
    client: FabricClient, workspace: str
) -> None:
    # The same rule as for pipelines (one create path, providers/_ownership.py): the name is free,
    # the logicalId is held by a library under another name; refused naming it, or adopted and renamed.
    lid = str(uuid.uuid4())
    holder = library_made_elsewhere(client, workspace, lid, name="Renamed settings")
    provider = direct(VariableLibraryProvider, client)
    with pytest.raises(FabricProviderError) as err:
        provider.create(lib_props(workspace, lid, value=4))
    assert "ItemLogicalIdAlreadyInUse" in str(err.value) and holder in str(err.value)
    assert live_library(client, workspace, holder)[0] == 1
    adopted = provider.create(lib_props(workspace, lid, value=4, adopt_existing=True))
    value, logical_id, item = live_library(client, workspace, holder)
    assert adopted.id == holder and (value, logical_id, item.display_name) == (4, lid, "Settings")
