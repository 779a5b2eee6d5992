"""Pipeline jobs, schedules and activity runs of the emulator, end to end over HTTPS.

Workspaces and pipelines are created through the plain HTTP API. Simulated time is compressed
(time_factor 0.01: a 100 s Wait takes 1 s) so the whole module stays within a few seconds.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.conftest import EmulatorProcess

pytestmark = pytest.mark.timeout(120)

FAST = {"time_factor": 0.01, "activity_duration_seconds": 0.05}
TERMINAL = ("Completed", "Failed", "Cancelled", "Deduped")


# -- helpers ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """Tiny helper around a session for the calls these tests make."""

    def __init__(self, emulator: EmulatorProcess, session: requests.Session | None = None) -> None:
        self.emulator = emulator
        self.s = session or emulator.session()
        self.url = emulator.api_url

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        target = path if path.startswith("https://") else self.url + path
        return self.s.request(method, target, timeout=30, **kwargs)

    def workspace(self) -> str:
        r = self.call("POST", "/workspaces", json={"displayName": f"jobs-{uuid.uuid4().hex[:10]}"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def pipeline(self, ws: str, content: dict[str, Any], name: str | None = None) -> str:
        payload = base64.b64encode(json.dumps(content).encode()).decode()
        body = {
            "displayName": name or f"pl-{uuid.uuid4().hex[:10]}",
            "type": "DataPipeline",
            "definition": {"parts": [{"path": "pipeline-content.json", "payload": payload,
                                      "payloadType": "InlineBase64"}]},
        }
        r = self.call("POST", f"/workspaces/{ws}/items", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def run(self, ws: str, item: str, body: dict[str, Any] | None = None, job_type: str = "Pipeline") -> str:
        r = self.call("POST", f"/workspaces/{ws}/items/{item}/jobs/{job_type}/instances", json=body)
        assert r.status_code == 202, r.text
        assert r.content == b""
        assert int(r.headers["Retry-After"]) >= 1
        location = r.headers["Location"]
        assert location.startswith(self.emulator.base_url + f"/v1/workspaces/{ws}/items/{item}/jobs/instances/")
        return location

    def wait(self, location: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.call("GET", location)
            assert r.status_code == 200, r.text
            job: dict[str, Any] = r.json()
            if job["status"] in TERMINAL:
                return job
            assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s"
            time.sleep(0.05)

    def wait_until_running(self, location: str, timeout: float = 10.0) -> str:
        """Poll the job instance at ``location`` until it is InProgress; its id."""
        deadline = time.monotonic() + timeout
        while self.call("GET", location).json()["status"] != "InProgress":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return location.rsplit("/", 1)[1]

    def activities(self, ws: str, job_id: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        r = self.call("POST", f"/workspaces/{ws}/datapipelines/pipelineruns/{job_id}/queryactivityruns",
                      json=body if body is not None else {})
        assert r.status_code == 200, r.text
        runs = r.json()
        assert isinstance(runs, list)
        return runs

    def jobs(self, ws: str, item: str) -> list[dict[str, Any]]:
        r = self.call("GET", f"/workspaces/{ws}/items/{item}/jobs/instances")
        assert r.status_code == 200, r.text
        return list(r.json()["value"])


def _by_name(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["activityName"]: r for r in runs}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def api(emulator: EmulatorProcess) -> Iterator[Api]:
    with emulator.config(**FAST):
        yield Api(emulator)


# -- runs ---------------------------------------------------------------------------------------


def test_wait_then_failing_activity_fails_the_run(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": [
        {"name": "Wait1", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 30}},
        {"name": "Copy1", "type": "Copy", "typeProperties": {},
         "dependsOn": [{"activity": "Wait1", "dependencyConditions": ["Succeeded"]}]},
        {"name": "AfterCopy", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
         "dependsOn": [{"activity": "Copy1", "dependencyConditions": ["Succeeded"]}]},
    ]}})
    with emulator.config(activity_faults={"Copy1": "fail"}):
        location = api.run(ws, item)
        first = api.call("GET", location).json()
        assert first["status"] in ("NotStarted", "InProgress")
        job = api.wait(location)
    assert job["status"] == "Failed"
    assert job["itemId"] == item and job["jobType"] == "Pipeline" and job["invokeType"] == "Manual"
    assert job["failureReason"]["errorCode"] == "ActivityFaultInjected"
    assert "Copy1" in job["failureReason"]["message"]
    started, ended = _ts(job["startTimeUtc"]), _ts(job["endTimeUtc"])
    assert ended - started >= timedelta(seconds=0.3)  # the 30 s Wait at time_factor 0.01

    runs = _by_name(api.activities(ws, job["id"]))
    assert set(runs) == {"Wait1", "Copy1", "AfterCopy"}
    wait1, copy1 = runs["Wait1"], runs["Copy1"]
    assert wait1["status"] == "Succeeded" and wait1["activityType"] == "Wait"
    assert wait1["input"] == {"waitTimeInSeconds": 30}
    assert wait1["durationInMs"] >= 250
    assert copy1["status"] == "Failed"
    assert copy1["error"]["errorCode"] == "ActivityFaultInjected" and copy1["error"]["target"] == "Copy1"
    assert _ts(copy1["activityRunStart"]) >= _ts(wait1["activityRunEnd"])
    assert runs["AfterCopy"]["status"] == "Skipped"
    for run in runs.values():
        assert run["pipelineRunId"] == job["id"] and run["pipelineId"] == item
        assert run["activityRunId"] and run["id"].endswith(run["activityRunId"])

    failed = api.activities(ws, job["id"], {"filters": [{"operand": "Status", "operator": "Equals",
                                                          "values": ["Failed"]}]})
    assert [r["activityName"] for r in failed] == ["Copy1"]
    not_wait = api.activities(ws, job["id"], {"filters": [{"operand": "ActivityType", "operator": "NotEquals",
                                                            "values": ["Wait"]}]})
    assert [r["activityName"] for r in not_wait] == ["Copy1"]
    ordered = api.activities(ws, job["id"], {"orderBy": [{"orderBy": "ActivityName", "order": "DESC"}]})
    assert [r["activityName"] for r in ordered] == ["Wait1", "Copy1", "AfterCopy"]
    by_start = api.activities(ws, job["id"], {"orderBy": [{"orderBy": "ActivityRunStart", "order": "ASC"}]})
    assert by_start[0]["activityName"] == "Wait1"
    future = _iso(datetime.now(UTC) + timedelta(hours=1))
    assert api.activities(ws, job["id"], {"lastUpdatedAfter": future}) == []
    bad = api.call("POST", f"/workspaces/{ws}/datapipelines/pipelineruns/{job['id']}/queryactivityruns",
                   json={"filters": [{"operand": "Colour", "operator": "Equals", "values": ["x"]}]})
    assert bad.status_code == 400 and "operand" in bad.json()["message"]
    missing = api.call("POST", f"/workspaces/{ws}/datapipelines/pipelineruns/{uuid.uuid4()}/queryactivityruns",
                       json={})
    assert missing.status_code == 404 and missing.json()["errorCode"] == "JobInstanceNotFound"


def test_a_payload_accepted_at_create_also_runs(api: Api) -> None:
    """URL-safe base64 without padding is accepted on create, so the engine must read it too."""
    ws = api.workspace()
    # "?>" in a string makes the standard alphabet emit '/' and '+', so the URL-safe one really differs.
    content = {"properties": {"activities": [{"name": "Set ?>", "type": "SetVariable",
                                              "typeProperties": {"variableName": "v", "value": "??>>"}}],
                              "variables": {"v": {"type": "String"}}}}
    payload = base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")
    assert "-" in payload or "_" in payload
    body = {"displayName": f"pl-{uuid.uuid4().hex[:10]}", "type": "DataPipeline",
            "definition": {"parts": [{"path": "pipeline-content.json", "payload": payload,
                                      "payloadType": "InlineBase64"}]}}
    r = api.call("POST", f"/workspaces/{ws}/items", json=body)
    assert r.status_code == 201, r.text
    job = api.wait(api.run(ws, r.json()["id"]))
    assert job["status"] == "Completed", job


def test_a_pipeline_whose_dependencies_cannot_run_fails_with_the_reason(api: Api) -> None:
    """The service stores what it is given; the run, not the create, refuses a cycle (nested too)."""
    ws = api.workspace()
    cycle = [
        {"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
         "dependsOn": [{"activity": "B", "dependencyConditions": ["Succeeded"]}]},
        {"name": "B", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
         "dependsOn": [{"activity": "A", "dependencyConditions": ["Succeeded"]}]},
    ]
    job = api.wait(api.run(ws, api.pipeline(ws, {"properties": {"activities": cycle}})))
    assert job["status"] == "Failed"
    assert job["failureReason"]["errorCode"] == "InvalidPipelineDefinition"
    assert "dependency cycle: 'A' -> 'B' -> 'A'" in job["failureReason"]["message"]

    nested = [{"name": "If", "type": "IfCondition",
               "typeProperties": {"expression": {"value": "@true", "type": "Expression"},
                                  "ifTrueActivities": [
                                      {"name": "T", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
                                       "dependsOn": [{"activity": "Gone", "dependencyConditions": ["Succeeded"]}]}]}}]
    job = api.wait(api.run(ws, api.pipeline(ws, {"properties": {"activities": nested}})))
    assert job["status"] == "Failed"
    assert "'Gone'" in job["failureReason"]["message"] and "'T'" in job["failureReason"]["message"]


def test_cancel_stops_a_long_run(api: Api) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": [
        {"name": "Long", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 36000}},
        {"name": "Next", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
         "dependsOn": [{"activity": "Long", "dependencyConditions": ["Completed"]}]},
    ]}})
    location = api.run(ws, item)
    job_id = api.wait_until_running(location)
    r = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/instances/{job_id}/cancel")
    assert r.status_code == 202, r.text
    assert r.headers["Location"].endswith(f"/jobs/instances/{job_id}") and r.headers["Retry-After"]
    asked = time.monotonic()
    job = api.wait(location, timeout=5)
    assert time.monotonic() - asked < 2.0
    assert job["status"] == "Cancelled" and job["endTimeUtc"]
    runs = _by_name(api.activities(ws, job_id))
    assert runs["Long"]["status"] == "Cancelled"
    assert "Next" not in runs  # nothing starts after a cancel
    # Cancelling a finished job is accepted and changes nothing.
    again = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/instances/{job_id}/cancel")
    assert again.status_code == 202
    assert api.call("GET", location).json()["status"] == "Cancelled"


def test_execute_pipeline_starts_the_child_as_its_own_job(api: Api) -> None:
    ws = api.workspace()
    child = api.pipeline(ws, {"properties": {
        "parameters": {"greeting": {"type": "string", "defaultValue": "none"}},
        "variables": {"echo": {"type": "String"}},
        "activities": [
            {"name": "Echo", "type": "SetVariable",
             "typeProperties": {"variableName": "echo", "value": "@concat('got ', pipeline().parameters.greeting)"}},
        ]}})
    parent = api.pipeline(ws, {"properties": {
        "parameters": {"who": {"type": "string", "defaultValue": "world"}},
        "activities": [
            {"name": "RunChild", "type": "ExecutePipeline", "typeProperties": {
                "pipeline": {"referenceName": child, "type": "PipelineReference"},
                "parameters": {"greeting": "@concat('hello ', pipeline().parameters.who)"},
                "waitOnCompletion": True}},
        ]}})
    job = api.wait(api.run(ws, parent, {"executionData": {"parameters": {"who": "fabric"}}}))
    assert job["status"] == "Completed", job
    run_child = _by_name(api.activities(ws, job["id"]))["RunChild"]
    assert run_child["status"] == "Succeeded"
    child_jobs = api.jobs(ws, child)
    assert len(child_jobs) == 1
    assert run_child["output"]["pipelineRunId"] == child_jobs[0]["id"] != job["id"]
    assert child_jobs[0]["status"] == "Completed"
    echo = _by_name(api.activities(ws, child_jobs[0]["id"]))["Echo"]
    assert echo["output"]["value"] == "got hello fabric"

    # A failing child fails the waiting parent, naming the parent's activity.
    failing = api.pipeline(ws, {"properties": {"activities": [
        {"name": "Boom", "type": "Fail", "typeProperties": {"message": "child broke", "errorCode": "E42"}}]}})
    parent2 = api.pipeline(ws, {"properties": {"activities": [
        {"name": "Invoke", "type": "ExecutePipeline", "typeProperties": {
            "pipeline": {"referenceName": failing, "type": "PipelineReference"}, "waitOnCompletion": True}}]}})
    job2 = api.wait(api.run(ws, parent2))
    assert job2["status"] == "Failed"
    assert job2["failureReason"]["errorCode"] == "E42"
    assert "Invoke" in job2["failureReason"]["message"] and "child broke" in job2["failureReason"]["message"]
    failing_jobs = api.jobs(ws, failing)
    assert len(failing_jobs) == 1 and failing_jobs[0]["status"] == "Failed"
    boom = _by_name(api.activities(ws, failing_jobs[0]["id"]))["Boom"]
    assert boom["error"]["errorCode"] == "E42" and boom["error"]["message"] == "child broke"


CONTROL_FLOW = {"properties": {
    "parameters": {"n": {"type": "int", "defaultValue": 0},
                   "items": {"type": "array", "defaultValue": ["a", "b", "c"]}},
    "variables": {"label": {"type": "String"}, "seen": {"type": "Array", "defaultValue": []},
                  "count": {"type": "String"}},
    "activities": [
        {"name": "Label", "type": "SetVariable",
         "typeProperties": {"variableName": "label", "value": "@concat('n', string(pipeline().parameters.n))"}},
        {"name": "Check", "type": "IfCondition",
         "dependsOn": [{"activity": "Label", "dependencyConditions": ["Succeeded"]}],
         "typeProperties": {
             "expression": {"value": "@and(greater(pipeline().parameters.n, 2), not(equals(variables('label'), "
                                     "'n0')))", "type": "Expression"},
             "ifTrueActivities": [{"name": "Big", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}],
             "ifFalseActivities": [{"name": "Small", "type": "Fail",
                                    "typeProperties": {"message": "@concat('too small: ', variables('label'))",
                                                       "errorCode": "TooSmall"}}]}},
        {"name": "Each", "type": "ForEach",
         "dependsOn": [{"activity": "Check", "dependencyConditions": ["Succeeded"]}],
         "typeProperties": {"items": {"value": "@pipeline().parameters.items", "type": "Expression"},
                            "isSequential": True,
                            "activities": [{"name": "Collect", "type": "AppendVariable",
                                            "typeProperties": {"variableName": "seen", "value": "@item()"}}]}},
        {"name": "Count", "type": "SetVariable",
         "dependsOn": [{"activity": "Each", "dependencyConditions": ["Succeeded"]}],
         "typeProperties": {"variableName": "count", "value": "@string(length(variables('seen')))"}},
        {"name": "Disabled", "type": "Copy", "state": "Inactive", "onInactiveMarkAs": "Skipped",
         "typeProperties": {}},
        {"name": "AfterDisabled", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1},
         "dependsOn": [{"activity": "Disabled", "dependencyConditions": ["Skipped"]}]},
        {"name": "Flaky", "type": "WebActivity", "policy": {"retry": 2, "retryIntervalInSeconds": 10},
         "typeProperties": {}},
    ]}}


def test_if_condition_for_each_set_variable_inactive_and_retry(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, CONTROL_FLOW)
    with emulator.config(activity_faults={"Flaky": "fail_once"}):
        # Newer request shape: a top-level parameters array.
        job = api.wait(api.run(ws, item, {"parameters": [
            {"name": "n", "type": "Automatic", "value": 5},
            {"name": "items", "type": "Automatic", "value": ["x", "y", "z", "w"]}]}))
    assert job["status"] == "Completed", job
    runs = api.activities(ws, job["id"])
    names = [r["activityName"] for r in runs]
    by_name = _by_name(runs)
    assert by_name["Label"]["output"] == {"name": "label", "value": "n5"}
    assert by_name["Check"]["status"] == "Succeeded" and "Big" in names and "Small" not in names
    collects = [r for r in runs if r["activityName"] == "Collect"]
    assert [c["output"]["value"] for c in collects] == [["x"], ["x", "y"], ["x", "y", "z"], ["x", "y", "z", "w"]]
    assert by_name["Count"]["output"]["value"] == "4"
    assert by_name["Disabled"]["status"] == "Skipped"
    assert by_name["AfterDisabled"]["status"] == "Succeeded"
    flaky = [r for r in runs if r["activityName"] == "Flaky"]
    assert [(r["status"], r["retryAttempt"]) for r in flaky] == [("Failed", None), ("Succeeded", 1)]

    # Older request shape (executionData.parameters) with text values coerced to the declared type.
    job2 = api.wait(api.run(ws, item, {"executionData": {"parameters": {"n": "1"}}}))
    assert job2["status"] == "Failed"
    assert job2["failureReason"]["errorCode"] == "TooSmall"
    assert "Check" in job2["failureReason"]["message"] and "too small: n1" in job2["failureReason"]["message"]
    runs2 = _by_name(api.activities(ws, job2["id"]))
    assert runs2["Small"]["status"] == "Failed" and "Each" in runs2 and runs2["Each"]["status"] == "Skipped"


def test_legacy_job_type_query_twins_and_paging(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": []}})
    r = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/instances?jobType=Pipeline")
    assert r.status_code == 202, r.text
    first = api.wait(r.headers["Location"])
    assert first["status"] == "Completed" and first["jobType"] == "Pipeline"
    for bad in ("?jobType=DefaultJob", ""):
        r = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/instances{bad}")
        assert r.status_code == 400 and r.json()["errorCode"] == "InvalidJobType", r.text
    r = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/Refresh/instances")
    assert r.status_code == 400 and r.json()["errorCode"] == "InvalidJobType"
    # The dataPipelines twin with the spec's job type.
    r = api.call("POST", f"/workspaces/{ws}/dataPipelines/{item}/jobs/execute/instances", json={})
    assert r.status_code == 202, r.text
    second = api.wait(r.headers["Location"])
    assert second["jobType"] == "execute"
    r = api.call("GET", f"/workspaces/{ws}/dataPipelines/{item}/jobs/execute/instances/{second['id']}")
    assert r.status_code == 200 and r.json()["id"] == second["id"]
    third = api.wait(api.run(ws, item, job_type="Execute"))
    with emulator.config(page_size=2):
        r = api.call("GET", f"/workspaces/{ws}/items/{item}/jobs/instances")
        body = r.json()
        assert [j["id"] for j in body["value"]] == [third["id"], second["id"]]  # newest first
        assert body["continuationToken"] and body["continuationUri"]
        rest = api.call("GET", body["continuationUri"]).json()
        assert [j["id"] for j in rest["value"]] == [first["id"]] and "continuationToken" not in rest
    r = api.call("GET", f"/workspaces/{ws}/items/{item}/jobs/instances/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["errorCode"] == "JobInstanceNotFound"
    r = api.call("POST", f"/workspaces/{ws}/items/{uuid.uuid4()}/jobs/Pipeline/instances")
    assert r.status_code == 404 and r.json()["errorCode"] == "ItemNotFound"


def test_viewer_reads_but_cannot_run_or_schedule(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": []}})
    viewer_sp = emulator.service_principals[1]
    r = api.call("POST", f"/workspaces/{ws}/roleAssignments",
                 json={"principal": {"id": viewer_sp["object_id"], "type": "ServicePrincipal"}, "role": "Viewer"})
    assert r.status_code in (200, 201), r.text
    job = api.wait(api.run(ws, item))
    viewer = Api(emulator, emulator.session(emulator.token(client_id=viewer_sp["client_id"])))
    assert viewer.call("GET", f"/workspaces/{ws}/items/{item}/jobs/instances/{job['id']}").status_code == 200
    assert viewer.activities(ws, job["id"]) == []
    r = viewer.call("POST", f"/workspaces/{ws}/items/{item}/jobs/Pipeline/instances")
    assert r.status_code == 403 and r.json()["errorCode"] == "InsufficientPrivileges"
    r = viewer.call("POST", f"/workspaces/{ws}/items/{item}/jobs/instances/{job['id']}/cancel")
    assert r.status_code == 403
    r = viewer.call("POST", f"/workspaces/{ws}/items/{item}/jobs/Pipeline/schedules", json={
        "enabled": True, "configuration": {"type": "Cron", "interval": 5, "startDateTime": "2030-01-01T00:00:00",
                                           "endDateTime": "2030-02-01T00:00:00", "localTimeZoneId": "UTC"}})
    assert r.status_code == 403
    assert viewer.call("GET", f"/workspaces/{ws}/items/{item}/jobs/Pipeline/schedules").status_code == 200


# -- schedules ----------------------------------------------------------------------------------


def test_cron_schedule_fires_with_a_fast_time_factor(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": []}})
    now = datetime.now(UTC)
    # time_factor 0.01: a 1-minute interval fires every 0.6 real seconds.
    r = api.call("POST", f"/workspaces/{ws}/items/{item}/jobs/Pipeline/schedules", json={
        "enabled": True, "configuration": {"type": "Cron", "interval": 1, "startDateTime": _iso(now - timedelta(
            minutes=10)), "endDateTime": _iso(now + timedelta(days=1)), "localTimeZoneId": "UTC"}})
    assert r.status_code == 201, r.text
    schedule_url = r.headers["Location"]
    deadline = time.monotonic() + 10
    while len(scheduled := [j for j in api.jobs(ws, item) if j["invokeType"] == "Scheduled"]) < 2:
        assert time.monotonic() < deadline, "the schedule did not fire twice within 10 s"
        time.sleep(0.1)
    assert all(j["jobType"] == "Pipeline" for j in scheduled)
    # Disabled: no further runs.
    r = api.call("PATCH", schedule_url, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    time.sleep(0.3)  # a run being fired as the PATCH lands may still appear
    settled = len(api.jobs(ws, item))
    time.sleep(1.5)
    assert len(api.jobs(ws, item)) == settled
    assert api.call("DELETE", schedule_url).status_code == 200


def test_schedule_crud_validation_and_time_zone(api: Api, emulator: EmulatorProcess) -> None:
    ws = api.workspace()
    item = api.pipeline(ws, {"properties": {"activities": []}})
    base = f"/workspaces/{ws}/items/{item}/jobs/Pipeline/schedules"
    config = {"type": "Daily", "times": ["09:00", "17:30"], "startDateTime": "2030-04-28T00:00:00",
              "endDateTime": "2030-04-30T23:59:00", "localTimeZoneId": "W. Europe Standard Time"}
    r = api.call("POST", base, json={"enabled": True, "configuration": config})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["Location"] == f"{emulator.api_url}{base}/{created['id']}"
    assert created["enabled"] is True and created["configuration"] == config
    assert created["owner"] == {"id": emulator.default_sp["object_id"], "type": "ServicePrincipal"}
    assert _ts(created["createdDateTime"]) <= datetime.now(UTC) + timedelta(seconds=5)
    got = api.call("GET", f"{base}/{created['id']}").json()
    assert got == created
    listed = api.call("GET", base).json()["value"]
    assert [s["id"] for s in listed] == [created["id"]]

    weekly = {"type": "Weekly", "times": ["18:09"], "weekdays": ["Monday", "Friday"],
              "startDateTime": "2030-04-28T00:00:00Z", "endDateTime": "2030-06-30T23:59:00Z",
              "localTimeZoneId": "India Standard Time"}
    r = api.call("PATCH", f"{base}/{created['id']}", json={"enabled": False, "configuration": weekly})
    assert r.status_code == 200, r.text
    assert r.json()["configuration"] == weekly and r.json()["enabled"] is False
    assert api.call("GET", f"{base}/{created['id']}").json()["configuration"]["localTimeZoneId"] == "India Standard Time"

    monthly = {"type": "Monthly", "recurrence": 2, "times": ["06:00"],
               "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "Fifth", "weekday": "Sunday"},
               "startDateTime": "2030-01-01T00:00:00", "endDateTime": "2031-01-01T00:00:00",
               "localTimeZoneId": "Tokyo Standard Time"}
    r = api.call("POST", base, json={"enabled": True, "configuration": monthly})
    assert r.status_code == 201, r.text
    assert r.json()["configuration"] == monthly

    invalid: list[tuple[dict[str, Any], str]] = [
        ({**config, "localTimeZoneId": "Mars Standard Time"}, "localTimeZoneId"),
        ({**config, "type": "Cron", "interval": 0}, "interval"),
        ({**config, "times": ["25:00"]}, "times"),
        ({**config, "endDateTime": "2030-04-01T00:00:00"}, "endDateTime"),
        ({**config, "type": "Weekly", "weekdays": ["Funday"]}, "weekdays"),
        ({**config, "type": "Monthly", "recurrence": 1}, "occurrence"),
        ({**config, "type": "Hourly"}, "type"),
        ({k: v for k, v in config.items() if k != "startDateTime"}, "startDateTime"),
    ]
    for bad, field in invalid:
        r = api.call("POST", base, json={"enabled": True, "configuration": bad})
        assert r.status_code == 400, (field, r.text)
        assert r.json()["errorCode"] == "InvalidInput" and field in r.json()["message"], r.text
    r = api.call("POST", base, json={"configuration": config})
    assert r.status_code == 400 and "enabled" in r.json()["message"]

    # At most 20 schedules per item.
    for _ in range(18):
        assert api.call("POST", base, json={"enabled": False, "configuration": config}).status_code == 201
    r = api.call("POST", base, json={"enabled": False, "configuration": config})
    assert r.status_code == 409 and r.json()["errorCode"] == "ScheduleExceedsLimit"

    # The dataPipelines twin sees the same schedules.
    twin = api.call("GET", f"/workspaces/{ws}/dataPipelines/{item}/jobs/execute/schedules")
    assert twin.status_code == 200 and len(twin.json()["value"]) == 20

    assert api.call("DELETE", f"{base}/{created['id']}").status_code == 200
    r = api.call("GET", f"{base}/{created['id']}")
    assert r.status_code == 404 and r.json()["errorCode"] == "ScheduleNotFound"

    # Deleting the item removes its schedules and job instances.
    assert api.call("DELETE", f"/workspaces/{ws}/items/{item}").status_code == 200
    assert api.call("GET", base).status_code == 404


def test_jobs_running_when_the_emulator_stops_are_failed_on_restart(emulator_factory: Any) -> None:
    private: EmulatorProcess = emulator_factory()
    api = Api(private)
    with private.config(time_factor=1.0):
        ws = api.workspace()
        item = api.pipeline(ws, {"properties": {"activities": [
            {"name": "Forever", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 3600}}]}})
        location = api.run(ws, item)
        job_id = api.wait_until_running(location)
    private.restart()
    api = Api(private)
    job = api.call("GET", f"/workspaces/{ws}/items/{item}/jobs/instances/{job_id}").json()
    assert job["status"] == "Failed"
    assert job["failureReason"]["errorCode"] == "JobInterrupted"
    runs = api.activities(ws, job_id)
    assert [r["status"] for r in runs] == ["Cancelled"]
