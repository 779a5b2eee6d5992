"""The emulator's platform API over real HTTPS: workspaces, roles, items, definitions, LROs, folders.

Every test talks to the shared emulator process (tests/conftest.py) with tokens it issued, exactly
as a client would. Resources are created with unique names and deleted afterwards so tests do not
depend on each other.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.test_emulator_conformance import SPEC_DIR, Recorder, Spec

F2_CAPACITY = "0f084df7-c13d-451b-af5f-ed0c466403b2"


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.b64encode(raw).decode()


def _pipeline_definition(content: Any, platform: Any | None = None) -> dict[str, Any]:
    parts = [{"path": "pipeline-content.json", "payload": _b64(content), "payloadType": "InlineBase64"}]
    if platform is not None:
        parts.append({"path": ".platform", "payload": _b64(platform), "payloadType": "InlineBase64"})
    return {"parts": parts}


def _parts(definition_response: dict[str, Any]) -> dict[str, bytes]:
    return {p["path"]: base64.b64decode(p["payload"]) for p in definition_response["definition"]["parts"]}


def _error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code}: {resp.text}"
    body: dict[str, Any] = resp.json()
    assert body["errorCode"] == code, body
    assert body["message"]
    assert resp.headers["x-ms-public-api-error-code"] == code
    assert resp.headers["x-ms-request-id"] == body["requestId"]
    return body


_RECORDER: list[Recorder] = []


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder | None]:
    """Validates every response these tests receive against the spec (when the spec is present)."""
    found = Recorder(Spec(SPEC_DIR)) if (SPEC_DIR / "platform" / "swagger.json").exists() else None
    if found is not None:
        _RECORDER.append(found)  # for sessions made by helpers without the fixture at hand
    yield found
    _RECORDER.clear()


def _validated(session: requests.Session, recorder: Recorder | None) -> requests.Session:
    if recorder is not None:
        session.hooks["response"].append(recorder.hook)
    return session


@pytest.fixture(scope="module")
def api(emulator: Any, recorder: Recorder | None) -> requests.Session:
    return _validated(emulator.session(), recorder)


@pytest.fixture
def ws(emulator: Any, api: requests.Session) -> Iterator[str]:
    resp = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("ws")})
    assert resp.status_code == 201, resp.text
    workspace_id = str(resp.json()["id"])
    yield workspace_id
    api.delete(f"{emulator.api_url}/workspaces/{workspace_id}")


def _principal(emulator: Any, kind: str, index: int) -> dict[str, Any]:
    return [p for p in emulator.principals if p["kind"] == kind][index]


def _session_for(emulator: Any, principal: dict[str, Any]) -> requests.Session:
    if principal["kind"] == "ServicePrincipal":
        session = emulator.session(emulator.token(client_id=principal["client_id"]))
    else:
        session = emulator.session(emulator.token(upn=principal["user_principal_name"]))
    return _validated(session, _RECORDER[0] if _RECORDER else None)


def _walk(session: requests.Session, url: str) -> tuple[list[dict[str, Any]], int]:
    """Follow continuationUri to the end; returns all values and the number of pages."""
    values: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        resp = session.get(next_url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages += 1
        values += body["value"]
        next_url = body.get("continuationUri")
        assert ("continuationToken" in body) == (next_url is not None)
    return values, pages


# -- capacities and workspaces ---------------------------------------------------------------------


def test_capacities_are_listed(emulator: Any, api: requests.Session) -> None:
    resp = api.get(f"{emulator.api_url}/capacities")
    assert resp.status_code == 200
    caps = resp.json()["value"]
    assert {c["sku"] for c in caps} >= {"F2", "F64", "FT1"}
    assert all(c["state"] == "Active" and c["region"] and uuid.UUID(c["id"]) for c in caps)


def test_workspace_lifecycle(emulator: Any, api: requests.Session) -> None:
    name = _name("life")
    resp = api.post(f"{emulator.api_url}/workspaces", json={"displayName": name, "description": "d1"})
    assert resp.status_code == 201
    created = resp.json()
    assert created["displayName"] == name and created["description"] == "d1" and created["type"] == "Workspace"
    location = resp.headers["Location"]
    assert location == f"{emulator.api_url}/workspaces/{created['id']}"
    assert api.get(location).json() == created

    listed, _ = _walk(api, f"{emulator.api_url}/workspaces")
    assert created["id"] in {w["id"] for w in listed}

    resp = api.patch(location, json={"displayName": name + "-x", "description": "d2"})
    assert resp.status_code == 200
    assert resp.json()["displayName"] == name + "-x" and resp.json()["description"] == "d2"
    assert api.get(location).json()["displayName"] == name + "-x"

    resp = api.delete(location)
    assert resp.status_code == 200
    assert resp.content == b"" and "content-type" not in resp.headers
    _error(api.get(location), 404, "WorkspaceNotFound")


def test_workspace_name_rules(emulator: Any, api: requests.Session, ws: str) -> None:
    url = f"{emulator.api_url}/workspaces"
    name = api.get(f"{url}/{ws}").json()["displayName"]
    _error(api.post(url, json={"displayName": name.upper()}), 409, "WorkspaceNameAlreadyExists")
    _error(api.post(url, json={"displayName": "x" * 257}), 400, "InvalidInput")
    _error(api.post(url, json={"displayName": _name(), "description": "d" * 4001}), 400, "InvalidInput")
    _error(api.post(url, json={"description": "no name"}), 400, "InvalidInput")
    _error(api.post(url, json={"displayName": 42}), 400, "InvalidInput")
    _error(api.post(url, json={"displayName": _name(), "capacityId": str(uuid.uuid4())}), 404, "CapacityNotFound")
    # Exactly at the limits is fine.
    resp = api.post(url, json={"displayName": "w" * 200 + uuid.uuid4().hex[:56], "description": "d" * 4000})
    assert resp.status_code == 201, resp.text
    api.delete(f"{url}/{resp.json()['id']}")
    other = api.post(url, json={"displayName": _name()}).json()["id"]
    _error(api.patch(f"{url}/{other}", json={"displayName": name}), 409, "WorkspaceNameAlreadyExists")
    api.delete(f"{url}/{other}")


def test_capacity_assignment_progress(emulator: Any, api: requests.Session, ws: str) -> None:
    url = f"{emulator.api_url}/workspaces/{ws}"
    with emulator.config(capacity_assignment_seconds=0.5):
        resp = api.post(f"{url}/assignToCapacity", json={"capacityId": F2_CAPACITY})
        assert resp.status_code == 202
        assert resp.content == b"" and "content-type" not in resp.headers
        body = api.get(url).json()
        assert body["capacityId"] == F2_CAPACITY
        assert body["capacityAssignmentProgress"] == "InProgress"
        assert body["capacityRegion"] == "West Central US"
        deadline = time.monotonic() + 5
        while api.get(url).json()["capacityAssignmentProgress"] != "Completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    _error(api.post(f"{url}/assignToCapacity", json={"capacityId": str(uuid.uuid4())}), 404, "CapacityNotFound")
    resp = api.post(f"{url}/unassignFromCapacity")
    assert resp.status_code == 202
    assert "capacityId" not in api.get(url).json()


def test_workspace_list_pages_and_role_filter(emulator: Any, api: requests.Session) -> None:
    viewer_sp = _principal(emulator, "ServicePrincipal", 1)
    viewer = _session_for(emulator, viewer_sp)
    created = []
    for _ in range(3):
        wid = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("pg")}).json()["id"]
        created.append(wid)
        resp = api.post(f"{emulator.api_url}/workspaces/{wid}/roleAssignments",
                        json={"principal": {"id": viewer_sp["object_id"], "type": "ServicePrincipal"},
                              "role": "Viewer"})
        assert resp.status_code == 201, resp.text
    try:
        with emulator.config(page_size=2):
            values, pages = _walk(viewer, f"{emulator.api_url}/workspaces?roles=Viewer")
            ids = [w["id"] for w in values]
            assert set(created) <= set(ids)
            assert len(ids) == len(set(ids)), "a workspace appeared on two pages"
            assert pages == -(-len(ids) // 2)
        admin_only, _ = _walk(viewer, f"{emulator.api_url}/workspaces?roles=Admin,Member")
        assert not set(created) & {w["id"] for w in admin_only}
        _error(viewer.get(f"{emulator.api_url}/workspaces?roles=Owner"), 400, "InvalidParameter")
    finally:
        for wid in created:
            api.delete(f"{emulator.api_url}/workspaces/{wid}")


# -- role assignments and permissions --------------------------------------------------------------


def test_role_assignment_lifecycle_and_last_admin(emulator: Any, api: requests.Session, ws: str) -> None:
    url = f"{emulator.api_url}/workspaces/{ws}/roleAssignments"
    me = emulator.default_sp
    other = _principal(emulator, "User", 0)
    listed = api.get(url).json()["value"]
    assert [(a["principal"]["id"], a["role"]) for a in listed] == [(me["object_id"], "Admin")]
    assert listed[0]["principal"]["type"] == "ServicePrincipal"

    # The only Admin can be neither demoted nor removed.
    _error(api.patch(f"{url}/{me['object_id']}", json={"role": "Member"}), 409, "LastWorkspaceAdmin")
    _error(api.delete(f"{url}/{me['object_id']}"), 409, "LastWorkspaceAdmin")

    body = {"principal": {"id": other["object_id"], "type": "User"}, "role": "Member"}
    resp = api.post(url, json=body)
    assert resp.status_code == 201
    assert resp.headers["Location"] == f"{url}/{other['object_id']}"
    assert resp.json()["role"] == "Member" and resp.json()["id"] == other["object_id"]
    assert resp.json()["principal"]["userDetails"]["userPrincipalName"] == other["user_principal_name"]
    _error(api.post(url, json=body), 409, "PrincipalAlreadyHasWorkspaceRolePermissions")
    _error(api.post(url, json={"principal": {"id": str(uuid.uuid4()), "type": "Robot"}, "role": "Viewer"}),
           400, "PrincipalTypeNotSupported")
    _error(api.post(url, json={"principal": {"id": str(uuid.uuid4()), "type": "Group"}, "role": "Owner"}),
           400, "InvalidInput")

    assert api.get(f"{url}/{other['object_id']}").json()["role"] == "Member"
    resp = api.patch(f"{url}/{other['object_id']}", json={"role": "Admin"})
    assert resp.status_code == 200 and resp.json()["role"] == "Admin"
    # With a second Admin the first may step down.
    assert api.patch(f"{url}/{me['object_id']}", json={"role": "Admin"}).status_code == 200
    assert api.delete(f"{url}/{other['object_id']}").status_code == 200
    _error(api.get(f"{url}/{other['object_id']}"), 404, "WorkspaceRoleAssignmentNotFound")
    group = str(uuid.uuid4())
    resp = api.post(url, json={"principal": {"id": group, "type": "Group"}, "role": "Viewer"})
    assert resp.status_code == 201 and resp.json()["principal"] == {"id": group, "type": "Group"}


def test_permissions_by_role(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    viewer_p, contributor_p = _principal(emulator, "User", 0), _principal(emulator, "User", 1)
    member_p = _principal(emulator, "ServicePrincipal", 1)
    for p, role in ((viewer_p, "Viewer"), (contributor_p, "Contributor"), (member_p, "Member")):
        ptype = "User" if p["kind"] == "User" else "ServicePrincipal"
        resp = api.post(f"{base}/roleAssignments", json={"principal": {"id": p["object_id"], "type": ptype},
                                                          "role": role})
        assert resp.status_code == 201
    viewer, contributor, member = (_session_for(emulator, p) for p in (viewer_p, contributor_p, member_p))
    item = api.post(f"{base}/items", json={"displayName": _name("p"), "type": "DataPipeline"}).json()

    # Viewer: reads work, every write is refused.
    assert viewer.get(base).status_code == 200
    assert viewer.get(f"{base}/items/{item['id']}").status_code == 200
    _error(viewer.post(f"{base}/items", json={"displayName": _name(), "type": "DataPipeline"}),
           403, "InsufficientPrivileges")
    _error(viewer.patch(f"{base}/items/{item['id']}", json={"description": "x"}), 403, "InsufficientPrivileges")
    _error(viewer.delete(f"{base}/items/{item['id']}"), 403, "InsufficientPrivileges")
    _error(viewer.post(f"{base}/items/{item['id']}/getDefinition"), 403, "InsufficientPrivileges")
    _error(viewer.post(f"{base}/folders", json={"displayName": "f"}), 403, "InsufficientPrivileges")
    _error(viewer.get(f"{base}/roleAssignments"), 403, "InsufficientPrivileges")

    # Contributor: items yes, workspace settings and roles no.
    resp = contributor.patch(f"{base}/items/{item['id']}", json={"description": "by contributor"})
    assert resp.status_code == 200
    _error(contributor.patch(base, json={"description": "x"}), 403, "InsufficientPrivileges")
    _error(contributor.delete(base), 403, "InsufficientPrivileges")
    _error(contributor.delete(f"{base}/items/{item['id']}?hardDelete=true"), 403, "InsufficientPrivileges")

    # Member: may grant Member or less, never Admin; may not delete the workspace.
    stranger = str(uuid.uuid4())
    _error(member.post(f"{base}/roleAssignments", json={"principal": {"id": stranger, "type": "User"},
                                                        "role": "Admin"}), 403, "InsufficientPrivileges")
    resp = member.post(f"{base}/roleAssignments", json={"principal": {"id": stranger, "type": "User"},
                                                        "role": "Contributor"})
    assert resp.status_code == 201
    _error(member.delete(base), 403, "InsufficientPrivileges")
    _error(member.delete(f"{base}/roleAssignments/{stranger}"), 403, "InsufficientPrivileges")

    # A principal without any role gets 403 (existence is not hidden); unknown workspaces are 404.
    outsider = _session_for(emulator, _principal(emulator, "ServicePrincipal", 1))
    api.delete(f"{base}/roleAssignments/{member_p['object_id']}")
    _error(outsider.get(base), 403, "InsufficientPrivileges")
    _error(outsider.get(f"{base}/items"), 403, "InsufficientPrivileges")
    assert ws not in {w["id"] for w in _walk(outsider, f"{emulator.api_url}/workspaces")[0]}
    _error(api.get(f"{emulator.api_url}/workspaces/{uuid.uuid4()}"), 404, "WorkspaceNotFound")
    _error(api.get(f"{emulator.api_url}/workspaces/not-a-guid"), 404, "WorkspaceNotFound")


def test_user_token_works_like_the_portal(emulator: Any, api: requests.Session, ws: str) -> None:
    user = _principal(emulator, "User", 0)
    api.post(f"{emulator.api_url}/workspaces/{ws}/roleAssignments",
             json={"principal": {"id": user["object_id"], "type": "User"}, "role": "Contributor"})
    portal = _session_for(emulator, user)
    item = api.post(f"{emulator.api_url}/workspaces/{ws}/dataPipelines", json={"displayName": _name()}).json()
    resp = portal.patch(f"{emulator.api_url}/workspaces/{ws}/dataPipelines/{item['id']}",
                        json={"description": "edited in the portal"})
    assert resp.status_code == 200
    assert api.get(f"{emulator.api_url}/workspaces/{ws}/items/{item['id']}").json()["description"] == \
        "edited in the portal"


# -- items and definitions ------------------------------------------------------------------------


def test_item_crud_generic_and_pipeline_endpoints(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    resp = api.post(f"{base}/dataPipelines", json={"displayName": "Pipe", "description": "d", "extra": 1})
    assert resp.status_code == 201
    pipe = resp.json()
    assert pipe["type"] == "DataPipeline" and pipe["workspaceId"] == ws and pipe["description"] == "d"
    assert resp.headers["Location"] == f"{base}/dataPipelines/{pipe['id']}"
    lake = api.post(f"{base}/items", json={"displayName": "Pipe", "type": "Lakehouse"})
    assert lake.status_code == 201, "the same name is fine for another type"
    lake_id = lake.json()["id"]

    assert api.get(f"{base}/items/{pipe['id']}").json() == pipe
    assert api.get(f"{base}/dataPipelines/{pipe['id']}").json() == pipe
    _error(api.get(f"{base}/dataPipelines/{lake_id}"), 404, "ItemNotFound")
    assert {i["id"] for i in api.get(f"{base}/items").json()["value"]} == {pipe["id"], lake_id}
    assert [i["id"] for i in api.get(f"{base}/items?type=Lakehouse").json()["value"]] == [lake_id]
    assert [i["id"] for i in api.get(f"{base}/dataPipelines").json()["value"]] == [pipe["id"]]
    _error(api.get(f"{base}/items?type=Spreadsheet"), 400, "InvalidItemType")

    resp = api.patch(f"{base}/dataPipelines/{pipe['id']}", json={"displayName": "Pipe2", "description": ""})
    assert resp.status_code == 200 and resp.json()["displayName"] == "Pipe2" and resp.json()["description"] == ""
    resp = api.patch(f"{base}/items/{pipe['id']}", json={"description": "only description"})
    assert resp.json()["displayName"] == "Pipe2" and resp.json()["description"] == "only description"

    resp = api.delete(f"{base}/dataPipelines/{pipe['id']}")
    assert resp.status_code == 200 and "content-type" not in resp.headers
    _error(api.get(f"{base}/items/{pipe['id']}"), 404, "ItemNotFound")
    assert api.delete(f"{base}/items/{lake_id}?hardDelete=true").status_code == 200
    _error(api.delete(f"{base}/items/{lake_id}"), 404, "ItemNotFound")
    _error(api.get(f"{base}/items/{uuid.uuid4()}"), 404, "ItemNotFound")
    _error(api.get(f"{emulator.api_url}/workspaces/{uuid.uuid4()}/items"), 404, "WorkspaceNotFound")


def test_item_name_rules(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    api.post(f"{base}/dataPipelines", json={"displayName": "Same"})
    _error(api.post(f"{base}/items", json={"displayName": "same", "type": "DataPipeline"}),
           409, "ItemDisplayNameAlreadyInUse")
    _error(api.post(f"{base}/items", json={"type": "DataPipeline"}), 400, "InvalidInput")
    _error(api.post(f"{base}/items", json={"displayName": "  ", "type": "DataPipeline"}), 400, "InvalidInput")
    _error(api.post(f"{base}/items", json={"displayName": "n" * 257, "type": "DataPipeline"}), 400, "InvalidInput")
    _error(api.post(f"{base}/items", json={"displayName": "ok", "type": "DataPipeline", "description": "d" * 257}),
           400, "InvalidInput")
    _error(api.post(f"{base}/items", json={"displayName": "ok", "type": "Spreadsheet"}), 400, "InvalidItemType")
    _error(api.post(f"{base}/items", json={"displayName": "ok"}), 400, "InvalidInput")
    _error(api.post(f"{base}/items", json={"displayName": "ok", "type": "DataPipeline",
                                           "folderId": str(uuid.uuid4())}), 404, "FolderNotFound")
    other = api.post(f"{base}/dataPipelines", json={"displayName": "n" * 256}).json()
    _error(api.patch(f"{base}/items/{other['id']}", json={"displayName": "SAME"}), 409,
           "ItemDisplayNameAlreadyInUse")
    with emulator.config(workspace_item_limit=3):
        assert api.post(f"{base}/items", json={"displayName": "third", "type": "Notebook"}).status_code == 201
        _error(api.post(f"{base}/items", json={"displayName": "fourth", "type": "Notebook"}),
               400, "WorkspaceItemsLimitExceeded")


def test_definition_roundtrip_and_platform(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    # No definition: the default content and a synthesised .platform.
    bare = api.post(f"{base}/dataPipelines", json={"displayName": "Bare", "description": "b"}).json()
    parts = _parts(api.post(f"{base}/dataPipelines/{bare['id']}/getDefinition").json())
    assert json.loads(parts["pipeline-content.json"]) == {"properties": {"activities": []}}
    platform = json.loads(parts[".platform"])
    assert platform["$schema"].endswith("/platformProperties/2.0.0/schema.json")
    assert platform["metadata"] == {"type": "DataPipeline", "displayName": "Bare", "description": "b"}
    assert platform["config"]["version"] == "2.0"
    logical_id = platform["config"]["logicalId"]
    uuid.UUID(logical_id)

    # Bytes are kept verbatim (odd spacing and key order included).
    content = b'{ "properties" : {"activities":[{"name":"Wait1","type":"Wait","typeProperties":{"waitTimeInSeconds":1}}]} }'
    definition = {"parts": [{"path": "pipeline-content.json", "payload": _b64(content), "payloadType": "InlineBase64"}]}
    resp = api.post(f"{base}/items", json={"displayName": "Full", "type": "DataPipeline", "definition": definition})
    assert resp.status_code == 201
    full = resp.json()
    got = api.post(f"{base}/items/{full['id']}/getDefinition")
    assert got.status_code == 200
    assert _parts(got.json())["pipeline-content.json"] == content

    # Rename: .platform follows the item; logicalId is stable.
    api.patch(f"{base}/items/{bare['id']}", json={"displayName": "Renamed"})
    platform2 = json.loads(_parts(api.post(f"{base}/items/{bare['id']}/getDefinition").json())[".platform"])
    assert platform2["metadata"]["displayName"] == "Renamed"
    assert platform2["config"]["logicalId"] == logical_id

    # updateDefinition without updateMetadata ignores .platform's metadata...
    new_content = {"properties": {"activities": [], "description": "v2"}}
    new_platform = {"metadata": {"type": "DataPipeline", "displayName": "FromPlatform", "description": "pd"},
                    "config": {"version": "2.0", "logicalId": logical_id}}
    resp = api.post(f"{base}/items/{bare['id']}/updateDefinition",
                    json={"definition": _pipeline_definition(new_content, new_platform)})
    assert resp.status_code == 200 and resp.content == b"" and "content-type" not in resp.headers
    assert api.get(f"{base}/items/{bare['id']}").json()["displayName"] == "Renamed"
    assert json.loads(_parts(api.post(f"{base}/items/{bare['id']}/getDefinition").json())
                      ["pipeline-content.json"]) == new_content
    # ...and applies it with updateMetadata=true.
    resp = api.post(f"{base}/dataPipelines/{bare['id']}/updateDefinition?updateMetadata=true",
                    json={"definition": _pipeline_definition(new_content, new_platform)})
    assert resp.status_code == 200
    item = api.get(f"{base}/items/{bare['id']}").json()
    assert (item["displayName"], item["description"]) == ("FromPlatform", "pd")
    stored_platform = _parts(api.post(f"{base}/items/{bare['id']}/getDefinition").json())[".platform"]
    assert json.loads(stored_platform) == new_platform


def test_definition_validation(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"

    def create(definition: Any) -> requests.Response:
        return api.post(f"{base}/dataPipelines", json={"displayName": _name(), "definition": definition})

    bad_b64 = {"parts": [{"path": "pipeline-content.json", "payload": "%%%not base64%%%",
                          "payloadType": "InlineBase64"}]}
    _error(create(bad_b64), 400, "CorruptedPayload")
    not_json = {"parts": [{"path": "pipeline-content.json", "payload": _b64(b"{nope"), "payloadType": "InlineBase64"}]}
    _error(create(not_json), 400, "CorruptedPayload")
    array = {"parts": [{"path": "pipeline-content.json", "payload": _b64([1]), "payloadType": "InlineBase64"}]}
    _error(create(array), 400, "CorruptedPayload")
    missing = {"parts": [{"path": ".platform", "payload": _b64({"metadata": {}}), "payloadType": "InlineBase64"}]}
    body = _error(create(missing), 400, "InvalidDefinition")
    assert "pipeline-content.json" in body["message"]
    _error(create({"parts": "nope"}), 400, "InvalidInput")
    _error(create({"parts": [{"path": "pipeline-content.json", "payload": _b64({}), "payloadType": "Url"}]}),
           400, "InvalidInput")
    _error(api.post(f"{base}/dataPipelines", json={"displayName": _name(), "definition": _pipeline_definition({}),
                                                   "creationPayload": {}}), 400, "InvalidInput")
    item = api.post(f"{base}/dataPipelines", json={"displayName": _name()}).json()
    _error(api.post(f"{base}/items/{item['id']}/updateDefinition", json={"definition": not_json}),
           400, "CorruptedPayload")
    _error(api.post(f"{base}/items/{item['id']}/updateDefinition", json={}), 400, "InvalidInput")
    # Nothing half-created by the failures above.
    assert [i["id"] for i in api.get(f"{base}/items").json()["value"]] == [item["id"]]


def test_items_paginate(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    ids = [api.post(f"{base}/dataPipelines", json={"displayName": f"p{i}"}).json()["id"] for i in range(5)]
    with emulator.config(page_size=2):
        values, pages = _walk(api, f"{base}/items?type=DataPipeline")
        assert [v["id"] for v in values] == ids and pages == 3
        first = api.get(f"{base}/dataPipelines").json()
        assert first["continuationUri"].startswith(f"{base}/dataPipelines?")
        second = api.get(f"{base}/dataPipelines", params={"continuationToken": first["continuationToken"]}).json()
        assert [v["id"] for v in second["value"]] == ids[2:4]
        _error(api.get(f"{base}/items?continuationToken=garbage!"), 400, "InvalidContinuationToken")
    assert "continuationToken" not in api.get(f"{base}/items").json()


def test_workspace_delete_removes_items(emulator: Any, api: requests.Session) -> None:
    wid = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("del")}).json()["id"]
    base = f"{emulator.api_url}/workspaces/{wid}"
    item = api.post(f"{base}/dataPipelines", json={"displayName": "x", "definition": _pipeline_definition({})}).json()
    assert api.delete(base).status_code == 200
    _error(api.get(f"{base}/items/{item['id']}"), 404, "WorkspaceNotFound")
    # The name is free again.
    name_again = api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name("del")})
    assert name_again.status_code == 201
    api.delete(f"{emulator.api_url}/workspaces/{name_again.json()['id']}")


# -- long-running operations -----------------------------------------------------------------------


def _poll(api: requests.Session, location: str, timeout: float = 10.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        resp = api.get(location)
        assert resp.status_code == 200, resp.text
        if resp.json()["status"] in ("Succeeded", "Failed"):
            return resp
        assert time.monotonic() < deadline, "operation never finished"
        time.sleep(0.05)


def test_lro_create_get_update(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    with emulator.config(lro_mode="always", lro_duration_seconds=0.6):
        resp = api.post(f"{base}/dataPipelines", json={"displayName": "Lro", "definition": _pipeline_definition({"a": 1})})
        assert resp.status_code == 202 and resp.content == b"" and "content-type" not in resp.headers
        op_id = resp.headers["x-ms-operation-id"]
        location = resp.headers["Location"]
        assert location == f"{emulator.api_url}/operations/{op_id}"
        assert int(resp.headers["Retry-After"]) >= 0
        state = api.get(location).json()
        assert state["status"] in ("NotStarted", "Running") and 0 <= state["percentComplete"] < 100
        # The work is really deferred: the item does not exist yet.
        assert api.get(f"{base}/items").json()["value"] == []
        _error(api.get(f"{location}/result"), 400, "OperationNotCompleted")
        done = _poll(api, location)
        assert done.json()["status"] == "Succeeded" and done.json()["percentComplete"] == 100
        assert done.headers["Location"] == f"{location}/result"
        item = api.get(done.headers["Location"]).json()
        assert item["displayName"] == "Lro" and item["type"] == "DataPipeline"
        assert api.get(f"{base}/items/{item['id']}").json() == item

        # Another caller cannot see my operation.
        other = _session_for(emulator, _principal(emulator, "ServicePrincipal", 1))
        _error(other.get(location), 404, "OperationNotFound")

        resp = api.post(f"{base}/items/{item['id']}/getDefinition")
        assert resp.status_code == 202
        result = api.get(_poll(api, resp.headers["Location"]).headers["Location"]).json()
        assert json.loads(_parts(result)["pipeline-content.json"]) == {"a": 1}

        resp = api.post(f"{base}/items/{item['id']}/updateDefinition",
                        json={"definition": _pipeline_definition({"a": 2})})
        assert resp.status_code == 202
        update_location = resp.headers["Location"]
    # Not applied until the operation completes.
    assert json.loads(_parts(api.post(f"{base}/items/{item['id']}/getDefinition").json())
                      ["pipeline-content.json"]) == {"a": 1}
    done = _poll(api, update_location)
    assert done.json()["status"] == "Succeeded"
    assert "Location" not in done.headers, "updateDefinition has no result"
    assert json.loads(_parts(api.post(f"{base}/items/{item['id']}/getDefinition").json())
                      ["pipeline-content.json"]) == {"a": 2}


def test_lro_by_size_and_failure(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    with emulator.config(lro_mode="size", lro_size_threshold=1000, lro_duration_seconds=0.1):
        small = api.post(f"{base}/dataPipelines", json={"displayName": "small", "definition": _pipeline_definition({})})
        assert small.status_code == 201
        big_content = {"properties": {"activities": [], "description": "x" * 2000}}
        big = api.post(f"{base}/dataPipelines", json={"displayName": "big", "definition": _pipeline_definition(big_content)})
        assert big.status_code == 202
        assert _poll(api, big.headers["Location"]).json()["status"] == "Succeeded"
    with emulator.config(lro_mode="always", lro_duration_seconds=0.1, lro_fail=True):
        resp = api.post(f"{base}/dataPipelines", json={"displayName": "doomed", "definition": _pipeline_definition({})})
        assert resp.status_code == 202
        failed = _poll(api, resp.headers["Location"]).json()
        assert failed["status"] == "Failed"
        assert failed["error"]["errorCode"] and failed["error"]["message"]
        _error(api.get(resp.headers["Location"] + "/result"), 400, "OperationFailed")
    assert "doomed" not in {i["displayName"] for i in api.get(f"{base}/items").json()["value"]}
    _error(api.get(f"{emulator.api_url}/operations/{uuid.uuid4()}"), 404, "OperationNotFound")


# -- folders -------------------------------------------------------------------------------------


def test_folders(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    resp = api.post(f"{base}/folders", json={"displayName": "Top"})
    assert resp.status_code == 201
    top = resp.json()
    assert resp.headers["Location"] == f"{base}/folders/{top['id']}"
    assert top["workspaceId"] == ws and "parentFolderId" not in top
    child = api.post(f"{base}/folders", json={"displayName": "Child", "parentFolderId": top["id"]}).json()
    assert child["parentFolderId"] == top["id"]
    other = api.post(f"{base}/folders", json={"displayName": "Other"}).json()
    _error(api.post(f"{base}/folders", json={"displayName": "top"}), 409, "FolderDisplayNameAlreadyInUse")
    assert api.post(f"{base}/folders", json={"displayName": "Child", "parentFolderId": other["id"]}).status_code == 201
    _error(api.post(f"{base}/folders", json={"displayName": "a/b"}), 400, "InvalidInput")
    _error(api.post(f"{base}/folders", json={"displayName": "x", "parentFolderId": str(uuid.uuid4())}),
           404, "FolderNotFound")

    everything = {f["id"] for f in api.get(f"{base}/folders").json()["value"]}
    assert {top["id"], child["id"], other["id"]} <= everything and len(everything) == 4
    roots = {f["id"] for f in api.get(f"{base}/folders?recursive=false").json()["value"]}
    assert roots == {top["id"], other["id"]}
    under = [f["id"] for f in api.get(f"{base}/folders", params={"rootFolderId": top["id"]}).json()["value"]]
    assert under == [child["id"]]
    assert api.get(f"{base}/folders/{child['id']}").json() == child

    renamed = api.patch(f"{base}/folders/{child['id']}", json={"displayName": "Kid"})
    assert renamed.status_code == 200 and renamed.json()["displayName"] == "Kid"

    # Items in folders.
    item = api.post(f"{base}/dataPipelines", json={"displayName": "InFolder", "folderId": child["id"]}).json()
    assert item["folderId"] == child["id"]
    api.post(f"{base}/dataPipelines", json={"displayName": "AtRoot"})
    direct = [i["displayName"] for i in api.get(f"{base}/items?recursive=false").json()["value"]]
    assert direct == ["AtRoot"]
    in_top = [i["displayName"] for i in api.get(f"{base}/items", params={"rootFolderId": top["id"]}).json()["value"]]
    assert in_top == ["InFolder"]
    assert api.get(f"{base}/items", params={"rootFolderId": top["id"], "recursive": "false"}).json()["value"] == []

    # Moves and the rules around them.
    _error(api.post(f"{base}/folders/{top['id']}/move", json={"targetFolderId": child["id"]}),
           400, "InfiniteFolderHierarchyLoop")
    moved = api.post(f"{base}/folders/{child['id']}/move", json={"targetFolderId": other["id"]})
    assert moved.status_code == 200 and moved.json()["parentFolderId"] == other["id"]
    clash = api.post(f"{base}/folders", json={"displayName": "KID"}).json()
    _error(api.post(f"{base}/folders/{child['id']}/move", json={}), 409, "FolderDisplayNameAlreadyInUse")
    api.delete(f"{base}/folders/{clash['id']}")
    to_root = api.post(f"{base}/folders/{child['id']}/move", json={})
    assert to_root.status_code == 200 and "parentFolderId" not in to_root.json()
    resp = api.post(f"{base}/items/{item['id']}/move", json={"targetFolderId": top["id"]})
    assert resp.status_code == 200 and resp.json()["value"][0]["folderId"] == top["id"]

    _error(api.delete(f"{base}/folders/{top['id']}"), 409, "FolderNotEmpty")
    api.post(f"{base}/items/{item['id']}/move", json={})
    assert api.delete(f"{base}/folders/{top['id']}").status_code == 200
    _error(api.get(f"{base}/folders/{top['id']}"), 404, "FolderNotFound")


def test_folder_depth_limit(emulator: Any, api: requests.Session, ws: str) -> None:
    base = f"{emulator.api_url}/workspaces/{ws}"
    parent = None
    for level in range(10):
        body: dict[str, Any] = {"displayName": f"L{level}"}
        if parent:
            body["parentFolderId"] = parent
        resp = api.post(f"{base}/folders", json=body)
        assert resp.status_code == 201, resp.text
        parent = resp.json()["id"]
    _error(api.post(f"{base}/folders", json={"displayName": "too deep", "parentFolderId": parent}),
           400, "FolderDepthOutOfRange")


# -- cross-cutting -------------------------------------------------------------------------------


def test_stats_count_by_route_template(emulator: Any, api: requests.Session, ws: str) -> None:
    emulator.reset_stats()
    base = f"{emulator.api_url}/workspaces/{ws}"
    item = api.post(f"{base}/dataPipelines", json={"displayName": "s"}).json()
    for _ in range(3):
        api.get(f"{base}/items/{item['id']}")
    api.get(f"{emulator.api_url}/does/not/exist")
    stats = emulator.stats()
    by_route = stats["by_route"]
    assert by_route["POST /v1/workspaces/{workspaceId}/dataPipelines"] == 1
    assert by_route["GET /v1/workspaces/{workspaceId}/items/{itemId}"] == 3
    assert stats["total"] == sum(by_route.values()) == 5
    emulator.reset_stats()
    assert emulator.stats() == {"total": 0, "by_route": {}, "throttled": 0, "peak_concurrent": 0}


def test_auth_required_and_errors_are_clear(emulator: Any) -> None:
    anonymous = _validated(emulator.session(token=""), _RECORDER[0] if _RECORDER else None)
    _error(anonymous.get(f"{emulator.api_url}/workspaces"), 401, "Unauthorized")
    forged = emulator.session(token="eyJhbGciOiJIUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln")
    _error(forged.get(f"{emulator.api_url}/workspaces"), 401, "InvalidToken")
    expired = emulator.session(emulator.token(lifetime_seconds=1))
    time.sleep(1.5)
    _error(expired.get(f"{emulator.api_url}/workspaces"), 401, "TokenExpired")


def test_admin_config_validation(emulator: Any) -> None:
    assert emulator.admin("PUT", "/config", json={"no_such_key": 1}).status_code == 400
    assert emulator.admin("PUT", "/config", json={"page_size": "ten"}).status_code == 400
    assert emulator.admin("PUT", "/config", json={"lro_mode": "sometimes"}).status_code == 400
    assert emulator.admin("PUT", "/config", json={"page_size": 0}).status_code == 400
    assert emulator.admin("PUT", "/config", json={"error_rate": 1.5}).status_code == 400
    assert emulator.admin("PUT", "/config", json={"latency_ms": -1}).status_code == 400
    config = emulator.admin("GET", "/config").json()
    assert config["page_size"] >= 1 and config["lro_mode"] in ("never", "always", "size")
    assert emulator.admin("POST", "/token", json={"client_id": str(uuid.uuid4())}).status_code == 404


def test_pending_operation_completes_after_restart(emulator_factory: Any) -> None:
    private = emulator_factory()
    api = private.session()
    ws = api.post(f"{private.api_url}/workspaces", json={"displayName": _name()}).json()["id"]
    private.admin("PUT", "/config", json={"lro_mode": "always", "lro_duration_seconds": 1.5}).raise_for_status()
    resp = api.post(f"{private.api_url}/workspaces/{ws}/dataPipelines",
                    json={"displayName": "survivor", "definition": _pipeline_definition({"v": 1})})
    assert resp.status_code == 202
    op_id = resp.headers["x-ms-operation-id"]
    private.restart()  # before the operation is due
    api = private.session(private.token())
    done = _poll(api, f"{private.api_url}/operations/{op_id}")
    assert done.json()["status"] == "Succeeded"
    names = [i["displayName"] for i in api.get(f"{private.api_url}/workspaces/{ws}/items").json()["value"]]
    assert names == ["survivor"]


def test_concurrent_writes_are_serialised(emulator: Any, ws: str) -> None:
    """Parallel clients (as in a parallel `pulumi up`): no lost update, exactly one winner per name."""
    from concurrent.futures import ThreadPoolExecutor

    base = f"{emulator.api_url}/workspaces/{ws}"
    sessions = [emulator.session() for _ in range(8)]

    def create(n: int, name: str | None = None) -> int:
        resp = sessions[n % len(sessions)].post(f"{base}/dataPipelines", json={"displayName": name or f"c{n}"})
        return resp.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        same = list(pool.map(lambda n: create(n, "contended"), range(16)))
        distinct = list(pool.map(create, range(40)))
    assert sorted(same) == [201] + [409] * 15
    assert distinct == [201] * 40
    with emulator.config(page_size=1000):
        names = [i["displayName"] for i in sessions[0].get(f"{base}/items").json()["value"]]
    assert len(names) == 41 and len(set(names)) == 41
