"""`client.items.move` against the emulator over HTTPS: into a folder, between folders, back to the root."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.errors import HTTPError, NotFoundError
from fabric_resources.models import ItemDefinition

pytestmark = pytest.mark.timeout(120)


def test_move_an_item_between_folders_and_back_to_the_root(
    client: FabricClient, workspace: str, emulator: Any
) -> None:
    first = client.folders.create(workspace, display_name="Ingestion")
    second = client.folders.create(workspace, display_name="Reporting")
    item = client.items.create(workspace, display_name="Mover", type="DataPipeline",
                               definition=ItemDefinition.from_files({"pipeline-content.json": {"properties": {}}}))
    assert item.folder_id is None

    emulator.reset_stats()
    moved = client.items.move(workspace, item.id, target_folder_id=first.id)
    assert (moved.id, moved.folder_id, moved.display_name) == (item.id, first.id, "Mover")
    # One call: the moved item comes from the answer, not from a second read.
    assert emulator.stats()["by_route"] == {"POST /v1/workspaces/{workspaceId}/items/{itemId}/move": 1}
    assert client.items.get(workspace, item.id).folder_id == first.id

    moved = client.items.move(workspace, item.id, target_folder_id=second.id)
    assert moved.folder_id == second.id
    # Moving to where it already is: the same answer, nothing else changes.
    assert client.items.move(workspace, item.id, target_folder_id=second.id).folder_id == second.id

    root = client.items.move(workspace, item.id)
    assert root.folder_id is None
    assert client.items.get(workspace, item.id).folder_id is None


def test_move_into_a_missing_folder_or_of_a_missing_item_fails(client: FabricClient, workspace: str) -> None:
    item = client.items.create(workspace, display_name="Stays", type="DataPipeline")
    with pytest.raises(HTTPError) as info:
        client.items.move(workspace, item.id, target_folder_id=str(uuid.uuid4()))
    assert info.value.status in (400, 404)
    assert client.items.get(workspace, item.id).folder_id is None
    with pytest.raises(NotFoundError):
        client.items.move(workspace, str(uuid.uuid4()))
