"""Providers called directly (check -> create -> diff -> read) against the emulator (issue #10).

The provider methods are what the engine calls, in the same order and with the same arguments
(create and diff receive what check returned), so these tests pin provider behaviour without
an engine round trip; faults are injected through the emulator's control plane.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.providers.workspace import WorkspaceProvider

pytestmark = pytest.mark.timeout(60)

# "Emulator F64", one of the capacities the emulator offers.
F64 = "56bac802-080d-4f73-8a42-1b406eb1fcac"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def checked(provider: Any, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
    result = provider.check(olds or {}, news)
    assert not result.failures, [f.reason for f in result.failures]
    return dict(result.inputs)


@pytest.fixture
def cleanup(client: FabricClient) -> Iterator[list[str]]:
    """Workspace ids to delete after the test."""
    ids: list[str] = []
    yield ids
    for ws_id in ids:
        try:
            client.workspaces.delete(ws_id)
        except Exception as exc:  # cleanup must not hide the test's own failure
            print(f"cleanup of workspace {ws_id} failed: {exc}")


def test_upper_case_capacity_id_is_recognised_and_gives_no_diff(
    emulator_env: Any, client: FabricClient, cleanup: list[str]
) -> None:
    provider = WorkspaceProvider()
    news = {"display_name": _name("guid"), "capacity_id": F64.upper(), "adopt_existing": False}
    inputs = checked(provider, news)
    created = provider.create(inputs)
    cleanup.append(created.id)
    assert created.outs["capacity_id"] == F64
    assert client.workspaces.get(created.id).capacity_id == F64
    # The next preview: the same program against the state just written.
    again = checked(provider, news, created.outs)
    assert provider.diff(created.id, created.outs, again).changes is False
    read = provider.read(created.id, created.outs)
    assert provider.diff(created.id, read.outs, again).changes is False
