"""Conformance of the emulator with the official Fabric REST API spec (../shared/fabric-spec).

1. Every response the emulator gives in these tests is validated against the spec's schema for the
   operation and status it answers (the swagger files and their definitions, $refs resolved across
   files); error responses against ErrorResponse.
2. The spec's own examples for the operations we implement are replayed: their request bodies and
   parameters must be accepted with one of the example's status codes, and the response must validate.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.validators import extend
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = Path(os.environ.get("FABRIC_SPEC_DIR", Path(__file__).resolve().parents[3] / "shared" / "fabric-spec"))
SWAGGERS = ("platform/swagger.json", "dataPipeline/swagger.json", "variableLibrary/swagger.json")

#: Swagger 2.0 adds the type "file" (any payload; used by the LRO result operation).
SwaggerValidator = extend(Draft4Validator,
                          type_checker=Draft4Validator.TYPE_CHECKER.redefine("file", lambda _checker, _value: True))

#: Operations the emulator's core API implements (jobs/schedules are covered by their own tests).
IMPLEMENTED = {
    "Capacities_ListCapacities", "Capacities_GetCapacity",
    "Workspaces_CreateWorkspace", "Workspaces_ListWorkspaces", "Workspaces_GetWorkspace",
    "Workspaces_UpdateWorkspace", "Workspaces_DeleteWorkspace", "Workspaces_AssignToCapacity",
    "Workspaces_UnassignFromCapacity", "Workspaces_AddWorkspaceRoleAssignment",
    "Workspaces_ListWorkspaceRoleAssignments", "Workspaces_GetWorkspaceRoleAssignment",
    "Workspaces_UpdateWorkspaceRoleAssignment", "Workspaces_DeleteWorkspaceRoleAssignment",
    "Items_ListItems", "Items_CreateItem", "Items_GetItem", "Items_UpdateItem", "Items_DeleteItem",
    "Items_GetItemDefinition", "Items_UpdateItemDefinition", "Items_MoveItem",
    "Items_ListDataPipelines", "Items_CreateDataPipeline", "Items_GetDataPipeline", "Items_UpdateDataPipeline",
    "Items_DeleteDataPipeline", "Items_GetDataPipelineDefinition", "Items_UpdateDataPipelineDefinition",
    "LongRunningOperations_GetOperationState", "LongRunningOperations_GetOperationResult",
    "Folders_ListFolders", "Folders_CreateFolder", "Folders_GetFolder", "Folders_UpdateFolder",
    "Folders_DeleteFolder", "Folders_MoveFolder",
}


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(uuid.UUID(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))

    return checker


class Spec:
    """The swagger operations with validators for their responses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        resources = []
        for path in root.rglob("*.json"):
            if "examples" in path.parts:
                continue
            contents = json.loads(path.read_text())
            resources.append((path.resolve().as_uri(), Resource.from_contents(contents, default_specification=DRAFT4)))
        self.registry: Registry = Registry().with_resources(resources)
        self.checker = _format_checker()
        self.operations: list[dict[str, Any]] = []
        for name in SWAGGERS:
            file = (root / name).resolve()
            swagger = json.loads(file.read_text())
            for template, methods in swagger["paths"].items():
                if "?" in template:
                    continue  # beta variants keyed with a query string
                for method, op in methods.items():
                    if method not in ("get", "post", "put", "patch", "delete"):
                        continue
                    pattern = "^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
                    self.operations.append({
                        "id": op["operationId"], "method": method.upper(), "template": template,
                        "regex": re.compile(pattern), "op": op, "file": file, "dir": file.parent,
                        "params": template.count("{"),
                    })
        # Literal segments beat parameters ("/items/bulkMove" before "/items/{itemId}").
        self.operations.sort(key=lambda o: o["params"])
        self.by_id = {o["id"]: o for o in self.operations}

    def match(self, method: str, path: str) -> dict[str, Any] | None:
        return next((o for o in self.operations if o["method"] == method and o["regex"].match(path)), None)

    def schema_ref(self, operation: dict[str, Any], status: int) -> tuple[str | None, bool]:
        """(absolute $ref of the response schema or None, whether the status is documented)."""
        responses = operation["op"]["responses"]
        key = str(status) if str(status) in responses else "default"
        schema = responses[key].get("schema")
        if schema is None:
            return None, key != "default"
        if "$ref" in schema:
            return _join(operation["file"], schema["$ref"]), key != "default"
        # An inline schema: address it by JSON pointer inside the swagger file itself.
        pointer = "/".join(seg.replace("~", "~0").replace("/", "~1") for seg in
                           ("paths", operation["template"], operation["method"].lower(), "responses", key, "schema"))
        return operation["file"].as_uri() + "#/" + quote(pointer, safe="/~"), key != "default"

    def validate(self, ref: str, body: Any) -> None:
        validator = SwaggerValidator({"$ref": ref}, registry=self.registry, format_checker=self.checker)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            detail = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
            raise AssertionError(f"response does not match {ref.rsplit('/', 1)[-1]}: {detail}\n{json.dumps(body)[:800]}")


def _join(file: Path, ref: str) -> str:
    target, _, fragment = ref.partition("#")
    return (file.parent / target).resolve().as_uri() + "#" + fragment


def require_spec() -> None:
    """The spec is the emulator's contract: without it these tests fail, they never skip."""
    if not (SPEC_DIR / "platform" / "swagger.json").exists():
        raise FileNotFoundError(
            f"the Fabric spec is not at {SPEC_DIR}: keep shared/ beside the checkout or set FABRIC_SPEC_DIR"
        )


def spec_examples(swaggers: Iterable[str], operations: Collection[str], *,
                  every_file: bool = False) -> list[tuple[str, str]]:
    """(operationId, example file relative to the spec) of every ``x-ms-examples`` entry the given
    swagger files list for ``operations``. ``every_file``: an example the swagger names but the spec
    folder lacks fails the collection instead of being passed over."""
    require_spec()
    found = []
    for name in swaggers:
        swagger_file = SPEC_DIR / name
        swagger = json.loads(swagger_file.read_text())
        for methods in swagger["paths"].values():
            for op in methods.values():
                if not isinstance(op, dict) or op.get("operationId") not in operations:
                    continue
                for ref in op.get("x-ms-examples", {}).values():
                    example = swagger_file.parent / ref["$ref"]
                    assert example.exists() or not every_file, example
                    if example.exists():
                        found.append((op["operationId"], str(example.relative_to(SPEC_DIR))))
    return found


def example_path(template: str, real: dict[str, str]) -> str:
    """An operation's path template with each ``{placeholder}`` replaced by the id of a real object."""
    for name in re.findall(r"\{([^}]+)\}", template):
        template = template.replace("{" + name + "}", real[name])
    return template


def example_query_and_body(parameters: dict[str, Any], declared: dict[str, Any],
                           folder_id: str) -> tuple[dict[str, str], Any]:
    """The query (as strings; ``rootFolderId`` pointed at a real folder, paging tokens dropped) and a
    copy of the body an example's parameters give, by where the operation declares each one."""
    query: dict[str, str] = {}
    body: Any = None
    for name, value in parameters.items():
        where = declared.get(name, {}).get("in")
        if where == "query" and name != "continuationToken":
            value = folder_id if name == "rootFolderId" else value
            query[name] = str(value).lower() if isinstance(value, bool) else str(value)
        elif where == "body":
            body = json.loads(json.dumps(value))
    return query, body


@pytest.fixture(scope="module")
def spec() -> Spec:
    require_spec()
    return Spec(SPEC_DIR)


class Recorder:
    """Validates every response of a session against the spec and remembers what it saw."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.seen: dict[str, set[int]] = {}
        self.validated = 0

    def hook(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(resp.url).path
        operation = self.spec.match(resp.request.method or "GET", path)
        if operation is None:
            # Unknown routes must still answer a spec ErrorResponse.
            assert resp.status_code in (404, 405), f"{resp.request.method} {path} matched no spec operation"
            self.spec.validate(_join(self.spec.root / "common" / "definitions.json",
                                     "definitions.json#/definitions/ErrorResponse"), resp.json())
            return
        ref, documented = self.spec.schema_ref(operation, resp.status_code)
        if resp.status_code < 400:
            assert documented, f"{operation['id']} answered undocumented status {resp.status_code}: {resp.text[:300]}"
        self.seen.setdefault(operation["id"], set()).add(resp.status_code)
        if ref is None or resp.status_code == 202:
            assert resp.content == b"", f"{operation['id']} {resp.status_code} should have no body"
            assert "content-type" not in resp.headers
            return
        assert resp.headers.get("content-type", "").startswith("application/json")
        self.spec.validate(ref, resp.json())
        self.validated += 1


@pytest.fixture
def recorder(spec: Spec) -> Recorder:
    return Recorder(spec)


def _session(emulator: Any, recorder: Recorder, token: str | None = None) -> requests.Session:
    s: requests.Session = emulator.session(token)
    s.hooks["response"].append(recorder.hook)
    return s


def _b64(obj: Any) -> str:
    import base64
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _definition(content: Any) -> dict[str, Any]:
    return {"parts": [{"path": "pipeline-content.json", "payload": _b64(content), "payloadType": "InlineBase64"}]}


def _wait(api: requests.Session, location: str) -> requests.Response:
    deadline = time.monotonic() + 10
    while True:
        resp = api.get(location)
        if resp.json()["status"] in ("Succeeded", "Failed"):
            return resp
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- 1. every response of a full tour validates ----------------------------------------------------


def test_every_response_matches_the_spec(emulator: Any, recorder: Recorder) -> None:
    api = _session(emulator, recorder)
    v1 = emulator.api_url
    caps = api.get(f"{v1}/capacities").json()["value"]
    api.get(f"{v1}/capacities/{caps[0]['id']}")
    ws = api.post(f"{v1}/workspaces", json={"displayName": f"conf-{uuid.uuid4().hex[:8]}",
                                            "description": "conformance", "capacityId": caps[1]["id"]}).json()["id"]
    base = f"{v1}/workspaces/{ws}"
    try:
        api.get(f"{v1}/workspaces")
        api.get(base)
        api.patch(base, json={"description": "changed"})
        api.post(f"{base}/assignToCapacity", json={"capacityId": caps[0]["id"]})
        api.get(base)
        api.post(f"{base}/unassignFromCapacity")

        user = next(p for p in emulator.principals if p["kind"] == "User")
        sp2 = [p for p in emulator.principals if p["kind"] == "ServicePrincipal"][1]
        api.post(f"{base}/roleAssignments", json={"principal": {"id": user["object_id"], "type": "User"},
                                                  "role": "Viewer"})
        api.post(f"{base}/roleAssignments", json={"principal": {"id": sp2["object_id"], "type": "ServicePrincipal"},
                                                  "role": "Contributor"})
        api.get(f"{base}/roleAssignments")
        api.get(f"{base}/roleAssignments/{user['object_id']}")
        api.patch(f"{base}/roleAssignments/{user['object_id']}", json={"role": "Member"})
        api.delete(f"{base}/roleAssignments/{user['object_id']}")

        folder = api.post(f"{base}/folders", json={"displayName": "F"}).json()["id"]
        sub = api.post(f"{base}/folders", json={"displayName": "S", "parentFolderId": folder}).json()["id"]
        api.get(f"{base}/folders")
        api.get(f"{base}/folders/{sub}")
        api.patch(f"{base}/folders/{sub}", json={"displayName": "S2"})
        api.post(f"{base}/folders/{sub}/move", json={})
        api.post(f"{base}/folders/{sub}/move", json={"targetFolderId": folder})

        pipe = api.post(f"{base}/dataPipelines", json={"displayName": "P", "definition": _definition({"properties": {}}),
                                                       "folderId": folder}).json()["id"]
        item = api.post(f"{base}/items", json={"displayName": "N", "type": "Notebook"}).json()["id"]
        api.get(f"{base}/items")
        api.get(f"{base}/dataPipelines")
        api.get(f"{base}/items/{item}")
        api.get(f"{base}/dataPipelines/{pipe}")
        api.patch(f"{base}/items/{item}", json={"description": "d"})
        api.patch(f"{base}/dataPipelines/{pipe}", json={"description": "d"})
        api.post(f"{base}/items/{pipe}/getDefinition")
        api.post(f"{base}/dataPipelines/{pipe}/getDefinition")
        api.post(f"{base}/items/{pipe}/updateDefinition", json={"definition": _definition({"properties": {}})})
        api.post(f"{base}/dataPipelines/{pipe}/updateDefinition?updateMetadata=true",
                 json={"definition": _definition({"properties": {}})})
        api.post(f"{base}/items/{item}/move", json={"targetFolderId": folder})

        with emulator.config(lro_mode="always", lro_duration_seconds=0.05, page_size=1):
            resp = api.post(f"{base}/dataPipelines", json={"displayName": "L", "definition": _definition({})})
            assert resp.status_code == 202
            done = _wait(api, resp.headers["Location"])
            # The result operation is typed "file" in the spec: check it against the originating operation.
            created = api.get(done.headers["Location"]).json()
            recorder.spec.validate(_join(SPEC_DIR / "dataPipeline" / "definitions.json",
                                         "definitions.json#/definitions/DataPipeline"), created)
            resp = api.post(f"{base}/items/{pipe}/getDefinition")
            definition = api.get(_wait(api, resp.headers["Location"]).headers["Location"]).json()
            recorder.spec.validate(_join(SPEC_DIR / "platform" / "definitions" / "platform.json",
                                         "platform.json#/definitions/ItemDefinitionResponse"), definition)
            api.get(f"{base}/items")  # paged: continuationToken/continuationUri present
            api.get(f"{v1}/capacities")

        # Error answers validate as ErrorResponse too.
        api.get(f"{base}/items/{uuid.uuid4()}")
        api.post(f"{base}/items", json={"displayName": "N", "type": "Notebook"})
        api.post(f"{base}/items", data=b"{oops", headers={"content-type": "application/json"})
        api.get(f"{v1}/workspaces/{uuid.uuid4()}")
        api.get(f"{v1}/operations/{uuid.uuid4()}")
        api.get(f"{v1}/no/such/route")
        _session(emulator, recorder, token="").get(f"{v1}/workspaces")

        api.delete(f"{base}/items/{item}")
        api.delete(f"{base}/dataPipelines/{pipe}?hardDelete=true")
        api.post(f"{base}/items/{item}/move", json={})
        api.delete(f"{base}/folders/{sub}")
    finally:
        api.delete(base)

    succeeded = {op for op, statuses in recorder.seen.items() if any(s < 400 for s in statuses)}
    assert succeeded >= IMPLEMENTED, f"operations never exercised: {sorted(IMPLEMENTED - succeeded)}"
    assert recorder.validated > 40


# -- 2. the spec's examples replay ------------------------------------------------------------------


def _examples() -> list[tuple[str, str]]:
    return spec_examples(SWAGGERS, IMPLEMENTED)


@pytest.fixture
def replay_workspace(emulator: Any) -> Iterator[tuple[requests.Session, str]]:
    api = emulator.session()
    ws = api.post(f"{emulator.api_url}/workspaces", json={"displayName": f"ex-{uuid.uuid4().hex[:10]}"}).json()["id"]
    yield api, ws
    api.delete(f"{emulator.api_url}/workspaces/{ws}")


@pytest.mark.parametrize(("operation_id", "example_file"), _examples(), ids=lambda v: Path(v).stem if "/" in v else v)
def test_spec_example_replays(emulator: Any, spec: Spec, recorder: Recorder, operation_id: str, example_file: str,
                              replay_workspace: tuple[requests.Session, str]) -> None:
    setup_api, ws = replay_workspace
    api = _session(emulator, recorder)
    v1 = emulator.api_url
    operation = spec.by_id[operation_id]
    example = json.loads((SPEC_DIR / example_file).read_text())
    params: dict[str, Any] = dict(example.get("parameters", {}))
    declared = {p["name"]: p for p in operation["op"].get("parameters", []) if "name" in p}

    folder = setup_api.post(f"{v1}/workspaces/{ws}/folders", json={"displayName": "ExampleFolder"}).json()["id"]
    target_folder = setup_api.post(f"{v1}/workspaces/{ws}/folders", json={"displayName": "Target"}).json()["id"]
    item_type = "Report" if operation_id == "Items_UpdateItemDefinition" else "DataPipeline"
    item = setup_api.post(f"{v1}/workspaces/{ws}/items",
                          json={"displayName": "ExampleItem", "type": item_type}).json()["id"]
    assignee = str(uuid.uuid4())
    setup_api.post(f"{v1}/workspaces/{ws}/roleAssignments",
                   json={"principal": {"id": assignee, "type": "User"}, "role": "Viewer"})
    real = {"workspaceId": ws, "itemId": item, "dataPipelineId": item, "folderId": folder,
            "workspaceRoleAssignmentId": assignee, "capacityId": "0f084df7-c13d-451b-af5f-ed0c466403b2"}
    if "operationId" in declared:
        with emulator.config(lro_mode="always", lro_duration_seconds=0.05):
            resp = setup_api.post(f"{v1}/workspaces/{ws}/items/{item}/getDefinition")
        _wait(setup_api, resp.headers["Location"])
        real["operationId"] = resp.headers["x-ms-operation-id"]

    path = example_path(operation["template"], real)
    query, body = example_query_and_body(params, declared, real["folderId"])
    if isinstance(body, dict):
        # Example ids name objects that only exist in Microsoft's tenant: point them at ours.
        for key in ("folderId", "parentFolderId", "targetFolderId"):
            if key in body:
                body[key] = target_folder
        if operation_id == "Workspaces_CreateWorkspace" or (
                operation_id == "Workspaces_UpdateWorkspace" and "displayName" in body):
            body["displayName"] = f"{body['displayName']} {uuid.uuid4().hex[:8]}"  # tenant-unique names
        if operation_id == "Workspaces_AddWorkspaceRoleAssignment":
            body["principal"]["id"] = str(uuid.uuid4())

    resp = api.request(operation["method"], f"{v1}{path}", params=query, json=body)
    expected = {int(code) for code in example["responses"]}
    assert resp.status_code in expected, f"{example_file}: {resp.status_code} {resp.text[:400]}"
    assert operation_id in recorder.seen
    if operation_id == "Workspaces_CreateWorkspace":
        setup_api.delete(f"{v1}/workspaces/{resp.json()['id']}")
