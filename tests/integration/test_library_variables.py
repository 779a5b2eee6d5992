"""Pipelines reading variable library values (`@pipeline().libraryVariables.<name>`) run on the emulator
with the values of the library's active value set at run start; the client's variable library, tags and
connections areas against the emulator.
"""

from __future__ import annotations

import json
from typing import Any

from fabric_resources.client import FabricClient
from fabric_resources.errors import NotFoundError, ValidationError
from fabric_resources.models import ItemDefinition

LIBRARY: dict[str, Any] = {
    "variables.json": {"variables": [{"name": "environment", "type": "String", "value": "dev"},
                                     {"name": "batch_size", "type": "Integer", "value": 10}]},
    "settings.json": {"valueSetsOrder": ["prod"]},
    "valueSets/prod.json": {"name": "prod", "variableOverrides": [{"name": "environment", "value": "prod"},
                                                                   {"name": "batch_size", "value": 500}]},
}


def pipeline(library_name: str = "Settings", variable: str = "environment") -> ItemDefinition:
    content = {"properties": {
        "activities": [
            {"name": "Read environment", "type": "SetVariable",
             "typeProperties": {"variableName": "env",
                                "value": {"value": "@pipeline().libraryVariables.env", "type": "Expression"}}},
            {"name": "Read batch", "type": "SetVariable",
             "typeProperties": {"variableName": "batch",
                                "value": "@string(add(pipeline().libraryVariables.batch, 1))"}},
        ],
        "variables": {"env": {"type": "String"}, "batch": {"type": "String"}},
        "libraryVariables": {
            "env": {"type": "String", "variableName": variable, "libraryName": library_name},
            "batch": {"type": "Integer", "variableName": "batch_size", "libraryName": library_name},
        },
    }}
    return ItemDefinition.from_files({"pipeline-content.json": json.dumps(content)})


def run_outputs(client: FabricClient, ws: str, item_id: str) -> tuple[str, dict[str, Any]]:
    job = client.jobs.run(ws, item_id)
    done = client.jobs.wait(ws, item_id, job.id, timeout=60)
    runs = client.jobs.query_activity_runs(ws, job.id)
    return done.status, {r.activity_name: (r.output or {}).get("value") for r in runs}


def test_a_pipeline_runs_with_the_active_value_sets_values(client: FabricClient, workspace: str) -> None:
    lib = client.variable_libraries.create(workspace, display_name="Settings",
                                           definition=ItemDefinition.from_files(LIBRARY))
    assert lib.active_value_set_name == "Default value set"
    item = client.items.create(workspace, display_name="Reads settings", type="DataPipeline", definition=pipeline())
    status, outputs = run_outputs(client, workspace, item.id)
    assert status == "Completed"
    assert outputs == {"Read environment": "dev", "Read batch": "11"}

    switched = client.variable_libraries.set_active_value_set(workspace, lib.id, "prod")
    assert switched.active_value_set_name == "prod"
    status, outputs = run_outputs(client, workspace, item.id)
    assert (status, outputs) == ("Completed", {"Read environment": "prod", "Read batch": "501"})


def test_a_missing_library_or_variable_fails_the_run_naming_it(client: FabricClient, workspace: str) -> None:
    client.variable_libraries.create(workspace, display_name="Settings", definition=ItemDefinition.from_files(LIBRARY))
    for definition, missing in ((pipeline(library_name="Nope"), "no variable library named 'Nope'"),
                                (pipeline(variable="region"), "has no variable 'region'")):
        item = client.items.create(workspace, display_name=f"Broken {missing[:6]}", type="DataPipeline",
                                   definition=definition)
        job = client.jobs.run(workspace, item.id)
        done = client.jobs.wait(workspace, item.id, job.id, timeout=60)
        assert done.status == "Failed"
        assert done.failure_reason is not None
        assert done.failure_reason.error_code == "LibraryVariableNotFound"
        assert missing in done.failure_reason.message


def test_client_areas_for_libraries_tags_and_connections(client: FabricClient, workspace: str) -> None:
    lib = client.variable_libraries.create(workspace, display_name="Settings", definition=ItemDefinition.from_files(LIBRARY))
    assert [v.display_name for v in client.variable_libraries.list(workspace)] == ["Settings"]
    try:
        client.variable_libraries.set_active_value_set(workspace, lib.id, "staging")
    except ValidationError as exc:
        assert exc.error_code == "InvalidRequest" and exc.request_id
    else:
        raise AssertionError("an unknown value set was accepted")
    tags = {t.display_name: t.id for t in client.tags.list()}
    client.tags.apply(workspace, lib.id, [tags["Finance"], tags["Sales"]])
    client.tags.apply(workspace, lib.id, [tags["Sales"]])  # a retry changes nothing
    client.tags.unapply(workspace, lib.id, [tags["Finance"]])
    assert [t.display_name for t in client.items.get(workspace, lib.id).tags or []] == ["Sales"]
    connections = list(client.connections.list())
    prod = next(c for c in connections if c.display_name == "Sales SQL (prod)")
    assert (prod.type, client.connections.get(prod.id).connectivity_type) == ("SQL", "ShareableCloud")
    try:
        client.connections.get("00000000-0000-0000-0000-000000000001")
    except NotFoundError as exc:
        assert exc.error_code == "ConnectionNotFound"
    else:
        raise AssertionError("an unknown connection was found")
