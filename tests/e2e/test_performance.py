"""Throughput mechanisms through the real engine and provider process (figures: benchmarks/pulumi_bench.py).

* The provider process serves more than the SDK's four calls at once, up to ``fabric:maxInFlight``,
  measured where it counts: the most requests the emulator was serving at the same moment.
* A refresh, whose reads all arrive before the pool is widened, is served as many at a time; it lists
  each workspace's items once instead of a GET per pipeline, still reads every definition, and so
  still sees a rename and an edit inside a definition made outside Pulumi.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.definitions import build_definition_parts
from fabric_resources.models import ItemDefinition
from fabric_resources.settings import FabricSettings

pytestmark = pytest.mark.e2e

LIST_ROUTE = "GET /v1/workspaces/{workspaceId}/items"
PIPELINES = 12


@pytest.fixture
def fabric(emulator: Any) -> Iterator[FabricClient]:
    with FabricClient(FabricSettings.from_emulator(emulator.data_dir)) as client:
        yield client


def content(seconds: int) -> dict[str, Any]:
    return {"properties": {"activities": [
        {"name": "Pause", "type": "Wait", "dependsOn": [], "typeProperties": {"waitTimeInSeconds": seconds}}]}}


def pipelines(ws_id: str, count: int) -> Callable[[], None]:
    def program() -> None:
        from fabric_resources import DataPipeline

        for i in range(count):
            DataPipeline(f"p{i:02d}", workspace_id=ws_id, display_name=f"perf {i:02d}", definition=content(i + 1))

    return program


def new_workspace(fabric: FabricClient) -> str:
    return fabric.workspaces.create(f"perf-{uuid.uuid4().hex[:8]}").id


@pytest.mark.parametrize(("max_in_flight", "lowest", "highest"), [(None, 5, 10), ("2", 1, 2)])
def test_provider_process_serves_up_to_max_in_flight_calls_at_once(
        emulator: Any, fabric: FabricClient, make_stack: Callable[..., Any],
        max_in_flight: str | None, lowest: int, highest: int) -> None:
    ws = new_workspace(fabric)
    stack = make_stack(pipelines(ws, PIPELINES),
                       config={"fabric:maxInFlight": max_in_flight} if max_in_flight else None)
    # Each create answers after 600 ms: creates sent together overlap at the emulator.
    with emulator.config(latency_ms=600):
        emulator.reset_stats()
        stack.up(parallel=32)
        stats = emulator.stats()
    assert stats["by_route"]["POST /v1/workspaces/{workspaceId}/items"] == PIPELINES
    # The SDK alone serves four calls at once; the default limit is ten, and a lower one holds.
    assert lowest <= stats["peak_concurrent"] <= highest, stats


def test_invalid_max_in_flight_fails_the_preview_with_no_call(
        emulator: Any, fabric: FabricClient, make_stack: Callable[..., Any]) -> None:
    from pulumi import automation as auto

    ws = new_workspace(fabric)
    stack = make_stack(pipelines(ws, 1), config={"fabric:maxInFlight": "lots"})
    emulator.reset_stats()
    with pytest.raises(auto.errors.CommandError) as failure:
        stack.preview()
    assert "fabric:maxInFlight must be a whole number from 1 to 64" in str(failure.value)
    assert emulator.stats()["total"] == 0


def test_refresh_lists_once_and_still_sees_drift_inside_definitions(
        emulator: Any, fabric: FabricClient, make_stack: Callable[..., Any]) -> None:
    ws = new_workspace(fabric)
    stack = make_stack(pipelines(ws, PIPELINES))
    stack.up(parallel=32)
    items = {i.display_name: i.id for i in fabric.items.list(ws, type="DataPipeline")}

    with emulator.config(latency_ms=600):  # each read's calls overlap the others' at the emulator
        emulator.reset_stats()
        stack.refresh(expect_no_changes=True, parallel=32)
        stats = emulator.stats()
    # Every read was sent at once, before the pool was widened: they are still served ten at a time.
    assert 5 <= stats["peak_concurrent"] <= 10, stats
    calls = dict(stats["by_route"])
    assert calls.pop(LIST_ROUTE) == 1, calls  # one page for the whole workspace
    assert calls == {"POST /v1/workspaces/{workspaceId}/items/{itemId}/getDefinition": PIPELINES}, calls

    # Outside Pulumi: one pipeline renamed, another's definition edited (the listing cannot show that).
    fabric.items.update(ws, items["perf 03"], display_name="perf 03 renamed")
    edited = json.dumps(content(99))
    fabric.items.update_definition(ws, items["perf 07"], ItemDefinition.model_validate(
        {"parts": build_definition_parts(edited, None, display_name="perf 07", description=None)}))
    events: list[Any] = []
    result = stack.refresh(on_event=events.append)
    assert result.summary.resource_changes is not None
    assert result.summary.resource_changes.get("update") == 2, result.summary.resource_changes
    state = {r["urn"].rsplit("::", 1)[-1]: r["outputs"] for r in stack.export_stack().deployment["resources"]
             if r["type"].endswith("fabric:DataPipeline")}
    assert state["p03"]["display_name"] == "perf 03 renamed"
    assert json.loads(state["p07"]["definition"])["properties"]["activities"][0]["typeProperties"] == {
        "waitTimeInSeconds": 99}
