"""The emulator's logicalId rules (docs/emulator.md): kept from `.platform` at create, generated
otherwise, returned by getDefinition, unique per workspace, changed only by
updateDefinition?updateMetadata=true. Raw HTTPS against the shared emulator, as a client would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.test_emulator_api import _error, _name, _parts, _pipeline_definition

CONTENT: dict[str, Any] = {"properties": {"activities": []}}


def _platform(logical_id: str, name: str = "P") -> dict[str, Any]:
    return {"metadata": {"type": "DataPipeline", "displayName": name},
            "config": {"version": "2.0", "logicalId": logical_id}}


@pytest.fixture
def base(emulator: Any) -> Iterator[str]:
    api = emulator.session()
    resp = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("ws")})
    assert resp.status_code == 201, resp.text
    ws = resp.json()["id"]
    yield f"{emulator.api_url}/workspaces/{ws}"
    api.delete(f"{emulator.api_url}/workspaces/{ws}")


@pytest.fixture
def api(emulator: Any) -> requests.Session:
    session: requests.Session = emulator.session()
    return session


def _logical_id(api: requests.Session, base: str, item_id: str) -> str:
    resp = api.post(f"{base}/items/{item_id}/getDefinition")
    assert resp.status_code == 200, resp.text
    return str(json.loads(_parts(resp.json())[".platform"])["config"]["logicalId"])


def _create(api: requests.Session, base: str, name: str, platform: Any = None) -> requests.Response:
    return api.post(f"{base}/dataPipelines",
                    json={"displayName": name, "definition": _pipeline_definition(CONTENT, platform)})


def test_create_keeps_the_platform_logical_id(api: requests.Session, base: str) -> None:
    wanted = str(uuid.uuid4()).upper()  # GUIDs compare ignoring case
    resp = _create(api, base, "Kept", _platform(wanted, "Kept"))
    assert resp.status_code == 201, resp.text
    assert _logical_id(api, base, resp.json()["id"]).lower() == wanted.lower()
    # The same GUID in another spelling is the same logicalId.
    _error(_create(api, base, "Again", _platform(wanted.lower())), 409, "ItemLogicalIdAlreadyInUse")


@pytest.mark.parametrize("platform", [None, _platform("00000000-0000-0000-0000-000000000000"),
                                      _platform("not-a-guid"), b"placeholder, not JSON"])
def test_create_generates_one_otherwise(api: requests.Session, base: str, platform: Any) -> None:
    first = _create(api, base, _name(), platform)
    second = _create(api, base, _name(), platform)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    ids = {_logical_id(api, base, r.json()["id"]) for r in (first, second)}
    assert len(ids) == 2 and "00000000-0000-0000-0000-000000000000" not in ids
    for value in ids:
        assert uuid.UUID(value).version == 4


def test_a_second_item_with_one_logical_id_is_refused(api: requests.Session, base: str) -> None:
    logical_id = str(uuid.uuid4())
    first = _create(api, base, "First", _platform(logical_id))
    assert first.status_code == 201
    body = _error(_create(api, base, "Second", _platform(logical_id)), 409, "ItemLogicalIdAlreadyInUse")
    assert body["relatedResource"] == {"resourceId": first.json()["id"], "resourceType": "Item"}
    names = [i["displayName"] for i in api.get(f"{base}/items").json()["value"]]
    assert names == ["First"]
    # Through the generic endpoint as well.
    resp = api.post(f"{base}/items", json={"displayName": "Third", "type": "DataPipeline",
                                           "definition": _pipeline_definition(CONTENT, _platform(logical_id))})
    _error(resp, 409, "ItemLogicalIdAlreadyInUse")


def test_the_same_logical_id_in_another_workspace_is_fine(api: requests.Session, base: str, emulator: Any) -> None:
    logical_id = str(uuid.uuid4())
    assert _create(api, base, "Here", _platform(logical_id)).status_code == 201
    other = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("ws")}).json()["id"]
    try:
        other_base = f"{emulator.api_url}/workspaces/{other}"
        resp = _create(api, other_base, "Here", _platform(logical_id))
        assert resp.status_code == 201, resp.text
        assert _logical_id(api, other_base, resp.json()["id"]) == logical_id
    finally:
        api.delete(f"{emulator.api_url}/workspaces/{other}")


def test_long_running_create_checks_the_logical_id_when_applied(api: requests.Session, base: str,
                                                                 emulator: Any) -> None:
    logical_id = str(uuid.uuid4())
    with emulator.config(lro_mode="always"):
        accepted = [_create(api, base, name, _platform(logical_id)) for name in ("A", "B")]
        assert [r.status_code for r in accepted] == [202, 202]
        states = []
        for resp in accepted:
            for _ in range(200):
                state = api.get(resp.headers["Location"]).json()
                if state["status"] in ("Succeeded", "Failed"):
                    break
            states.append(state)
    assert [s["status"] for s in states] == ["Succeeded", "Failed"]
    assert states[1]["error"]["errorCode"] == "ItemLogicalIdAlreadyInUse"
    assert [i["displayName"] for i in api.get(f"{base}/items").json()["value"]] == ["A"]


def test_update_definition_keeps_it_unless_update_metadata(api: requests.Session, base: str) -> None:
    original = str(uuid.uuid4())
    item_id = _create(api, base, "P", _platform(original)).json()["id"]
    replacement = str(uuid.uuid4())
    sent = _pipeline_definition({"properties": {"activities": [], "description": "v2"}}, _platform(replacement))

    resp = api.post(f"{base}/items/{item_id}/updateDefinition", json={"definition": sent})
    assert resp.status_code == 200, resp.text
    assert _logical_id(api, base, item_id) == original
    # The content was applied, only the .platform ignored.
    parts = _parts(api.post(f"{base}/items/{item_id}/getDefinition").json())
    assert json.loads(parts["pipeline-content.json"])["properties"]["description"] == "v2"

    resp = api.post(f"{base}/items/{item_id}/updateDefinition?updateMetadata=true", json={"definition": sent})
    assert resp.status_code == 200, resp.text
    assert _logical_id(api, base, item_id) == replacement


def test_update_metadata_cannot_take_another_items_logical_id(api: requests.Session, base: str) -> None:
    taken = str(uuid.uuid4())
    _create(api, base, "Holder", _platform(taken, "Holder"))
    mine = str(uuid.uuid4())
    item_id = _create(api, base, "Mover", _platform(mine, "Mover")).json()["id"]
    resp = api.post(f"{base}/items/{item_id}/updateDefinition?updateMetadata=true",
                    json={"definition": _pipeline_definition(CONTENT, _platform(taken, "Mover"))})
    _error(resp, 409, "ItemLogicalIdAlreadyInUse")
    assert _logical_id(api, base, item_id) == mine


def test_logical_id_survives_a_restart(emulator_factory: Any) -> None:
    emu = emulator_factory()
    api = emu.session()
    ws = api.post(f"{emu.api_url}/workspaces", json={"displayName": _name("ws")}).json()["id"]
    base = f"{emu.api_url}/workspaces/{ws}"
    logical_id = str(uuid.uuid4())
    item_id = _create(api, base, "P", _platform(logical_id)).json()["id"]
    emu.restart()
    api = emu.session()
    base = f"{emu.api_url}/workspaces/{ws}"  # the port may have changed
    assert _logical_id(api, base, item_id) == logical_id
    _error(_create(api, base, "Other", _platform(logical_id)), 409, "ItemLogicalIdAlreadyInUse")

