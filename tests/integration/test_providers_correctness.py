"""Providers called directly (check -> create -> diff -> read) against the emulator (issue #10).

The provider methods are what the engine calls, in the same order and with the same arguments
(create and diff receive what check returned), so these tests pin provider behaviour without
an engine round trip; faults are injected through the emulator's control plane.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from fabric_resources.client import FabricClient
from fabric_resources.providers.data_pipeline import DataPipelineProvider
from fabric_resources.providers.workspace import WorkspaceProvider

pytestmark = pytest.mark.timeout(60)

# "Emulator F64", one of the capacities the emulator offers.
F64 = "56bac802-080d-4f73-8a42-1b406eb1fcac"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def outs(result: CreateResult | ReadResult | UpdateResult) -> dict[str, Any]:
    """What create, read or update returned as the resource's outputs (always set by our providers)."""
    assert result.outs is not None
    return result.outs


def read_inputs(result: ReadResult) -> dict[str, Any]:
    """The inputs a read returned (what a refresh records as the resource's inputs)."""
    assert result.inputs is not None
    return result.inputs


def checked(provider: Any, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
    result = provider.check(olds or {}, news)
    assert not result.failures, [f.reason for f in result.failures]
    return dict(result.inputs)


@pytest.fixture
def cleanup(client: FabricClient) -> Iterator[list[str]]:
    """Workspace ids to delete after the test."""
    ids: list[str] = []
    yield ids
    for ws_id in ids:
        try:
            client.workspaces.delete(ws_id)
        except Exception as exc:  # cleanup must not hide the test's own failure
            print(f"cleanup of workspace {ws_id} failed: {exc}")


def test_upper_case_capacity_id_is_recognised_and_gives_no_diff(
    emulator_env: Any, client: FabricClient, cleanup: list[str]
) -> None:
    provider = WorkspaceProvider()
    news = {"display_name": _name("guid"), "capacity_id": F64.upper(), "adopt_existing": False}
    inputs = checked(provider, news)
    created = provider.create(inputs)
    cleanup.append(created.id)
    assert outs(created)["capacity_id"] == F64
    assert client.workspaces.get(created.id).capacity_id == F64
    # The next preview: the same program against the state just written.
    again = checked(provider, news, outs(created))
    assert provider.diff(created.id, outs(created), again).changes is False
    read = provider.read(created.id, outs(created))
    assert provider.diff(created.id, outs(read), again).changes is False


# What the user authored is sent as written; the canonical form only compares. This text keeps
# everything the canonical form drops: a top-level name, default policy, state, annotations, and
# its own indentation.
AUTHORED = """{
    "name": "Authored pipeline",
    "properties": {
        "activities": [
            {
                "name": "Pause",
                "type": "Wait",
                "state": "Active",
                "policy": {"timeout": "0.12:00:00", "retry": 0, "retryIntervalInSeconds": 30},
                "typeProperties": {"waitTimeInSeconds": 1}
            }
        ],
        "annotations": []
    }
}
"""


def _pipeline_news(workspace: str, text: str = AUTHORED) -> dict[str, Any]:
    return {"workspace_id": workspace, "display_name": _name("authored"), "description": None,
            "definition": text, "folder_id": None, "adopt_existing": False}


def _stored_content(client: FabricClient, workspace: str, item_id: str) -> bytes:
    return client.items.get_definition(workspace, item_id).files()["pipeline-content.json"]


def test_the_authored_definition_is_what_fabric_stores_and_reads_back(
    emulator_env: Any, client: FabricClient, workspace: str
) -> None:
    provider = DataPipelineProvider()
    news = _pipeline_news(workspace)
    inputs = checked(provider, news)
    created = provider.create(inputs)
    assert _stored_content(client, workspace, created.id) == AUTHORED.encode()
    assert outs(created)["definition"] == AUTHORED
    # A no-op preview and a refresh see no change.
    assert provider.diff(created.id, outs(created), checked(provider, news, outs(created))).changes is False
    read = provider.read(created.id, outs(created))
    assert read_inputs(read)["definition"] == AUTHORED
    assert provider.diff(created.id, outs(read), checked(provider, news, outs(read))).changes is False
    # An edit is sent as written too.
    edited = AUTHORED.replace('"waitTimeInSeconds": 1', '"waitTimeInSeconds": 2')
    news2 = {**news, "definition": edited}
    inputs2 = checked(provider, news2, outs(read))
    assert provider.diff(created.id, outs(read), inputs2).changes is True
    provider.update(created.id, outs(read), inputs2)
    assert _stored_content(client, workspace, created.id) == edited.encode()


def test_an_unparsable_live_definition_reads_as_drift_naming_the_pipeline(
    emulator: Any, emulator_env: Any, client: FabricClient, workspace: str
) -> None:
    provider = DataPipelineProvider()
    news = _pipeline_news(workspace)
    created = provider.create(checked(provider, news))
    broken = base64.b64encode(b'{"properties": {"activities": [').decode()
    resp = emulator.admin("PUT", f"/items/{created.id}/definition",
                          json={"parts": [{"path": "pipeline-content.json", "payload": broken}]})
    assert resp.status_code == 200, resp.text
    read = provider.read(created.id, outs(created))
    shown = read_inputs(read)["definition"]
    assert shown.startswith(f"[the live definition of data pipeline '{news['display_name']}' ({created.id})")
    assert "invalid JSON" in shown
    again = checked(provider, news, outs(read))
    assert provider.diff(created.id, outs(read), again).changes is True
    provider.update(created.id, outs(read), again)
    assert _stored_content(client, workspace, created.id) == AUTHORED.encode()


# -- an optional input left unset is not managed ---------------------------------------------------


def test_a_capacity_the_tenant_chose_is_never_undone(
    emulator: Any, emulator_env: Any, client: FabricClient, cleanup: list[str]
) -> None:
    provider = WorkspaceProvider()
    news = {"display_name": _name("default-cap"), "adopt_existing": False}
    with emulator.config(default_capacity_id=F64):
        created = provider.create(checked(provider, news))
    cleanup.append(created.id)
    assert outs(created)["capacity_id"] == F64  # recorded as what Fabric did
    # The program said nothing about a capacity: no change, now or after a refresh.
    assert provider.diff(created.id, outs(created), checked(provider, news, outs(created))).changes is False
    read = provider.read(created.id, outs(created))
    assert provider.diff(created.id, outs(read), checked(provider, news, outs(read))).changes is False
    # An update of something else leaves the capacity alone.
    renamed = checked(provider, {**news, "description": "now described"}, outs(read))
    assert provider.diff(created.id, outs(read), renamed).changes is True
    provider.update(created.id, outs(read), renamed)
    assert client.workspaces.get(created.id).capacity_id == F64
    # "" is the explicit "no capacity": that one is managed and unassigns.
    unassign = checked(provider, {**news, "description": "now described", "capacity_id": ""}, outs(read))
    assert provider.diff(created.id, outs(read), unassign).changes is True
    provider.update(created.id, outs(read), unassign)
    assert client.workspaces.get(created.id).capacity_id is None


def test_a_workspace_description_left_unset_is_not_cleared(
    emulator_env: Any, client: FabricClient, cleanup: list[str]
) -> None:
    provider = WorkspaceProvider()
    news = {"display_name": _name("no-desc"), "adopt_existing": False}
    created = provider.create(checked(provider, news))
    cleanup.append(created.id)
    client.workspaces.update(created.id, description="written in the portal")
    read = provider.read(created.id, outs(created))
    assert provider.diff(created.id, outs(read), checked(provider, news, outs(read))).changes is False
    cleared = checked(provider, {**news, "description": ""}, outs(read))
    assert provider.diff(created.id, outs(read), cleared).changes is True
    provider.update(created.id, outs(read), cleared)
    assert not client.workspaces.get(created.id).description


def test_a_pipeline_folder_and_description_left_unset_are_not_managed(
    emulator_env: Any, client: FabricClient, workspace: str
) -> None:
    provider = DataPipelineProvider()
    news = _pipeline_news(workspace)
    created = provider.create(checked(provider, news))
    folder = client.folders.create(workspace, display_name=_name("folder"))
    client.items.move(workspace, created.id, target_folder_id=folder.id)
    client.items.update(workspace, created.id, description="described in the portal")
    read = provider.read(created.id, outs(created))
    assert outs(read)["folder_id"] == folder.id
    assert provider.diff(created.id, outs(read), checked(provider, news, outs(read))).changes is False
    # A definition edit updates the definition only: the item stays where it was put.
    edited = checked(provider, {**news, "definition": AUTHORED.replace('"waitTimeInSeconds": 1',
                                                                       '"waitTimeInSeconds": 3')}, outs(read))
    updated = provider.update(created.id, outs(read), edited)
    live = client.items.get(workspace, created.id)
    assert (live.folder_id, live.description) == (folder.id, "described in the portal")
    assert (outs(updated)["folder_id"], outs(updated)["description"]) == (folder.id, "described in the portal")
    # folder_id="" declares the workspace root, description="" no description: both managed.
    to_root = checked(provider, {**news, "definition": edited["definition"], "folder_id": "", "description": ""},
                      outs(updated))
    assert provider.diff(created.id, outs(updated), to_root).changes is True
    provider.update(created.id, outs(updated), to_root)
    live = client.items.get(workspace, created.id)
    assert not live.folder_id and not live.description


def test_a_variable_library_folder_and_description_left_unset_are_not_managed(
    emulator_env: Any, client: FabricClient, workspace: str
) -> None:
    from fabric_resources.providers.variable_library import VariableLibraryProvider

    provider = VariableLibraryProvider()
    variables = {"variables": [{"name": "server", "type": "String", "value": "dev"}]}
    news = {"workspace_id": workspace, "display_name": _name("lib"),
            "definition": json.dumps({"variables.json": json.dumps(variables)})}
    created = provider.create(checked(provider, news))
    folder = client.folders.create(workspace, display_name=_name("folder"))
    client.items.move(workspace, created.id, target_folder_id=folder.id)
    client.items.update(workspace, created.id, description="described in the portal")
    read = provider.read(created.id, outs(created))
    assert provider.diff(created.id, outs(read), checked(provider, news, outs(read))).changes is False
    renamed = checked(provider, {**news, "display_name": news["display_name"] + "-2"}, outs(read))
    provider.update(created.id, outs(read), renamed)
    live = client.items.get(workspace, created.id)
    assert (live.folder_id, live.description) == (folder.id, "described in the portal")
