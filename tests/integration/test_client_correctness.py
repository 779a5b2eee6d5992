"""Client answers that leave the outcome unclear (issue #10): a job whose instance cannot be read
back after it started, and a long-running operation whose status is Undefined."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.errors import OperationFailedError
from fabric_resources.models import ItemDefinition

pytestmark = pytest.mark.timeout(120)

CONTENT: dict[str, Any] = {"properties": {"activities": []}}
JOB_INSTANCE_ROUTE = "GET /v1/workspaces/{workspaceId}/items/{itemId}/jobs/instances/{jobInstanceId}"


def _pipeline(client: FabricClient, workspace: str) -> str:
    item = client.items.create(workspace, display_name=f"p-{uuid.uuid4().hex[:8]}", type="DataPipeline",
                               definition=ItemDefinition.from_files({"pipeline-content.json": CONTENT}))
    return item.id


def test_run_keeps_the_job_id_from_location_when_reading_the_instance_fails(
    client: FabricClient, workspace: str, emulator: Any
) -> None:
    item_id = _pipeline(client, workspace)
    # Few, short retries: the GET fails every time, however often it is retried.
    quick = FabricClient(client.settings, max_attempts=2, backoff_base=0.05)
    with emulator.config(route_errors={JOB_INSTANCE_ROUTE: "500"}):
        job = quick.jobs.run(workspace, item_id)
        # Every GET of the instance failed, yet the run started and its id was not lost.
        assert emulator.stats()["by_route"].get(JOB_INSTANCE_ROUTE, 0) >= 1
    assert job.id and job.item_id == item_id and job.status == "NotStarted"
    live = client.jobs.get(workspace, item_id, job.id)
    assert live.id == job.id
    assert [j.id for j in client.jobs.list(workspace, item_id)] == [job.id], "exactly one run started"


def test_lro_status_undefined_ends_the_wait_with_an_error(
    client: FabricClient, workspace: str, emulator: Any
) -> None:
    item_id = _pipeline(client, workspace)
    definition = ItemDefinition.from_files({"pipeline-content.json": {"properties": {"activities": [],
                                                                                     "description": "v2"}}})
    with emulator.config(lro_mode="always", lro_duration_seconds=0.1, lro_undefined=True):
        started = time.monotonic()
        with pytest.raises(OperationFailedError) as info:
            client.items.update_definition(workspace, item_id, definition)
        elapsed = time.monotonic() - started
    err = info.value
    assert err.error_code == "OperationStatusUndefined" and err.status == "Undefined"
    assert err.operation_id and err.operation_id in str(err)
    assert elapsed < 10, f"the poller waited {elapsed:.1f}s on an Undefined status"
