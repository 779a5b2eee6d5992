"""Microsoft's own Fabric SDK (`microsoft-fabric-api`) drives the emulator's folders, tags, connections
and variable libraries: requests it builds from the spec must be accepted and the answers must
deserialise into its models. Authentication is real MSAL (client credentials) against the emulator's
Entra-compatible authority, handed to the SDK as an azure-core TokenCredential.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from microsoft_fabric_api.client import FabricClient as SdkClient
from microsoft_fabric_api.generated.core import models as core_models
from microsoft_fabric_api.generated.variablelibrary import models as vl_models

from tests.conftest import EmulatorProcess

SALES_TAG = "c3db7f2e-be15-4e58-ab49-24f019977bf3"


class MsalCredential:
    """azure-core's TokenCredential protocol over an MSAL confidential client."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        sp = emulator.default_sp
        http = requests.Session()
        http.verify, http.trust_env = str(emulator.ca_cert), False
        self._app = msal.ConfidentialClientApplication(
            sp["client_id"], client_credential=sp["client_secret"], authority=emulator.authority,
            http_client=http, instance_discovery=False)

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        result = self._app.acquire_token_for_client(list(scopes))
        assert "access_token" in result, result
        return AccessToken(result["access_token"], int(time.time()) + int(result.get("expires_in", 3600)))


@pytest.fixture
def sdk(emulator: EmulatorProcess) -> SdkClient:
    base_url = emulator.api_url.removesuffix("v1").rstrip("/") + "/"
    return SdkClient(MsalCredential(emulator), base_url=base_url, connection_verify=str(emulator.ca_cert))


@pytest.fixture
def workspace_id(sdk: SdkClient) -> Iterator[str]:
    ws = sdk.core.workspaces.create_workspace({"displayName": f"sdk-{uuid.uuid4().hex[:8]}"})
    yield ws.id
    sdk.core.workspaces.delete_workspace(ws.id)


def error_code(refused: HttpResponseError) -> str:
    """Fabric's errorCode from the response the SDK refused with."""
    assert refused.response is not None
    return str(json.loads(refused.response.text())["errorCode"])


def b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def test_the_sdk_manages_nested_folders(sdk: SdkClient, workspace_id: str) -> None:
    folders = sdk.core.folders
    top = folders.create_folder(workspace_id, {"displayName": "Sales"})
    sub = folders.create_folder(workspace_id, {"displayName": "Ingest", "parentFolderId": top.id})
    assert isinstance(sub, core_models.Folder) and sub.parent_folder_id == top.id
    assert {f.id for f in folders.list_folders(workspace_id, root_folder_id=top.id, recursive=True)} == {sub.id}
    assert folders.get_folder(workspace_id, sub.id).display_name == "Ingest"
    assert folders.update_folder(workspace_id, sub.id, {"displayName": "Landing"}).display_name == "Landing"
    moved = folders.move_folder(workspace_id, sub.id, {})
    assert moved.parent_folder_id is None
    item = sdk.core.items.create_item(workspace_id, {"displayName": "N", "type": "Notebook", "folderId": top.id})
    with pytest.raises(HttpResponseError) as refused:
        folders.delete_folder(workspace_id, top.id)
    assert refused.value.status_code == 409
    assert error_code(refused.value) == "FolderNotEmpty"
    sdk.core.items.delete_item(workspace_id, item.id)
    folders.delete_folder(workspace_id, top.id)
    assert [f.id for f in folders.list_folders(workspace_id)] == [sub.id]


def test_the_sdk_lists_tags_and_applies_them(emulator: EmulatorProcess, sdk: SdkClient, workspace_id: str) -> None:
    with emulator.config(page_size=2):
        tags = list(sdk.core.tags.list_tags())
    assert len(tags) >= 5 and all(isinstance(t, core_models.Tag) for t in tags)
    item = sdk.core.items.create_item(workspace_id, {"displayName": "P", "type": "DataPipeline"})
    sdk.core.tags.apply_tags(workspace_id, item.id, {"tags": [SALES_TAG]})
    got = sdk.core.items.get_item(workspace_id, item.id)
    assert [(t.id, t.display_name) for t in got.tags or []] == [(SALES_TAG, "Sales")]
    sdk.core.tags.unapply_tags(workspace_id, item.id, {"tags": [SALES_TAG]})
    assert not sdk.core.items.get_item(workspace_id, item.id).tags


def test_the_sdk_lists_connections_across_pages_and_gets_one(emulator: EmulatorProcess, sdk: SdkClient) -> None:
    with emulator.config(page_size=2):
        connections = list(sdk.core.connections.list_connections())
    names = [c.display_name for c in connections]
    assert "Sales SQL (prod)" in names and len(names) == len(set(names)) >= 5
    prod = next(c for c in connections if c.display_name == "Sales SQL (prod)")
    got = sdk.core.connections.get_connection(prod.id)
    assert got.connection_details.type == "SQL" and got.connectivity_type == "ShareableCloud"


def test_the_sdk_manages_a_variable_library_and_its_active_value_set(sdk: SdkClient, workspace_id: str) -> None:
    libs = sdk.variablelibrary.items
    variables = {"variables": [{"name": "server", "type": "String", "value": "dev.sql"}]}
    prod: dict[str, Any] = {"name": "prod", "variableOverrides": [{"name": "server", "value": "prod.sql"}]}
    definition: dict[str, Any] = {"format": "VariableLibraryV1", "parts": [
        {"path": "variables.json", "payload": b64(variables), "payloadType": "InlineBase64"},
        {"path": "settings.json", "payload": b64({"valueSetsOrder": ["prod"]}), "payloadType": "InlineBase64"},
        {"path": "valueSets/prod.json", "payload": b64(prod), "payloadType": "InlineBase64"},
    ]}
    lib = libs.create_variable_library(workspace_id, {"displayName": "Settings", "definition": definition})
    assert isinstance(lib, vl_models.VariableLibrary)
    assert lib.properties is not None
    assert lib.properties.active_value_set_name == "Default value set"
    updated = libs.update_variable_library(workspace_id, lib.id, {"properties": {"activeValueSetName": "prod"}})
    assert updated.properties.active_value_set_name == "prod"
    assert [v.properties.active_value_set_name for v in libs.list_variable_libraries(workspace_id)] == ["prod"]
    with pytest.raises(HttpResponseError) as refused:
        libs.update_variable_library(workspace_id, lib.id, {"properties": {"activeValueSetName": "staging"}})
    assert refused.value.status_code == 400
    assert error_code(refused.value) == "InvalidRequest"
    got = libs.get_variable_library_definition(workspace_id, lib.id)
    paths = {p.path: p.payload for p in got.definition.parts}
    assert json.loads(base64.b64decode(paths["valueSets/prod.json"])) == prod
    prod["variableOverrides"][0]["value"] = "prod2.sql"
    definition["parts"][2]["payload"] = b64(prod)
    libs.update_variable_library_definition(workspace_id, lib.id, {"definition": definition})
    got = libs.get_variable_library_definition(workspace_id, lib.id)
    paths = {p.path: p.payload for p in got.definition.parts}
    assert json.loads(base64.b64decode(paths["valueSets/prod.json"]))["variableOverrides"][0]["value"] == "prod2.sql"
    assert libs.get_variable_library(workspace_id, lib.id).display_name == "Settings"
    libs.delete_variable_library(workspace_id, lib.id)
    assert list(libs.list_variable_libraries(workspace_id)) == []
