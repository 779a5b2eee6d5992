"""The run-and-watch command line against the emulator over HTTPS.

Commands run both as real subprocesses (`python -m fabric_resources.cli ...`, exactly what a user
types) and in-process through ``main(argv)`` (faster, same code). Every captured output is checked
for secrets: the client secret, and anything shaped like a bearer token, must never appear.

Set-up (workspaces, pipelines) goes through the client library, as a user's own scripts would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.cli import main
from fabric_resources.client import FabricClient
from fabric_resources.models import ItemDefinition
from fabric_resources.settings import FabricSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.")
# Emulated time runs 100x faster: a 1 s Wait takes 10 ms, a 600 s Wait about 6 s.
FAST = {"time_factor": 0.01, "activity_duration_seconds": 0.05}
POLL = ["--poll-interval", "0.1"]


def _wait(name: str, seconds: int, depends_on: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "type": "Wait",
        "dependsOn": depends_on or [],
        "typeProperties": {"waitTimeInSeconds": seconds},
    }


def _after(activity: str, condition: str = "Succeeded") -> list[dict[str, Any]]:
    return [{"activity": activity, "dependencyConditions": [condition]}]


FAIL_MESSAGE = "the upstream extract found no files"
PIPELINES: dict[str, list[dict[str, Any]]] = {
    "cli-quick": [_wait("Pause", 1)],
    # A Wait, then a dependent activity that fails: the run must fail naming it.
    "cli-wait-then-fail": [
        _wait("Wait1", 1),
        {
            "name": "FailIfEmpty",
            "type": "Fail",
            "dependsOn": _after("Wait1"),
            "typeProperties": {"message": FAIL_MESSAGE, "errorCode": "4242"},
        },
    ],
    # The failure message comes from a run parameter (passed with --param).
    "cli-param": [
        {
            "name": "Echo",
            "type": "Fail",
            "typeProperties": {"message": "@pipeline().parameters.reason", "errorCode": "1"},
        }
    ],
    # Ten emulated minutes: about six real seconds at the fast time factor, long enough to cancel.
    "cli-long": [_wait("LongWait", 600)],
}


def _definition(activities: list[dict[str, Any]]) -> ItemDefinition:
    properties: dict[str, Any] = {"activities": activities}
    if any("parameters." in json.dumps(a) for a in activities):
        properties["parameters"] = {"reason": {"type": "String", "defaultValue": "no reason given"}}
    return ItemDefinition.from_files({"pipeline-content.json": {"properties": properties}})


@dataclass
class World:
    client: FabricClient
    workspace_id: str
    workspace_name: str
    other_workspace_id: str
    pipelines: dict[str, str]  # display name -> id
    dup_ids: list[str]  # ids of the two pipelines sharing the name "cli-dup"


@pytest.fixture(scope="module")
def fast_emulator(emulator: Any) -> Iterator[Any]:
    with emulator.config(**FAST):
        yield emulator


@pytest.fixture(scope="module")
def world(fast_emulator: Any) -> Iterator[World]:
    client = FabricClient(FabricSettings.from_emulator(fast_emulator.data_dir))
    suffix = uuid.uuid4().hex[:8]
    ws = client.workspaces.create(f"cli-jobs-{suffix}")
    other = client.workspaces.create(f"cli-jobs-other-{suffix}")
    pipelines = {}
    for name, activities in PIPELINES.items():
        item = client.items.create(ws.id, display_name=name, type="DataPipeline", definition=_definition(activities))
        pipelines[name] = item.id
    dup_ids = [
        client.items.create(w, display_name="cli-dup", type="DataPipeline", definition=_definition([_wait("W", 1)])).id
        for w in (ws.id, other.id)
    ]
    try:
        yield World(client, ws.id, ws.display_name, other.id, pipelines, dup_ids)
    finally:
        for workspace_id in (ws.id, other.id):
            # Best effort: the emulator's data dir is temporary anyway.
            with contextlib.suppress(Exception):
                client.workspaces.delete(workspace_id)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def _check_no_secrets(emulator: Any, *texts: str) -> None:
    secret = emulator.default_sp["client_secret"]
    for text in texts:
        assert secret not in text
        assert not JWT.search(text), "a bearer token leaked into the output"
        assert "Traceback" not in text


def _env(emulator: Any, **overrides: str | None) -> dict[str, str]:
    env = dict(os.environ)
    sp = emulator.default_sp
    env.update(
        FABRIC_API_URL=emulator.api_url,
        FABRIC_AUTHORITY=emulator.authority,
        FABRIC_CA_BUNDLE=emulator.ca_cert,
        AZURE_TENANT_ID=emulator.tenant_id,
        AZURE_CLIENT_ID=sp["client_id"],
        AZURE_CLIENT_SECRET=sp["client_secret"],
        PYTHONPATH=str(REPO_ROOT),
    )
    for key in ("FABRIC_TOKEN", "FABRIC_EMULATOR_DIR"):
        env.pop(key, None)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def cli(fast_emulator: Any) -> Callable[..., Result]:
    """Run the CLI as a subprocess, the way a user does."""

    def run(*argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "fabric_resources.cli", *argv],
            cwd=REPO_ROOT,
            env=env or _env(fast_emulator),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        _check_no_secrets(fast_emulator, proc.stdout, proc.stderr)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli_inproc(
    fast_emulator: Any, emulator_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run the CLI in this process through main(argv), environment pointing at the emulator."""
    monkeypatch.delenv("FABRIC_TOKEN", raising=False)
    monkeypatch.delenv("FABRIC_EMULATOR_DIR", raising=False)

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        _check_no_secrets(fast_emulator, captured.out, captured.err)
        return Result(code, captured.out, captured.err)

    return run


def _wait_for_status(world: World, pipeline: str, run_id: str, wanted: set[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = world.client.jobs.get(world.workspace_id, world.pipelines[pipeline], run_id).status
        if status in wanted or time.monotonic() > deadline:
            return str(status)
        time.sleep(0.1)


# -- run --wait ----------------------------------------------------------------------------------


def test_run_wait_completed_exits_0_with_json(cli: Callable[..., Result], world: World) -> None:
    result = cli("run", "cli-quick", "--workspace", world.workspace_name, "--wait", "--output", "json", *POLL)
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["status"] == "Completed"
    assert doc["pipelineId"] == world.pipelines["cli-quick"]
    assert doc["workspaceId"] == world.workspace_id
    assert doc["failureReason"] is None
    assert doc["startTimeUtc"] and doc["endTimeUtc"]
    assert [(a["activityName"], a["status"]) for a in doc["activities"]] == [("Pause", "Succeeded")]
    assert set(doc) >= {"id", "pipelineName", "workspaceName", "jobType", "invokeType", "durationSeconds"}
    # JSON mode keeps stdout machine-readable: progress went to stderr.
    assert "run Completed" in result.err


def test_run_wait_failing_activity_exits_1_naming_it(cli: Callable[..., Result], world: World) -> None:
    result = cli("run", "cli-wait-then-fail", "--workspace", world.workspace_id, "--wait", *POLL)
    assert result.code == 1, result.out + result.err
    # Live progress: the Wait finished before its dependent failed.
    assert re.search(r"Succeeded\s+Wait1 \(Wait\)", result.out), result.out
    assert re.search(r"Failed\s+FailIfEmpty \(Fail\)", result.out), result.out
    assert result.out.index("Wait1 (Wait)") < result.out.index("FailIfEmpty (Fail)")
    # The verdict names the failing activity and its error.
    assert "failed activity 'FailIfEmpty' (Fail)" in result.err
    assert FAIL_MESSAGE in result.err
    run_id = re.search(r"Started run ([0-9a-f-]{36})", result.out)
    assert run_id is not None


def test_run_passes_parameters(cli_inproc: Callable[..., Result], world: World) -> None:
    result = cli_inproc("run", "cli-param", "--param", "reason=disk=full", "--wait", "-o", "json", *POLL)
    assert result.code == 1, result.err
    (echo,) = result.json()["activities"]
    # Everything after the first '=' is the value.
    assert echo["error"]["message"] == "disk=full"
    assert "failed activity 'Echo' (Fail): disk=full" in result.err
    with pytest.raises(SystemExit) as exc:  # argparse rejects it before any request
        main(["run", "cli-param", "--param", "no-equals-sign"])
    assert exc.value.code == 2


@pytest.fixture(scope="module")
def failed_run(world: World) -> str:
    """One finished, failed run of cli-wait-then-fail (started and awaited with the client)."""
    job = world.client.jobs.run(world.workspace_id, world.pipelines["cli-wait-then-fail"])
    status = _wait_for_status(world, "cli-wait-then-fail", job.id, {"Completed", "Failed", "Cancelled"})
    assert status == "Failed"
    return str(job.id)


# -- activities / status / runs ------------------------------------------------------------------


def test_activities_json_lists_each_activity_with_its_status(
    cli_inproc: Callable[..., Result], failed_run: str
) -> None:
    # No --workspace: the run is found by id alone.
    result = cli_inproc("activities", failed_run, "--output", "json")
    assert result.code == 0, result.err
    by_name = {a["activityName"]: a for a in result.json()}
    assert set(by_name) == {"Wait1", "FailIfEmpty"}
    assert by_name["Wait1"]["status"] == "Succeeded"
    assert by_name["Wait1"]["activityType"] == "Wait"
    assert by_name["Wait1"]["error"] is None
    assert by_name["FailIfEmpty"]["status"] == "Failed"
    assert FAIL_MESSAGE in by_name["FailIfEmpty"]["error"]["message"]
    for activity in by_name.values():
        assert set(activity) == {
            "activityName", "activityType", "activityRunId", "status",
            "activityRunStart", "activityRunEnd", "durationSeconds", "error",
        }
        assert activity["durationSeconds"] is not None and activity["durationSeconds"] >= 0


def test_activities_table_filtered_by_status(cli_inproc: Callable[..., Result], world: World, failed_run: str) -> None:
    result = cli_inproc("activities", failed_run, "--workspace", world.workspace_name, "--status", "Failed")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATUS", "DURATION", "ERROR"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 3
    assert lines[2].split()[:3] == ["FailIfEmpty", "Fail", "Failed"]
    assert FAIL_MESSAGE in lines[2]
    # Columns are aligned: every field starts where its header does.
    assert lines[2].index("Failed") == lines[0].index("STATUS")


def test_status_json_and_table(cli_inproc: Callable[..., Result], world: World, failed_run: str) -> None:
    result = cli_inproc("status", failed_run, "--pipeline", "cli-wait-then-fail", "-o", "json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["id"] == failed_run
    assert doc["status"] == "Failed"
    assert doc["pipelineName"] == "cli-wait-then-fail"
    assert doc["failureReason"] and "FailIfEmpty" in json.dumps(doc["failureReason"])
    table = cli_inproc("status", failed_run)
    assert table.code == 0
    assert re.search(r"^Status:\s+Failed$", table.out, re.M), table.out


def test_runs_lists_recent_runs_newest_first(cli_inproc: Callable[..., Result], world: World, failed_run: str) -> None:
    second = world.client.jobs.run(world.workspace_id, world.pipelines["cli-wait-then-fail"])
    _wait_for_status(world, "cli-wait-then-fail", second.id, {"Failed", "Completed"})
    result = cli_inproc("runs", "cli-wait-then-fail", "--workspace", world.workspace_id, "-o", "json")
    assert result.code == 0, result.err
    ids = [r["id"] for r in result.json()]
    assert failed_run in ids and second.id in ids
    assert ids.index(second.id) < ids.index(failed_run)
    limited = cli_inproc("runs", "cli-wait-then-fail", "--limit", "1", "-o", "json")
    assert [r["id"] for r in limited.json()] == [ids[0]]
    table = cli_inproc("runs", "cli-wait-then-fail")
    assert table.out.splitlines()[0].split()[:2] == ["RUN", "ID"]
    assert second.id in table.out and failed_run in table.out


# -- cancel, timeout, Ctrl-C ---------------------------------------------------------------------


def test_cancel_stops_a_long_run(cli: Callable[..., Result], world: World) -> None:
    started = cli("run", "cli-long", "--workspace", world.workspace_name, "-o", "json")
    assert started.code == 0, started.err
    run_id = started.json()["id"]
    assert _wait_for_status(world, "cli-long", run_id, {"InProgress"}) == "InProgress"
    cancelled = cli("cancel", run_id, "--workspace", world.workspace_name, "-o", "json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["id"] == run_id
    # Cancelled well before the Wait's ~6 real seconds were up.
    assert _wait_for_status(world, "cli-long", run_id, {"Cancelled", "Completed", "Failed"}, timeout=4) == "Cancelled"
    again = cli("cancel", run_id)
    assert again.code == 2
    assert "already ended (Cancelled)" in again.err


def test_wait_timeout_exits_3_and_says_how_to_cancel(cli_inproc: Callable[..., Result], world: World) -> None:
    result = cli_inproc("run", "cli-long", "--wait", "--timeout", "0.5", *POLL)
    assert result.code == 3, result.err
    match = re.search(r"fabric-resources cancel ([0-9a-f-]{36}) --workspace \S+ --pipeline \S+", result.err)
    assert match, result.err
    world.client.jobs.cancel(world.workspace_id, world.pipelines["cli-long"], match.group(1))


def test_ctrl_c_exits_130_and_says_how_to_cancel(fast_emulator: Any, world: World) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fabric_resources.cli", "run", "cli-long", "--workspace", world.workspace_id,
         "--wait", *POLL],
        cwd=REPO_ROOT, env=_env(fast_emulator), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 30
    while "started   LongWait" not in seen and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    _check_no_secrets(fast_emulator, seen + out, err)
    assert proc.returncode == 130, seen + out + err
    match = re.search(r"To cancel it: fabric-resources cancel ([0-9a-f-]{36})", err)
    assert match, err
    world.client.jobs.cancel(world.workspace_id, world.pipelines["cli-long"], match.group(1))


# -- names, errors, settings ---------------------------------------------------------------------


def test_unknown_pipeline_is_one_clear_line(cli_inproc: Callable[..., Result], world: World) -> None:
    result = cli_inproc("run", "no-such-pipeline", "--workspace", world.workspace_name)
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "pipeline 'no-such-pipeline' not found" in result.err
    unknown_ws = cli_inproc("runs", "cli-quick", "--workspace", "no-such-workspace")
    assert unknown_ws.code == 2
    assert "workspace 'no-such-workspace' not found" in unknown_ws.err


def test_ambiguous_pipeline_lists_candidate_ids(cli_inproc: Callable[..., Result], world: World) -> None:
    result = cli_inproc("runs", "cli-dup")
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "ambiguous" in result.err
    for pipeline_id in world.dup_ids:
        assert pipeline_id in result.err
    # The workspace (or the id) settles it.
    assert cli_inproc("runs", "cli-dup", "--workspace", world.workspace_id).code == 0
    assert cli_inproc("runs", world.dup_ids[1], "-o", "json").code == 0


def test_rejected_token_is_one_line_with_error_code_and_request_id(
    cli: Callable[..., Result], fast_emulator: Any
) -> None:
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJl"
    env = _env(fast_emulator, FABRIC_TOKEN=forged, AZURE_CLIENT_ID=None, AZURE_CLIENT_SECRET=None)
    result = cli("runs", "cli-quick", env=env)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "HTTP 401" in lines[0]
    assert re.search(r"errorCode=\w+", lines[0])
    assert re.search(r"requestId=\S+", lines[0])
    assert forged not in result.err


def test_errors_are_one_json_line_with_output_json(
    cli: Callable[..., Result], cli_inproc: Callable[..., Result], world: World, fast_emulator: Any
) -> None:
    unknown = cli_inproc("run", "no-such-pipeline", "--workspace", world.workspace_name, "--output", "json")
    assert unknown.code == 2
    assert unknown.out == ""
    error = json.loads(unknown.err)["error"]
    assert "pipeline 'no-such-pipeline' not found" in error["message"]
    assert "errorCode" not in error

    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJl"
    env = _env(fast_emulator, FABRIC_TOKEN=forged, AZURE_CLIENT_ID=None, AZURE_CLIENT_SECRET=None)
    rejected = cli("runs", "cli-quick", "--output", "json", env=env)
    assert rejected.code == 2
    assert len(rejected.err.strip().splitlines()) == 1
    error = json.loads(rejected.err)["error"]
    assert error["status"] == 401
    assert error["errorCode"] and error["requestId"]
    assert forged not in rejected.err


def test_throttling_is_one_line_with_error_code_and_request_id(
    cli: Callable[..., Result], fast_emulator: Any, world: World
) -> None:
    # Retry-After far beyond what a person at a terminal should wait: the CLI gives up at once.
    with fast_emulator.config(throttle_limit=1, throttle_window_seconds=60, throttle_retry_after=120):
        result = cli("runs", "cli-quick", "--workspace", world.workspace_id)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "throttled" in lines[0] and "HTTP 429" in lines[0]
    assert re.search(r"errorCode=\w+", lines[0]) and re.search(r"requestId=\S+", lines[0])


def test_unreachable_api_exits_2(cli: Callable[..., Result], fast_emulator: Any) -> None:
    env = _env(fast_emulator, FABRIC_API_URL="https://127.0.0.1:9/v1")
    result = cli("runs", "cli-quick", env=env, timeout=120)
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_usage_error_exits_2(cli_inproc: Callable[..., Result]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run"])  # PIPELINE missing: argparse's own usage error
    assert exc.value.code == 2
    result = cli_inproc("run", "cli-quick", "--timeout", "5")
    assert result.code == 2
    assert "--timeout only applies with --wait" in result.err


def test_stack_settings_with_encrypted_secret_from_environment(
    fast_emulator: Any, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sp = fast_emulator.default_sp
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.ci.yaml").write_text(
        "config:\n"
        f"  fabric:apiUrl: {fast_emulator.api_url}\n"
        f"  fabric:authority: {fast_emulator.authority}\n"
        f"  fabric:tenantId: {fast_emulator.tenant_id}\n"
        f"  fabric:caCert: {fast_emulator.ca_cert}\n"
        f"  fabric:clientId: {sp['client_id']}\n"
        "  fabric:clientSecret:\n"
        "    secure: v1:bm90LWRlY3J5cHRhYmxlLWhlcmU=\n"
        "  other:key: ignored\n"
        f"  fabric-resources:workspaceName: {world.workspace_name}\n"
    )
    monkeypatch.setenv("FABRIC_PROJECT_DIR", str(tmp_path))
    for key in ("FABRIC_API_URL", "FABRIC_AUTHORITY", "FABRIC_CA_BUNDLE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                "FABRIC_TOKEN", "FABRIC_EMULATOR_DIR", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)

    # The encrypted secret cannot be read here: one line saying what to set instead.
    assert main(["runs", "cli-quick", "--stack", "ci"]) == 2
    err = capsys.readouterr().err
    assert "fabric:clientSecret" in err and "AZURE_CLIENT_SECRET" in err

    monkeypatch.setenv("AZURE_CLIENT_SECRET", sp["client_secret"])
    assert main(["runs", "cli-quick", "--stack", "ci", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert isinstance(json.loads(out), list)
    _check_no_secrets(fast_emulator, out, err)
    # The stack's workspace is the default: a name ambiguous across workspaces resolves within it.
    assert main(["runs", "cli-dup", "--stack", "ci", "-o", "json"]) == 0
    assert main(["runs", "cli-dup", "--stack", "ci", "--workspace", world.other_workspace_id]) == 0
    assert "No runs of pipeline 'cli-dup'" in capsys.readouterr().out

    assert main(["runs", "cli-quick", "--stack", "missing"]) == 2
    assert "stack 'missing' not found" in capsys.readouterr().err


def test_emulator_dir_option_and_stack_emulator_dir(
    fast_emulator: Any, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in ("FABRIC_API_URL", "FABRIC_AUTHORITY", "FABRIC_CA_BUNDLE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                "AZURE_CLIENT_SECRET", "FABRIC_TOKEN", "FABRIC_EMULATOR_DIR"):
        monkeypatch.delenv(key, raising=False)
    code = main(["runs", "cli-quick", "--workspace", world.workspace_id,
                 "--emulator-dir", str(fast_emulator.data_dir), "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert isinstance(json.loads(out), list)
    # Like stacks/Pulumi.local.yaml: everything from an emulator dir relative to the project folder.
    (tmp_path / "emu").symlink_to(fast_emulator.data_dir)
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.local.yaml").write_text(
        f"config:\n  fabric:emulatorDir: emu\n  fabric-resources:workspaceName: {world.workspace_name}\n"
    )
    monkeypatch.setenv("FABRIC_PROJECT_DIR", str(tmp_path))
    code = main(["runs", "cli-quick", "--stack", "local", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert isinstance(json.loads(out), list)
    assert main(["runs", "cli-quick", "--emulator-dir", str(tmp_path / "nowhere")]) == 2
    assert "no emulator.json in" in capsys.readouterr().err
