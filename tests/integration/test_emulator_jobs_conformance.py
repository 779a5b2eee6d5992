"""Conformance of the emulator's job and schedule operations with the official Fabric spec.

The same machinery as test_emulator_conformance.py (imported from it): every response is validated
against the spec's schema for its operation and status, $refs resolved across files. On top of
that, for these operations:

- 202 answers of run-on-demand and cancel carry an absolute ``Location`` that points at the job
  instance and an integer ``Retry-After``; 201 answers of create-schedule an absolute ``Location``.
- Schedule configurations are checked against their concrete type (``CronScheduleConfig`` ...,
  ``DayOfMonth`` / ``OrdinalWeekday``): Swagger's ``discriminator`` is not applied by JSON Schema,
  so the plain schema would only check the base ``ScheduleConfig``.
- Timestamps the emulator writes are UTC with a ``Z`` (the spec's descriptions say "in UTC").
- Routes the emulator serves beyond the spec (the legacy ``?jobType=`` run, ``.../jobs/{jobType}/
  instances`` reads, cancel under ``/dataPipelines``) answer bodies valid for their spec twin.
- The spec's examples for these operations are replayed against a real workspace and pipeline.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import EmulatorProcess
from tests.integration import test_emulator_conformance as conformance
from tests.integration.test_emulator_conformance import (
    SPEC_DIR,
    Recorder,
    Spec,
    _join,
    _session,
    example_path,
    spec_examples,
)

pytestmark = pytest.mark.timeout(120)

#: Simulated time compressed 100x: a 30 s Wait takes 0.3 s, a 1-minute Cron schedule fires every 0.6 s.
FAST = {"time_factor": 0.01, "activity_duration_seconds": 0.05}
TERMINAL = ("Completed", "Failed", "Cancelled", "Deduped")

JOB_OPERATIONS = {
    "JobScheduler_RunOnDemandItemJob", "JobScheduler_GetItemJobInstance", "JobScheduler_ListItemJobInstances",
    "JobScheduler_CancelItemJobInstance", "JobScheduler_CreateItemSchedule", "JobScheduler_GetItemSchedule",
    "JobScheduler_ListItemSchedules", "JobScheduler_UpdateItemSchedule", "JobScheduler_DeleteItemSchedule",
    "BackgroundJobs_RunOnDemandExecute", "BackgroundJobs_GetExecuteJobInstance",
    "BackgroundJobs_ListExecuteJobInstances", "BackgroundJobs_ScheduleExecute", "BackgroundJobs_GetExecuteSchedule",
    "BackgroundJobs_ListExecuteSchedules", "BackgroundJobs_UpdateExecuteSchedule",
    "BackgroundJobs_DeleteExecuteSchedule",
}

#: A time the emulator writes itself: UTC, seconds, optional fraction, "Z".
UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")
#: A schedule's start/end as the spec's examples write them (the offset may be left out).
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")

JOB_SCHEDULING = SPEC_DIR / "common" / "job_scheduling.json"
WAIT_PIPELINE = {"properties": {"activities": [
    {"name": "Wait1", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 30}}]}}
LONG_PIPELINE = {"properties": {"activities": [
    {"name": "Long", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 3000}}]}}
FAILING_PIPELINE = {"properties": {"activities": [
    {"name": "Boom", "type": "Fail", "typeProperties": {"message": "no data", "errorCode": "E17"}}]}}

CONFIGURATIONS: list[dict[str, Any]] = [
    {"type": "Cron", "interval": 10},
    {"type": "Daily", "times": ["09:00", "15:30"]},
    {"type": "Weekly", "times": ["10:00"], "weekdays": ["Monday", "Friday"]},
    {"type": "Monthly", "recurrence": 1, "times": ["06:00"],
     "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 31}},
    {"type": "Monthly", "recurrence": 3, "times": ["06:00"],
     "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "Fifth", "weekday": "Sunday"}},
]
WINDOW = {"startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2031-01-01T00:00:00Z",
          "localTimeZoneId": "Central Standard Time"}


# -- fixtures: the conformance module's own, read through the module (an imported fixture name would
# be shadowed by the test parameters that request it, which the linter refuses) ---------------------

spec = conformance.spec
recorder = conformance.recorder
replay_workspace = conformance.replay_workspace


# -- checks -----------------------------------------------------------------------------------------


def _pipeline(setup: requests.Session, v1: str, ws: str, content: dict[str, Any], name: str) -> str:
    payload = base64.b64encode(json.dumps(content).encode()).decode()
    resp = setup.post(f"{v1}/workspaces/{ws}/dataPipelines", json={
        "displayName": name,
        "definition": {"parts": [{"path": "pipeline-content.json", "payload": payload,
                                  "payloadType": "InlineBase64"}]}})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _accepted(resp: requests.Response, emulator: EmulatorProcess, ws: str, item: str) -> str:
    """Check a 202 of run/cancel; returns the job instance URL it names."""
    assert resp.status_code == 202, resp.text
    location = resp.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme == "https" and f"{parts.scheme}://{parts.netloc}" == emulator.base_url, location
    assert re.fullmatch(rf"/v1/workspaces/{ws}/items/{item}/jobs/instances/[0-9a-f-]{{36}}", parts.path), location
    assert re.fullmatch(r"\d+", resp.headers["Retry-After"]), resp.headers["Retry-After"]
    return location


def _check_job(job: dict[str, Any]) -> None:
    for key in ("startTimeUtc", "endTimeUtc"):
        if key in job:
            assert UTC_STAMP.match(job[key]), f"{key}={job[key]!r}"
    if job["status"] in ("Completed", "Failed", "Cancelled"):
        assert "endTimeUtc" in job, job
    if job["status"] == "Failed":
        assert job["failureReason"]["errorCode"] and job["failureReason"]["message"], job


def _check_schedule(spec: Spec, schedule: dict[str, Any]) -> None:
    """The parts of an ItemSchedule the plain schema cannot see (discriminated subtypes, formats)."""
    config = schedule["configuration"]
    spec.validate(_join(JOB_SCHEDULING, f"job_scheduling.json#/definitions/{config['type']}ScheduleConfig"), config)
    if config["type"] == "Monthly":
        occurrence = config["occurrence"]
        spec.validate(_join(JOB_SCHEDULING, f"job_scheduling.json#/definitions/{occurrence['occurrenceType']}"),
                      occurrence)
    assert DATE_TIME.match(config["startDateTime"]) and DATE_TIME.match(config["endDateTime"]), config
    assert UTC_STAMP.match(schedule["createdDateTime"]), schedule["createdDateTime"]
    assert schedule["owner"]["type"] in ("User", "ServicePrincipal"), schedule["owner"]


def _as(spec: Spec, operation_id: str, resp: requests.Response) -> Any:
    """Validate a response of an emulator-only route against its spec twin's schema; returns the body."""
    ref, documented = spec.schema_ref(spec.by_id[operation_id], resp.status_code)
    assert documented and ref is not None, f"{operation_id} {resp.status_code}: {resp.text[:300]}"
    assert resp.headers.get("content-type", "").startswith("application/json")
    body = resp.json()
    spec.validate(ref, body)
    return body


def _wait(api: requests.Session, location: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resp = api.get(location)
        assert resp.status_code == 200, resp.text
        job: dict[str, Any] = resp.json()
        _check_job(job)
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s"
        time.sleep(0.05)


# -- 1. a tour of every job and schedule operation ----------------------------------------------------


def test_job_operations_match_the_spec(emulator: EmulatorProcess, spec: Spec, recorder: Recorder) -> None:
    api = _session(emulator, recorder)
    plain = emulator.session()  # for routes the spec does not have (the recorder would refuse them)
    v1 = emulator.api_url
    ws = plain.post(f"{v1}/workspaces", json={"displayName": f"jobconf-{uuid.uuid4().hex[:8]}"}).json()["id"]
    base = f"{v1}/workspaces/{ws}"
    try:
        with emulator.config(**FAST):
            pipe = _pipeline(plain, v1, ws, WAIT_PIPELINE, "Wait")
            failing = _pipeline(plain, v1, ws, FAILING_PIPELINE, "Failing")
            long = _pipeline(plain, v1, ws, LONG_PIPELINE, "Long")

            # Run on demand: generic path (with and without a body) and the dataPipeline swagger's path.
            first = _accepted(api.post(f"{base}/items/{pipe}/jobs/Pipeline/instances"), emulator, ws, pipe)
            fresh = api.get(first).json()  # NotStarted/InProgress: unknown times must not be null
            assert fresh["status"] in ("NotStarted", "InProgress", "Completed") and fresh["invokeType"] == "Manual"
            _check_job(fresh)
            second = _accepted(api.post(f"{base}/items/{pipe}/jobs/Execute/instances", json={
                "executionData": {"note": "x"},
                "parameters": [{"name": "p1", "type": "Text", "value": "v"},
                               {"name": "p2", "type": "Number", "value": 2}]}), emulator, ws, pipe)
            third = _accepted(api.post(f"{base}/dataPipelines/{pipe}/jobs/execute/instances"), emulator, ws, pipe)
            for location in (first, second, third):
                assert _wait(api, location)["status"] == "Completed"
            job_id = third.rsplit("/", 1)[1]
            got = api.get(f"{base}/dataPipelines/{pipe}/jobs/execute/instances/{job_id}").json()
            assert got["id"] == job_id and got["itemId"] == pipe and got["status"] == "Completed"
            assert "failureReason" not in got

            failed = _wait(api, _accepted(api.post(f"{base}/items/{failing}/jobs/Pipeline/instances"),
                                          emulator, ws, failing))
            assert failed["status"] == "Failed" and failed["failureReason"]["errorCode"] == "E17"

            running = _accepted(api.post(f"{base}/items/{long}/jobs/Pipeline/instances"), emulator, ws, long)
            running_id = running.rsplit("/", 1)[1]
            cancel = api.post(f"{base}/items/{long}/jobs/instances/{running_id}/cancel")
            assert _accepted(cancel, emulator, ws, long) == running
            assert _wait(api, running)["status"] == "Cancelled"

            listed = api.get(f"{base}/items/{pipe}/jobs/instances").json()["value"]
            assert {first, second, third} == {f"{base}/items/{pipe}/jobs/instances/{j['id']}" for j in listed}
            assert len(api.get(f"{base}/dataPipelines/{pipe}/jobs/execute/instances").json()["value"]) == 3
            with emulator.config(page_size=1):
                paged = api.get(f"{base}/dataPipelines/{pipe}/jobs/execute/instances").json()
                assert len(paged["value"]) == 1 and paged["continuationUri"].startswith("https://")
                api.get(paged["continuationUri"])

            # Schedules, every configuration type, on both paths; executionData kept on the generic one.
            for config in CONFIGURATIONS:
                for path, extra in ((f"{base}/items/{pipe}/jobs/Pipeline/schedules", {"executionData": {"k": 1}}),
                                    (f"{base}/dataPipelines/{pipe}/jobs/execute/schedules", {})):
                    created = api.post(path, json={"enabled": False, "configuration": {**config, **WINDOW}, **extra})
                    assert created.status_code == 201, created.text
                    schedule = created.json()
                    _check_schedule(spec, schedule)
                    assert schedule["configuration"] == {**config, **WINDOW}
                    assert schedule.get("executionData") == extra.get("executionData")
                    location = created.headers["Location"]
                    assert location.startswith("https://") and location.endswith(f"/schedules/{schedule['id']}")
                    assert api.get(location).json() == schedule  # the Location really names it
                    assert api.get(f"{path}/{schedule['id']}").json() == schedule
                    updated = api.patch(f"{path}/{schedule['id']}", json={"enabled": True, "configuration": {
                        **config, **WINDOW, "localTimeZoneId": "UTC"}}).json()
                    _check_schedule(spec, updated)
                    assert updated["enabled"] and updated["configuration"]["localTimeZoneId"] == "UTC"
                    assert updated["createdDateTime"] == schedule["createdDateTime"]
                    for listed_schedule in api.get(path).json()["value"]:
                        _check_schedule(spec, listed_schedule)
                    assert api.delete(f"{path}/{schedule['id']}").status_code == 200
                    assert api.get(f"{path}/{schedule['id']}").status_code == 404

            # A schedule that fires: its job instances say invokeType Scheduled and validate too.
            cron = api.post(f"{base}/dataPipelines/{pipe}/jobs/execute/schedules", json={
                "enabled": True, "configuration": {"type": "Cron", "interval": 1, "startDateTime": "2024-01-01T00:00:00",
                                                   "endDateTime": "2099-01-01T00:00:00",
                                                   "localTimeZoneId": "UTC"}}).json()
            deadline = time.monotonic() + 15
            while not any(j["invokeType"] == "Scheduled"
                          for j in api.get(f"{base}/items/{pipe}/jobs/instances").json()["value"]):
                assert time.monotonic() < deadline, "the Cron schedule never fired"
                time.sleep(0.1)
            api.delete(f"{base}/dataPipelines/{pipe}/jobs/execute/schedules/{cron['id']}")

            # Errors answer the spec's ErrorResponse (validated by the recorder).
            assert api.get(f"{base}/items/{pipe}/jobs/instances/{uuid.uuid4()}").status_code == 404
            assert api.post(f"{base}/items/{pipe}/jobs/NoSuchJob/instances").status_code == 400
            assert api.post(f"{base}/items/{pipe}/jobs/Pipeline/instances", json={
                "parameters": [{"name": "p", "value": 1}]}).status_code == 400  # Parameter.type is required
            assert api.post(f"{base}/items/{pipe}/jobs/Pipeline/schedules", json={
                "enabled": True, "configuration": {"type": "Cron", "interval": 0, **WINDOW}}).status_code == 400
            assert api.post(f"{base}/items/{pipe}/jobs/Pipeline/schedules", json={
                "enabled": True, "configuration": {"type": "Daily", "times": ["09:00"], **WINDOW,
                                                   "startDateTime": "2030-01-01"}}).status_code == 400
            assert api.get(f"{base}/dataPipelines/{uuid.uuid4()}/jobs/execute/schedules").status_code == 404

            # Emulator-only routes answer what their spec twins answer.
            legacy = plain.post(f"{base}/items/{pipe}/jobs/instances?jobType=Pipeline")
            legacy_job = _wait(plain, _accepted(legacy, emulator, ws, pipe))
            spec.validate(_join(SPEC_DIR / "platform" / "definitions" / "platform.json",
                                "platform.json#/definitions/ItemJobInstance"), legacy_job)
            _as(spec, "JobScheduler_ListItemJobInstances", plain.get(f"{base}/items/{pipe}/jobs/Pipeline/instances"))
            _as(spec, "JobScheduler_GetItemJobInstance",
                plain.get(f"{base}/items/{pipe}/jobs/Pipeline/instances/{legacy_job['id']}"))
            _as(spec, "JobScheduler_ListItemJobInstances", plain.get(f"{base}/dataPipelines/{pipe}/jobs/instances"))
            again = plain.post(f"{base}/dataPipelines/{long}/jobs/instances/{running_id}/cancel")
            assert _accepted(again, emulator, ws, long) == running and again.content == b""
    finally:
        plain.delete(base)

    succeeded = {op for op, statuses in recorder.seen.items() if any(s < 400 for s in statuses)}
    assert succeeded >= JOB_OPERATIONS, f"operations never exercised: {sorted(JOB_OPERATIONS - succeeded)}"


# -- 2. the spec's examples replay ------------------------------------------------------------------


def _examples() -> list[tuple[str, str]]:
    return spec_examples(("platform/swagger.json", "dataPipeline/swagger.json"), JOB_OPERATIONS, every_file=True)


def test_every_job_operation_has_examples() -> None:
    covered = {op for op, _ in _examples()}
    assert covered == JOB_OPERATIONS, f"no example replayed for {sorted(JOB_OPERATIONS - covered)}"


@pytest.mark.parametrize(("operation_id", "example_file"), _examples(), ids=lambda v: Path(v).stem if "/" in v else v)
def test_job_example_replays(emulator: EmulatorProcess, spec: Spec, recorder: Recorder, operation_id: str,
                             example_file: str, replay_workspace: tuple[requests.Session, str]) -> None:
    setup, ws = replay_workspace
    api = _session(emulator, recorder)
    v1 = emulator.api_url
    operation = spec.by_id[operation_id]
    example = json.loads((SPEC_DIR / example_file).read_text())
    params: dict[str, Any] = dict(example["parameters"])
    declared = {p["name"]: p for p in operation["op"].get("parameters", []) if "name" in p}

    with emulator.config(**FAST):
        content = LONG_PIPELINE if "Cancel" in operation_id else WAIT_PIPELINE
        item = _pipeline(setup, v1, ws, content, "ExamplePipeline")
        # "DefaultJob" is the spec's placeholder job type (like its placeholder ids); pipelines run "Pipeline".
        job_type = "Pipeline" if params.get("jobType", "DefaultJob") == "DefaultJob" else str(params["jobType"])
        real = {"workspaceId": ws, "itemId": item, "dataPipelineId": item, "jobType": job_type}
        generic = f"{v1}/workspaces/{ws}/items/{item}/jobs/{job_type}"
        if "jobInstanceId" in declared:
            run = setup.post(f"{generic}/instances")
            assert run.status_code == 202, run.text
            real["jobInstanceId"] = run.headers["Location"].rsplit("/", 1)[1]
        if "scheduleId" in declared:
            made = setup.post(f"{generic}/schedules", json={"enabled": False, "configuration": {
                "type": "Daily", "times": ["09:00"], **WINDOW}, "executionData": {"seed": True}})
            assert made.status_code == 201, made.text
            real["scheduleId"] = made.json()["id"]

        path = example_path(operation["template"], real)
        body = next((value for name, value in params.items() if declared.get(name, {}).get("in") == "body"), None)
        resp = api.request(operation["method"], f"{v1}{path}", json=body)

        expected = {int(code) for code in example["responses"]}
        assert resp.status_code in expected, f"{example_file}: {resp.status_code} {resp.text[:400]}"
        assert operation_id in recorder.seen
        if resp.status_code == 202:
            location = _accepted(resp, emulator, ws, item)
            if "RunOnDemand" in operation_id:
                # The example's body was really taken: the run it started completes.
                assert _wait(setup, location)["status"] == "Completed"
        elif resp.status_code == 201:
            assert resp.headers["Location"].startswith("https://")
            assert resp.headers["Location"].endswith(f"/schedules/{resp.json()['id']}")
        if isinstance(body, dict) and "configuration" in body:
            schedule = resp.json()
            _check_schedule(spec, schedule)
            assert schedule["configuration"] == body["configuration"]  # kept as sent, spelling included
            if "executionData" in body:
                assert schedule["executionData"] == body["executionData"]
        if resp.status_code == 200 and resp.content:
            value = resp.json()
            for entry in value.get("value", [value]):
                if "configuration" in entry:
                    _check_schedule(spec, entry)
                else:
                    _check_job(entry)
