"""Workspaces, role assignments and schedules that already exist when a create runs (an interrupted
`up`, a lost answer, or someone else's object), driven directly against the emulator with real
tokens and injected faults. The rules (DECISIONS.md): take over what is provably this stack's own,
refuse or leave alone anything else unless adopt_existing, never let two resources hold one object.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.errors import NotFoundError
from fabric_resources.providers._base import FabricProviderError
from fabric_resources.providers.role_assignment import WorkspaceRoleAssignmentProvider
from fabric_resources.providers.schedule import PipelineScheduleProvider
from fabric_resources.providers.workspace import WorkspaceProvider
from fabric_resources.settings import FabricSettings
from tests.conftest import EmulatorProcess
from tests.integration.conftest import direct

F2 = "0f084df7-c13d-451b-af5f-ed0c466403b2"
HOURLY = {"type": "Cron", "interval": 60, "startDateTime": "2025-01-01T00:00:00Z",
          "endDateTime": "2035-01-01T00:00:00Z", "localTimeZoneId": "UTC"}


def client_as(emulator: EmulatorProcess, *, client_id: str | None = None, upn: str | None = None) -> FabricClient:
    """A client signed in as another principal (a colleague in the portal, another app)."""
    return FabricClient(FabricSettings(api_url=emulator.api_url, ca_cert=emulator.ca_cert,
                                       token=emulator.token(client_id=client_id, upn=upn)))


def user(emulator: EmulatorProcess, index: int = 0) -> dict[str, Any]:
    return emulator.users[index]


@pytest.fixture
def names(client: FabricClient) -> Iterator[list[str]]:
    """Workspace names a test uses; whatever exists under them afterwards is deleted."""
    made: list[str] = []
    yield made
    for name in made:
        found = client.workspaces.find(name)
        if found is not None:
            with contextlib.suppress(NotFoundError):
                client.workspaces.delete(found.id)


def ws_props(name: str, **more: Any) -> dict[str, Any]:
    return {"display_name": name, "description": "declared", "capacity_id": None, "adopt_existing": False, **more}


# -- workspaces ---------------------------------------------------------------------------------


def test_an_empty_workspace_administered_by_the_deployer_alone_is_taken_over(
    client: FabricClient, names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    names.append(name)
    left_behind = client.workspaces.create(name)  # what an `up` killed right after the create leaves
    created = direct(WorkspaceProvider, client).create(ws_props(name))
    assert created.id == left_behind.id
    assert client.workspaces.get(left_behind.id).description == "declared"
    assert [w.id for w in client.workspaces.list() if w.display_name == name] == [left_behind.id]
    assert "empty and administered by this deployer alone" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["item", "folder", "role"])
def test_a_workspace_with_content_or_other_members_is_refused(client: FabricClient, names: list[str],
                                                              emulator: EmulatorProcess, what: str) -> None:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    names.append(name)
    ws = client.workspaces.create(name, description="someone's")
    if what == "item":
        client.items.create(ws.id, display_name="Theirs", type="DataPipeline")
    elif what == "folder":
        client.folders.create(ws.id, display_name="Theirs")
    else:
        client.role_assignments.add(ws.id, principal_id=user(emulator)["object_id"], principal_type="User",
                                    role="Viewer")
    with pytest.raises(FabricProviderError) as err:
        direct(WorkspaceProvider, client).create(ws_props(name))
    message = str(err.value)
    assert "WorkspaceNameAlreadyExists" in message and "adopt_existing=True" in message
    assert {"item": "holds 1 item", "folder": "holds folders", "role": "besides the deployer's Admin"}[what] in message
    assert client.workspaces.get(ws.id).description == "someone's"
    adopted = direct(WorkspaceProvider, client).create(ws_props(name, adopt_existing=True))
    assert adopted.id == ws.id and client.workspaces.get(ws.id).description == "declared"


def test_a_lost_workspace_create_answer_is_settled_by_lookup(client: FabricClient, names: list[str],
                                                            emulator: EmulatorProcess) -> None:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    names.append(name)
    with emulator.config(fault_route="POST /v1/workspaces", drop_after_rate=1.0):
        created = direct(WorkspaceProvider, client).create(ws_props(name))
    assert [w.id for w in client.workspaces.list() if w.display_name == name] == [created.id]


def test_a_failed_capacity_assignment_undoes_the_create(client: FabricClient, names: list[str],
                                                        emulator: EmulatorProcess) -> None:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    names.append(name)
    provider = direct(WorkspaceProvider, client)
    failing = emulator.config(capacity_assignment_fails=True, capacity_assignment_seconds=0.2)
    with failing, pytest.raises(FabricProviderError) as err:
        provider.create(ws_props(name, capacity_id=F2))
    message = str(err.value)
    assert "CapacityAssignmentFailed" in message and "deleted again" in message
    assert client.workspaces.find(name) is None  # nothing left outside the state
    created = provider.create(ws_props(name, capacity_id=F2))
    assert created.outs["capacity_id"] == F2
    assert client.workspaces.get(created.id).capacity_assignment_progress == "Completed"


def test_a_failed_capacity_assignment_never_deletes_an_adopted_workspace(
    client: FabricClient, names: list[str], emulator: EmulatorProcess
) -> None:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    names.append(name)
    theirs = client.workspaces.create(name)
    client.items.create(theirs.id, display_name="Theirs", type="DataPipeline")
    failing = emulator.config(capacity_assignment_fails=True, capacity_assignment_seconds=0.2)
    with failing, pytest.raises(FabricProviderError) as err:
        direct(WorkspaceProvider, client).create(ws_props(name, capacity_id=F2, adopt_existing=True))
    assert "left as it is" in str(err.value)
    assert client.workspaces.get(theirs.id).id == theirs.id


# -- role assignments ---------------------------------------------------------------------------


def ra_props(ws_id: str, principal: dict[str, Any], role: str = "Viewer", **more: Any) -> dict[str, Any]:
    return {"workspace_id": ws_id, "principal_id": principal["object_id"], "principal_type": "User",
            "role": role, "adopt_existing": False, **more}


def test_an_assignment_exactly_as_declared_in_our_workspace_is_taken_over(
    client: FabricClient, workspace: str, emulator: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    ada = user(emulator)
    left = client.role_assignments.add(workspace, principal_id=ada["object_id"], principal_type="User", role="Viewer")
    created = direct(WorkspaceRoleAssignmentProvider, client).create(ra_props(workspace, ada))
    assert created.id == left.id
    assert "exactly as declared" in capsys.readouterr().err


def test_an_assignment_with_another_role_is_refused_unless_adopted(client: FabricClient, workspace: str,
                                                                   emulator: EmulatorProcess) -> None:
    ada = user(emulator)
    client.role_assignments.add(workspace, principal_id=ada["object_id"], principal_type="User", role="Member")
    provider = direct(WorkspaceRoleAssignmentProvider, client)
    with pytest.raises(FabricProviderError) as err:
        provider.create(ra_props(workspace, ada))
    assert "PrincipalAlreadyHasWorkspaceRolePermissions" in str(err.value) and "adopt_existing=True" in str(err.value)
    assert client.role_assignments.find(workspace, ada["object_id"]).role == "Member"  # type: ignore[union-attr]
    provider.create(ra_props(workspace, ada, adopt_existing=True))
    assert client.role_assignments.find(workspace, ada["object_id"]).role == "Viewer"  # type: ignore[union-attr]


def test_an_assignment_in_a_workspace_the_deployer_does_not_administer_is_refused(
    client: FabricClient, emulator: EmulatorProcess, names: list[str]
) -> None:
    other_app = emulator.service_principals[1]
    me = emulator.default_sp
    with client_as(emulator, client_id=other_app["client_id"]) as theirs:
        name = f"ws-{uuid.uuid4().hex[:8]}"
        ws = theirs.workspaces.create(name)
        try:
            theirs.role_assignments.add(ws.id, principal_id=me["object_id"], principal_type="ServicePrincipal",
                                        role="Member")
            ada = user(emulator)
            theirs.role_assignments.add(ws.id, principal_id=ada["object_id"], principal_type="User", role="Viewer")
            with pytest.raises(FabricProviderError) as err:
                direct(WorkspaceRoleAssignmentProvider, client).create(ra_props(ws.id, ada))
            assert "adopt_existing=True" in str(err.value)
        finally:
            theirs.workspaces.delete(ws.id)


def test_a_lost_role_assignment_answer_is_settled(client: FabricClient, workspace: str,
                                                  emulator: EmulatorProcess) -> None:
    ada = user(emulator)
    with emulator.config(fault_route="POST /v1/workspaces/{workspaceId}/roleAssignments", drop_after_rate=1.0):
        created = direct(WorkspaceRoleAssignmentProvider, client).create(ra_props(workspace, ada, role="Contributor"))
    found = client.role_assignments.find(workspace, ada["object_id"])
    assert found is not None and (found.id, found.role) == (created.id, "Contributor")


# -- schedules ----------------------------------------------------------------------------------


@pytest.fixture
def pipeline(client: FabricClient, workspace: str) -> str:
    return client.items.create(workspace, display_name="Scheduled", type="DataPipeline").id


def sc_props(ws_id: str, item_id: str, **more: Any) -> dict[str, Any]:
    return {"workspace_id": ws_id, "pipeline_id": item_id, "job_type": "Pipeline", "enabled": True,
            "configuration": HOURLY, "adopt_existing": False, **more}


def test_a_schedule_left_by_an_interrupted_create_is_taken_over(client: FabricClient, workspace: str,
                                                                pipeline: str) -> None:
    left = client.schedules.create(workspace, pipeline, enabled=True, configuration=HOURLY)
    client.schedules.create(workspace, pipeline, enabled=False, configuration=HOURLY)  # other settings
    created = direct(PipelineScheduleProvider, client).create(sc_props(workspace, pipeline))
    assert created.id == left.id
    assert len(list(client.schedules.list(workspace, pipeline))) == 2


def test_a_schedule_made_by_someone_else_is_not_taken_unless_adopted(client: FabricClient, workspace: str,
                                                                     pipeline: str, emulator: EmulatorProcess) -> None:
    ada = user(emulator)
    client.role_assignments.add(workspace, principal_id=ada["object_id"], principal_type="User", role="Contributor")
    with client_as(emulator, upn=ada["user_principal_name"]) as portal:
        theirs = portal.schedules.create(workspace, pipeline, enabled=True, configuration=HOURLY)
    provider = direct(PipelineScheduleProvider, client)
    mine = provider.create(sc_props(workspace, pipeline))
    assert mine.id != theirs.id
    assert sorted(s.id for s in client.schedules.list(workspace, pipeline)) == sorted([mine.id, theirs.id])
    provider.delete(mine.id, mine.outs)
    adopted = provider.create(sc_props(workspace, pipeline, adopt_existing=True))
    assert adopted.id == theirs.id


def test_two_resources_never_hold_one_schedule(client: FabricClient, workspace: str, pipeline: str) -> None:
    provider = direct(PipelineScheduleProvider, client)
    first = provider.create(sc_props(workspace, pipeline))
    second = provider.create(sc_props(workspace, pipeline))  # identical settings, same deployment
    assert first.id != second.id
    # A resource renamed without an alias: the new name is created (taking nothing already held)
    # and the old one deleted afterwards; deleting must not remove what another resource holds.
    left = client.schedules.create(workspace, pipeline, enabled=False, configuration=HOURLY)
    renamed = provider.create(sc_props(workspace, pipeline, enabled=False))
    assert renamed.id == left.id
    provider.delete(left.id, renamed.outs)  # the old resource's delete, same id
    assert left.id in {s.id for s in client.schedules.list(workspace, pipeline)}
