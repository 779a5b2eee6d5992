"""The Fabric client against the emulator over HTTPS, authenticated by real MSAL client credentials.

Every area of the client is driven end to end; faults (paging, LROs, throttling, 5xx storms,
dropped connections, short-lived tokens) are switched on through the emulator's control plane and
the call counts it reports (``emulator.stats()``) bound what the client sent.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import SecretStr

from fabric_resources.client import FabricClient, TokenProvider
from fabric_resources.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    CredentialError,
    DeadlineExceededError,
    NotFoundError,
    OperationFailedError,
    PermissionDeniedError,
    ServiceError,
    ThrottledError,
    TransportError,
    ValidationError,
)
from fabric_resources.models import (
    CronScheduleConfig,
    DailyScheduleConfig,
    ItemDefinition,
    MonthlyScheduleConfig,
    ScheduleConfig,
    WeeklyScheduleConfig,
)
from fabric_resources.settings import FabricSettings

pytestmark = pytest.mark.timeout(180)

CONTENT: dict[str, Any] = {"properties": {"activities": []}}


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def settings_for(emulator: Any, sp: dict[str, Any] | None = None) -> FabricSettings:
    sp = sp or emulator.default_sp
    return FabricSettings(api_url=emulator.api_url, authority=emulator.authority, tenant_id=emulator.tenant_id,
                          client_id=sp["client_id"], client_secret=sp["client_secret"], ca_cert=emulator.ca_cert)


def routes(stats: dict[str, Any], prefix: str) -> int:
    return sum(n for route, n in stats["by_route"].items() if route.startswith(prefix))


def pipeline(client: FabricClient, workspace: str, content: dict[str, Any] | None = None) -> str:
    item = client.items.create(workspace, display_name=name("pl"), type="DataPipeline",
                               definition=ItemDefinition.from_files({"pipeline-content.json": content or CONTENT}))
    return item.id


# ---------------------------------------------------------------------------------------------
# workspaces, role assignments, capacities


def test_workspace_lifecycle(client: FabricClient) -> None:
    display = name("ws-life")
    ws = client.workspaces.create(display, description="first")
    assert ws.display_name == display and ws.description == "first"
    assert client.workspaces.get(ws.id).id == ws.id
    assert ws.id in {w.id for w in client.workspaces.list()}
    assert ws.id in {w.id for w in client.workspaces.list(roles=["Admin"])}
    found = client.workspaces.find(display.upper())
    assert found is not None and found.id == ws.id
    updated = client.workspaces.update(ws.id, display_name=display + "-2", description="second")
    assert (updated.display_name, updated.description) == (display + "-2", "second")
    with pytest.raises(AlreadyExistsError) as info:
        client.workspaces.create(display + "-2")
    assert info.value.status == 409 and info.value.request_id
    client.workspaces.delete(ws.id)
    with pytest.raises(NotFoundError) as gone:
        client.workspaces.get(ws.id)
    assert gone.value.error_code == "WorkspaceNotFound"
    assert client.workspaces.find(display + "-2") is None


def test_capacity_assignment_waits_until_assigned(client: FabricClient, workspace: str) -> None:
    capacities = client.capacities.list()
    assert capacities and all(c.state for c in capacities)
    assert client.capacities.get(capacities[0].id).display_name == capacities[0].display_name
    ws = client.workspaces.assign_to_capacity(workspace, capacities[0].id)
    assert ws.capacity_id == capacities[0].id and ws.capacity_assignment_progress != "InProgress"
    ws = client.workspaces.unassign_from_capacity(workspace)
    assert ws.capacity_id is None


def test_role_assignments(client: FabricClient, workspace: str, emulator: Any) -> None:
    stranger = emulator.service_principals[1]
    user = emulator.users[0]
    ra = client.role_assignments.add(workspace, principal_id=stranger["object_id"],
                                     principal_type="ServicePrincipal", role="Viewer")
    assert ra.role == "Viewer" and ra.principal.id == stranger["object_id"]
    ua = client.role_assignments.add(workspace, principal_id=user["object_id"], principal_type="User",
                                     role="Contributor")
    assert client.role_assignments.get(workspace, ra.id).role == "Viewer"
    assert {ra.id, ua.id} <= {a.id for a in client.role_assignments.list(workspace)}
    found = client.role_assignments.find(workspace, user["object_id"])
    assert found is not None and found.id == ua.id

    # The stranger, as Viewer, may read but not rename the workspace.
    with FabricClient(settings_for(emulator, stranger)) as as_viewer:
        assert as_viewer.workspaces.get(workspace).id == workspace
        with pytest.raises(PermissionDeniedError) as denied:
            as_viewer.workspaces.update(workspace, description="not allowed")
        assert denied.value.status == 403 and denied.value.error_code == "InsufficientPrivileges"

    assert client.role_assignments.update(workspace, ra.id, role="Member").role == "Member"
    client.role_assignments.delete(workspace, ra.id)
    client.role_assignments.delete(workspace, ua.id)
    with pytest.raises(NotFoundError):
        client.role_assignments.get(workspace, ra.id)


# ---------------------------------------------------------------------------------------------
# items, definitions, folders


def test_item_lifecycle_and_definitions(client: FabricClient, workspace: str) -> None:
    display = name("pl")
    item = client.items.create(workspace, display_name=display, type="DataPipeline", description="d1",
                               definition=ItemDefinition.from_files({"pipeline-content.json": CONTENT}))
    assert (item.type, item.display_name, item.workspace_id) == ("DataPipeline", display, workspace)
    assert client.items.get(workspace, item.id).description == "d1"
    assert item.id in {i.id for i in client.items.list(workspace, type="DataPipeline")}
    assert client.items.find(workspace, display, type="DataPipeline") is not None
    assert client.items.find(workspace, display, type="Notebook") is None

    files = client.items.get_definition(workspace, item.id).files()
    assert set(files) == {"pipeline-content.json", ".platform"}
    content = {"properties": {"activities": [{"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}}
    client.items.update_definition(workspace, item.id, ItemDefinition.from_files({"pipeline-content.json": content}))
    import json

    assert json.loads(client.items.get_definition(workspace, item.id).files()["pipeline-content.json"]) == content

    updated = client.items.update(workspace, item.id, display_name=display + "-x", description="d2")
    assert (updated.display_name, updated.description) == (display + "-x", "d2")
    with pytest.raises(AlreadyExistsError) as dup:
        client.items.create(workspace, display_name=display + "-x", type="DataPipeline")
    assert dup.value.error_code.endswith("AlreadyInUse") or dup.value.error_code.endswith("AlreadyExists")

    # The pipeline-specific twin endpoints see the same item.
    assert client.data_pipelines.get(workspace, item.id).display_name == display + "-x"

    client.items.delete(workspace, item.id)
    with pytest.raises(NotFoundError) as gone:
        client.items.get(workspace, item.id)
    assert gone.value.error_code == "ItemNotFound"


def test_validation_errors(client: FabricClient, workspace: str) -> None:
    with pytest.raises(ValidationError) as bad_type:
        client.items.create(workspace, display_name=name("x"), type="NoSuchType")
    assert bad_type.value.status == 400
    with pytest.raises(ValidationError):
        client.workspaces.create("w" * 300)
    bad = ItemDefinition.from_files({"pipeline-content.json": "{not json"})
    with pytest.raises((ValidationError, OperationFailedError)):
        client.items.create(workspace, display_name=name("bad"), type="DataPipeline", definition=bad)


def test_folders(client: FabricClient, workspace: str) -> None:
    parent = client.folders.create(workspace, display_name="parent")
    child = client.folders.create(workspace, display_name="child", parent_folder_id=parent.id)
    assert child.parent_folder_id == parent.id
    assert client.folders.get(workspace, child.id).display_name == "child"
    assert {parent.id, child.id} <= {f.id for f in client.folders.list(workspace)}
    assert client.folders.update(workspace, child.id, display_name="renamed").display_name == "renamed"
    moved = client.folders.move(workspace, child.id)
    assert moved.parent_folder_id is None
    found = client.folders.find(workspace, "renamed")
    assert found is not None and found.id == child.id
    item = client.items.create(workspace, display_name=name("in-folder"), type="DataPipeline", folder_id=parent.id)
    assert item.folder_id == parent.id
    with pytest.raises(ConflictError) as not_empty:
        client.folders.delete(workspace, parent.id)
    assert not isinstance(not_empty.value, AlreadyExistsError) and not_empty.value.error_code == "FolderNotEmpty"
    client.items.delete(workspace, item.id)
    client.folders.delete(workspace, child.id)
    client.folders.delete(workspace, parent.id)
    with pytest.raises(NotFoundError):
        client.folders.get(workspace, parent.id)


# ---------------------------------------------------------------------------------------------
# paging and long-running operations


def test_paging_across_several_pages(client: FabricClient, workspace: str, emulator: Any) -> None:
    created = {pipeline(client, workspace) for _ in range(5)}
    with emulator.config(page_size=2):
        emulator.reset_stats()
        listed = [i.id for i in client.items.list(workspace)]
        stats = emulator.stats()
    assert set(listed) == created and len(listed) == len(created)
    assert stats["by_route"]["GET /v1/workspaces/{workspaceId}/items"] == 3  # 2 + 2 + 1


def test_long_running_operations(client: FabricClient, workspace: str, emulator: Any) -> None:
    progress: list[Any] = []
    with emulator.config(lro_mode="always", lro_duration_seconds=0.3):
        emulator.reset_stats()
        item = client.items.create(workspace, display_name=name("lro"), type="DataPipeline",
                                   definition=ItemDefinition.from_files({"pipeline-content.json": CONTENT}),
                                   on_progress=progress.append)
        assert item.id and item.type == "DataPipeline"
        definition = client.items.get_definition(workspace, item.id, on_progress=progress.append)
        assert "pipeline-content.json" in definition.files()
        client.items.update_definition(workspace, item.id, definition, update_metadata=True)
        stats = emulator.stats()
    assert stats["by_route"]["GET /v1/operations/{operationId}"] >= 3  # each of the 3 calls polled
    # create and getDefinition fetch their result; updateDefinition has none to fetch.
    assert stats["by_route"]["GET /v1/operations/{operationId}/result"] == 2
    assert progress and progress[-1].status == "Succeeded"

    with emulator.config(lro_mode="always", lro_duration_seconds=0.1, lro_fail=True), \
            pytest.raises(OperationFailedError) as failed:
        client.items.update_definition(workspace, item.id, definition)
    assert failed.value.error_code and failed.value.operation_id


# ---------------------------------------------------------------------------------------------
# error types


def test_error_types(emulator: Any, client: FabricClient, workspace: str) -> None:
    bogus = FabricSettings(api_url=emulator.api_url, token="not-a-token", ca_cert=emulator.ca_cert)
    with FabricClient(bogus) as c, pytest.raises(AuthenticationError) as unauth:
        c.workspaces.get(workspace)
    assert unauth.value.status == 401

    wrong = settings_for(emulator)
    wrong = wrong.model_copy(update={"client_secret": SecretStr("definitely-wrong")})
    with FabricClient(wrong) as c, pytest.raises(CredentialError) as cred:
        c.workspaces.get(workspace)
    assert "client secret" in str(cred.value) and "invalid_client" in str(cred.value)
    assert "definitely-wrong" not in str(cred.value) and cred.value.transient is False

    closed = FabricSettings(api_url="https://127.0.0.1:9/v1", token="t", ca_cert=emulator.ca_cert)
    with FabricClient(closed, max_attempts=2, backoff_base=0.01) as c, pytest.raises(TransportError) as down:
        c.workspaces.create(name("nowhere"))
    assert down.value.sent is False

    with emulator.config(error_rate=1.0), FabricClient(settings_for(emulator), max_attempts=2,
                                                      backoff_base=0.01) as c:
        with pytest.raises(ServiceError) as failing:
            c.workspaces.get(workspace)
        assert failing.value.status in (500, 503)

    with emulator.config(throttle_limit=1, throttle_window_seconds=5, throttle_retry_after=3), \
            FabricClient(settings_for(emulator), max_attempts=1) as c:
        c.workspaces.get(workspace)
        with pytest.raises(ThrottledError) as throttled:
            c.workspaces.get(workspace)
        assert throttled.value.retry_after == 3.0 and throttled.value.error_code == "RequestBlocked"
        with pytest.raises(DeadlineExceededError):
            FabricClient(settings_for(emulator), call_deadline=1.0).workspaces.get(workspace)


# ---------------------------------------------------------------------------------------------
# tokens, throttling, storms


def test_token_expiry_mid_run(emulator: Any) -> None:
    with emulator.config(token_lifetime_seconds=2):
        with FabricClient(settings_for(emulator)) as c:
            ws = c.workspaces.create(name("tok"))
            deadline = time.monotonic() + 5
            calls = 0
            tokens = set()
            while time.monotonic() < deadline:
                assert c.workspaces.get(ws.id).id == ws.id
                tokens.add(hash(c.auth.token()))
                calls += 1
                time.sleep(0.2)
            c.workspaces.delete(ws.id)
        assert calls >= 15
        assert len(tokens) >= 3  # 2-second tokens were renewed along the way, without a failed call

        # A provider whose clock runs 100x slow keeps its token past expiry: the service answers
        # 401 and the transport refreshes exactly once and succeeds.
        start = time.monotonic()
        provider = TokenProvider(settings_for(emulator), clock=lambda: start + (time.monotonic() - start) / 100)
        with FabricClient(settings_for(emulator), token_provider=provider) as c:
            ws = c.workspaces.create(name("tok401"))
            time.sleep(2.5)
            emulator.reset_stats()
            assert c.workspaces.get(ws.id).id == ws.id
            assert emulator.stats()["by_route"]["GET /v1/workspaces/{workspaceId}"] == 2
            c.workspaces.delete(ws.id)


def test_throttling_shared_gate_bounds_calls_and_respects_retry_after(emulator: Any, workspace: str) -> None:
    sleeps: list[float] = []
    lock = threading.Lock()

    def recording_sleep(seconds: float) -> None:
        with lock:
            sleeps.append(seconds)
        time.sleep(seconds)

    with emulator.config(throttle_limit=4, throttle_window_seconds=1.0, throttle_retry_after=1), \
            FabricClient(settings_for(emulator), sleep=recording_sleep) as c:
        c.workspaces.get(workspace)  # token fetched before timing
        emulator.reset_stats()
        start = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: c.workspaces.get(workspace).id, range(16)))
        elapsed = time.monotonic() - start
        stats = emulator.stats()
    assert results == [workspace] * 16
    # 16 calls at 4 per second need at least 3 throttled windows: the gate made every thread wait.
    assert elapsed >= 2.5
    assert stats["total"] <= 16 + 4 * 4  # at most one 429 per thread per window
    assert c.transport.gate is not None and c.transport.gate.closures >= 3
    assert sleeps and all(s <= 1.0 + 1e-6 for s in sleeps)
    assert sum(sleeps) >= 2.0


ITEMS_LIST = "GET /v1/workspaces/{workspaceId}/items"
ITEMS_CREATE = "POST /v1/workspaces/{workspaceId}/items"
JOB_RUN = "POST /v1/workspaces/{workspaceId}/items/{itemId}/jobs/{jobType}/instances"


def test_5xx_storm_dropped_connections_and_lost_answers(emulator: Any, workspace: str) -> None:
    """Creates survive 5xx, dropped connections and answers lost after the work was done
    (``drop_after_rate``), each exactly once: an unsafe POST is never blindly resent, and a create
    whose outcome is unknown is resolved by looking its unique name up."""
    storm_names = [f"storm-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    with emulator.config(error_rate=0.2, drop_rate=0.1, drop_after_rate=0.15), \
            FabricClient(settings_for(emulator), backoff_base=0.05, backoff_cap=0.5, retry_after_cap=1.0) as c:
        c.capacities.list()  # token first, outside the count
        emulator.reset_stats()
        made = [c.items.create(workspace, display_name=n, type="DataPipeline") for n in storm_names]
        for item in made:
            assert c.items.get(workspace, item.id).id == item.id
        listed = {i.id for i in c.items.list(workspace)}
        total = emulator.stats()["total"]
    assert {i.id for i in made} <= listed
    assert total <= 13 * 6  # 13 logical calls, each with bounded retries and recovery look-ups

    # Only lost answers now: every items-list call during the creates is a recovery look-up after
    # a POST that was handled but not answered. Go on until that path has really been taken.
    lost_names: list[str] = []
    with emulator.config(drop_after_rate=0.5), \
            FabricClient(settings_for(emulator), backoff_base=0.05, backoff_cap=0.5) as c:
        c.capacities.list()
        emulator.reset_stats()
        while len(lost_names) < 30:
            lost_names.append(f"lost-{len(lost_names)}-{uuid.uuid4().hex[:6]}")
            made.append(c.items.create(workspace, display_name=lost_names[-1], type="DataPipeline"))
            by_route = emulator.stats()["by_route"]
            if by_route.get(ITEMS_LIST, 0) >= 2:
                break
    assert by_route.get(ITEMS_LIST, 0) >= 2, "no create lost its answer: the recovery path was not exercised"
    # A POST was sent again only after a look-up found nothing (here never: the lost ones had worked).
    assert by_route[ITEMS_CREATE] == len(lost_names)

    # Exactly one item per name, each the one the client returned: no duplicates, nothing missing.
    with FabricClient(settings_for(emulator)) as clean:
        items = [i for i in clean.items.list(workspace) if i.display_name.startswith(("storm-", "lost-"))]
    assert sorted(i.display_name for i in items) == sorted(storm_names + lost_names)
    assert {i.id for i in items} == {i.id for i in made}


def test_job_run_is_never_sent_twice(emulator: Any, client: FabricClient, workspace: str) -> None:
    item_id = pipeline(client, workspace)
    # A 503 (or any 5xx) answering a job run surfaces as an error after one POST: resending it
    # could start a second run (the service may answer 503 after the work began).
    statuses: list[int] = []
    with emulator.config(error_rate=1.0), FabricClient(settings_for(emulator), backoff_base=0.01) as c:
        emulator.reset_stats()
        while 503 not in statuses and len(statuses) < 40:
            with pytest.raises(ServiceError) as info:
                c.jobs.run(workspace, item_id)
            statuses.append(info.value.status)
        sent = emulator.stats()["by_route"].get(JOB_RUN, 0)
    assert 503 in statuses and set(statuses) <= {500, 503}
    assert sent == len(statuses)

    # A run whose answer is lost after the job started: an error, and exactly one run exists.
    with emulator.config(drop_after_rate=1.0), pytest.raises(TransportError) as lost:
        client.jobs.run(workspace, item_id)
    assert lost.value.sent is True
    assert len(list(client.jobs.list(workspace, item_id))) == 1


# ---------------------------------------------------------------------------------------------
# jobs, activity runs, schedules


WAIT_PIPELINE = {"properties": {"activities": [
    {"name": "Wait1", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 2}},
    {"name": "Wait2", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 2},
     "dependsOn": [{"activity": "Wait1", "dependencyConditions": ["Succeeded"]}]},
]}}


def test_jobs_run_wait_activity_runs_and_cancel(client: FabricClient, workspace: str, emulator: Any) -> None:
    item_id = pipeline(client, workspace, WAIT_PIPELINE)
    with emulator.config(time_factor=0.1):
        job = client.jobs.run(workspace, item_id, execution_data={"pipelineName": "x"})
        assert job.item_id == item_id and job.status in ("NotStarted", "InProgress", "Completed")
        seen: list[str] = []
        done = client.jobs.wait(workspace, item_id, job.id, timeout=30, poll_interval=0.1,
                                on_progress=lambda j: seen.append(j.status))
        assert done.status == "Completed" and done.is_terminal and seen[-1] == "Completed"
        assert client.jobs.get(workspace, item_id, job.id).status == "Completed"
        assert job.id in {j.id for j in client.jobs.list(workspace, item_id)}
        runs = client.jobs.query_activity_runs(workspace, job.id)
        assert [r.activity_name for r in runs] == ["Wait1", "Wait2"]
        assert all(r.status == "Succeeded" and r.pipeline_run_id == job.id for r in runs)

    with emulator.config(time_factor=1.0):
        job = client.jobs.run(workspace, item_id, job_type="Execute")
        client.jobs.cancel(workspace, item_id, job.id)
        final = client.jobs.wait(workspace, item_id, job.id, timeout=30, poll_interval=0.1)
        assert final.status == "Cancelled"

    with pytest.raises(NotFoundError):
        client.jobs.get(workspace, item_id, str(uuid.uuid4()))


def test_schedules_all_configuration_types(client: FabricClient, workspace: str) -> None:
    item_id = pipeline(client, workspace)
    window: dict[str, Any] = {"start_date_time": "2030-01-01T00:00:00Z", "end_date_time": "2030-12-31T00:00:00Z",
                              "local_time_zone_id": "Central Standard Time"}
    configs: list[ScheduleConfig] = [
        CronScheduleConfig(interval=30, **window),
        DailyScheduleConfig(times=["08:00", "17:30"], **window),
        WeeklyScheduleConfig(times=["09:00"], weekdays=["Monday", "Friday"], **window),
        MonthlyScheduleConfig.model_validate({
            "recurrence": 1, "times": ["06:00"], "occurrence": {"occurrenceType": "DayOfMonth", "dayOfMonth": 15},
            "startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2030-12-31T00:00:00Z",
            "localTimeZoneId": "UTC"}),
    ]
    made = []
    for config in configs:
        schedule = client.schedules.create(workspace, item_id, enabled=False, configuration=config)
        assert schedule.configuration is not None and schedule.configuration.type == config.type
        assert schedule.configuration.to_api() == config.to_api() | {
            k: v for k, v in schedule.configuration.to_api().items() if k not in config.to_api()}
        made.append(schedule)
    assert {s.id for s in made} <= {s.id for s in client.schedules.list(workspace, item_id)}
    got = client.schedules.get(workspace, item_id, made[0].id)
    assert got.configuration is not None and got.configuration.type == "Cron"
    updated = client.schedules.update(workspace, item_id, made[0].id, enabled=False,
                                      configuration={"type": "Daily", "times": ["10:00"], **{
                                          "startDateTime": "2030-01-01T00:00:00Z",
                                          "endDateTime": "2030-06-01T00:00:00Z", "localTimeZoneId": "UTC"}})
    assert isinstance(updated.configuration, DailyScheduleConfig) and updated.configuration.times == ["10:00"]
    for s in made:
        client.schedules.delete(workspace, item_id, s.id)
    with pytest.raises(NotFoundError):
        client.schedules.get(workspace, item_id, made[0].id)


def test_settings_from_env_reach_the_emulator(emulator_env: Any) -> None:
    with FabricClient(FabricSettings.from_env()) as c:
        assert c.auth.source == "client secret (environment)"
        assert c.capacities.list()


def test_device_code_source_fails_clearly_and_keeps_its_cache_private(emulator: Any, tmp_path: Any) -> None:
    cache = tmp_path / "cache" / "msal_cache.json"
    settings = FabricSettings(api_url=emulator.api_url, authority=emulator.authority, tenant_id=emulator.tenant_id,
                              ca_cert=emulator.ca_cert, use_device_code=True, token_cache_path=str(cache))
    prompts: list[str] = []
    provider = TokenProvider(settings, prompt=prompts.append)
    # The emulator grants client credentials only: the device-code source must say so, by name.
    with pytest.raises(CredentialError) as info:
        provider.token()
    assert info.value.source == "device code (explicit)" and "unsupported_grant_type" in str(info.value)
    # The persistent cache holds refresh tokens: it is created readable by its owner only.
    public_client: Any = provider._credential
    public_client._cache.has_state_changed = True
    public_client._save()
    assert cache.stat().st_mode & 0o777 == 0o600
    assert cache.parent.stat().st_mode & 0o077 == 0
