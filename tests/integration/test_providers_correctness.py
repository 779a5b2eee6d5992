"""Providers called directly (check -> create -> diff -> read) against the emulator (issue #10).

The provider methods are what the engine calls, in the same order and with the same arguments
(create and diff receive what check returned), so these tests pin provider behaviour without
an engine round trip; faults are injected through the emulator's control plane.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.providers.data_pipeline import DataPipelineProvider
from fabric_resources.providers.workspace import WorkspaceProvider

pytestmark = pytest.mark.timeout(60)

# "Emulator F64", one of the capacities the emulator offers.
F64 = "56bac802-080d-4f73-8a42-1b406eb1fcac"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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
    assert created.outs["capacity_id"] == F64
    assert client.workspaces.get(created.id).capacity_id == F64
    # The next preview: the same program against the state just written.
    again = checked(provider, news, created.outs)
    assert provider.diff(created.id, created.outs, again).changes is False
    read = provider.read(created.id, created.outs)
    assert provider.diff(created.id, read.outs, again).changes is False


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
    assert created.outs["definition"] == AUTHORED
    # A no-op preview and a refresh see no change.
    assert provider.diff(created.id, created.outs, checked(provider, news, created.outs)).changes is False
    read = provider.read(created.id, created.outs)
    assert read.inputs["definition"] == AUTHORED
    assert provider.diff(created.id, read.outs, checked(provider, news, read.outs)).changes is False
    # An edit is sent as written too.
    edited = AUTHORED.replace('"waitTimeInSeconds": 1', '"waitTimeInSeconds": 2')
    news2 = {**news, "definition": edited}
    inputs2 = checked(provider, news2, read.outs)
    assert provider.diff(created.id, read.outs, inputs2).changes is True
    provider.update(created.id, read.outs, inputs2)
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
    read = provider.read(created.id, created.outs)
    shown = read.inputs["definition"]
    assert shown.startswith(f"[the live definition of data pipeline '{news['display_name']}' ({created.id})")
    assert "invalid JSON" in shown
    again = checked(provider, news, read.outs)
    assert provider.diff(created.id, read.outs, again).changes is True
    provider.update(created.id, read.outs, again)
    assert _stored_content(client, workspace, created.id) == AUTHORED.encode()
