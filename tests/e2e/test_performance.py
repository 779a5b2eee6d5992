"""Throughput mechanisms through the real `pulumi` CLI, language host and provider process (figures:
benchmarks/pulumi_bench.py).

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
from fabric_resources.providers._concurrency import DEFAULT_MAX_IN_FLIGHT
from fabric_resources.settings import FabricSettings

pytestmark = pytest.mark.e2e

LIST_ROUTE = "GET /v1/workspaces/{workspaceId}/items"
# More pipelines than the default limit, so that limit is what bounds the calls in flight.
PIPELINES = DEFAULT_MAX_IN_FLIGHT + 6


@pytest.fixture
def fabric(emulator: Any) -> Iterator[FabricClient]:
    with FabricClient(FabricSettings.from_emulator(emulator.data_dir)) as client:
        yield client


def content(seconds: int) -> dict[str, Any]:
    return {"properties": {"activities": [
        {"name": "Pause", "type": "Wait", "dependsOn": [], "typeProperties": {"waitTimeInSeconds": seconds}}]}}


PROGRAM = """
import pulumi
from fabric_resources import DataPipeline

config = pulumi.Config("perf")
for i in range(config.require_int("count")):
    DataPipeline(f"p{i:02d}", workspace_id=config.require("workspaceId"), display_name=f"perf {i:02d}",
                 definition={"properties": {"activities": [{"name": "Pause", "type": "Wait", "dependsOn": [],
                                                            "typeProperties": {"waitTimeInSeconds": i + 1}}]}})
"""


def perf_project(pulumi_project: Callable[..., Any], fabric: FabricClient, count: int = PIPELINES,
                 config: dict[str, str] | None = None) -> tuple[Any, str]:
    """A CLI project deploying ``count`` pipelines into a new workspace (its id is returned too)."""
    ws = fabric.workspaces.create(f"perf-{uuid.uuid4().hex[:8]}").id
    project = pulumi_project(PROGRAM, config={"perf:workspaceId": ws, "perf:count": str(count), **(config or {})})
    return project, ws


@pytest.mark.parametrize(("max_in_flight", "lowest", "highest"), [(None, 5, DEFAULT_MAX_IN_FLIGHT), ("2", 1, 2)])
def test_provider_process_serves_up_to_max_in_flight_calls_at_once(
        emulator: Any, fabric: FabricClient, pulumi_project: Callable[..., Any],
        max_in_flight: str | None, lowest: int, highest: int) -> None:
    extra = {"fabric:maxInFlight": max_in_flight} if max_in_flight else {}
    project, _ws = perf_project(pulumi_project, fabric, config=extra)
    # Each create answers after 600 ms: creates sent together overlap at the emulator.
    with emulator.config(latency_ms=600):
        emulator.reset_stats()
        project.up("--skip-preview", "--parallel", "32")
        stats = emulator.stats()
    assert stats["by_route"]["POST /v1/workspaces/{workspaceId}/items"] == PIPELINES
    # The SDK alone serves four calls at once; the default limit holds, and so does a lower one.
    assert lowest <= stats["peak_concurrent"] <= highest, stats


def test_invalid_max_in_flight_fails_the_preview_with_no_call(
        emulator: Any, fabric: FabricClient, pulumi_project: Callable[..., Any]) -> None:
    project, _ws = perf_project(pulumi_project, fabric, count=1, config={"fabric:maxInFlight": "lots"})
    emulator.reset_stats()
    result = project.preview(check=False)
    assert result.returncode != 0
    assert "fabric:maxInFlight must be a whole number from 1 to 64" in result.output, result.describe()
    assert emulator.stats()["total"] == 0


def test_refresh_lists_once_and_still_sees_drift_inside_definitions(
        emulator: Any, fabric: FabricClient, pulumi_project: Callable[..., Any]) -> None:
    project, ws = perf_project(pulumi_project, fabric)
    project.up("--skip-preview", "--parallel", "32")
    items = {i.display_name: i.id for i in fabric.items.list(ws, type="DataPipeline")}

    with emulator.config(latency_ms=600):  # each read's calls overlap the others' at the emulator
        emulator.reset_stats()
        project.refresh("--skip-preview", "--expect-no-changes", "--parallel", "32")
        stats = emulator.stats()
    # Every read was sent at once, before the pool was widened: they are still served together.
    assert 5 <= stats["peak_concurrent"] <= DEFAULT_MAX_IN_FLIGHT, stats
    calls = dict(stats["by_route"])
    assert calls.pop(LIST_ROUTE) == 1, calls  # one page for the whole workspace
    assert calls == {"POST /v1/workspaces/{workspaceId}/items/{itemId}/getDefinition": PIPELINES}, calls

    # Outside Pulumi: one pipeline renamed, another's definition edited (the listing cannot show that).
    fabric.items.update(ws, items["perf 03"], display_name="perf 03 renamed")
    edited = json.dumps(content(99))
    fabric.items.update_definition(ws, items["perf 07"], ItemDefinition.model_validate(
        {"parts": build_definition_parts(edited, None, display_name="perf 07", description=None)}))
    drift = project.refresh("--skip-preview", "--expect-no-changes", check=False)
    assert drift.returncode != 0, drift.describe()  # changes were found
    project.refresh("--skip-preview")
    state = {r["urn"].rsplit("::", 1)[-1]: r["outputs"] for r in project.resources()
             if r["type"].endswith("fabric:DataPipeline")}
    changed = {name for name, outs in state.items()
               if outs["display_name"] != f"perf {name[1:]}"
               or json.loads(outs["definition"])["properties"]["activities"][0]["typeProperties"]
               != {"waitTimeInSeconds": int(name[1:]) + 1}}
    assert changed == {"p03", "p07"}
    assert state["p03"]["display_name"] == "perf 03 renamed"
    assert json.loads(state["p07"]["definition"])["properties"]["activities"][0]["typeProperties"] == {
        "waitTimeInSeconds": 99}
