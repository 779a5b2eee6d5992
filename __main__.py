"""The deployable program: one Fabric workspace per stack, holding the workspace folder in `pipelines/`.

`pipelines/` is what Fabric's git integration writes (item directories with `.platform`, a subfolder,
pipelines calling each other by logicalId) plus the team's fabric-cicd `parameter.yml`; the stack name
is the environment that picks its values. Paths are resolved against this file, so the working
directory does not matter.

Stack config (namespace = the project name, `fabric-resources:`; see stacks/Pulumi.*.yaml):

    workspaceName         required    display name of the workspace
    workspaceDescription  optional
    capacityId            optional    capacity to assign the workspace to
    connections           optional    {source connection id: this environment's id}; wins over parameter.yml
    connectionNames       optional    {source connection id: connection display name}, looked up in Fabric
                                      (an unknown name fails the preview); `connections` wins over it
    valueSet              optional    the value set the variable libraries in libraries/ activate (unset:
                                      whatever is active stays)
    references            optional    {source id, or "<Type>.<Name>" of an item outside the folder: id}
    scheduleEnabled       false       the orchestrator's schedule is created disabled unless true
    schedulePipeline      "Nightly Orchestrator"
    scheduleTimes         ["02:00"]   Daily times ("HH:MM") in scheduleTimezone
    scheduleTimezone      "UTC"       a Windows time zone id, e.g. "W. Europe Standard Time"
    scheduleStart/End     2025-01-01T00:00:00Z / 2035-12-31T23:59:59Z
    adminPrincipalId      optional    granted adminRole (default Admin); adminPrincipalType default User
    readers               optional    [{id, type}] granted Viewer (one resource per principal id)
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from fabric_resources import (
    PipelineSchedule,
    VariableLibrary,
    Workspace,
    WorkspaceContent,
    WorkspaceRoleAssignment,
    lookup_connection,
)

ROOT = Path(__file__).resolve().parent

config = pulumi.Config()
workspace = Workspace("workspace", display_name=config.require("workspaceName"),
                      description=config.get("workspaceDescription"), capacity_id=config.get("capacityId"))
# Connections named per stack are looked up in Fabric; an id given in `connections` wins.
connections: dict[str, pulumi.Input[str]] = {
    source: lookup_connection(name).connection_id for source, name in (config.get_object("connectionNames") or {}).items()
}
connections.update(config.get_object("connections") or {})
content = WorkspaceContent("sales", workspace_id=workspace.id, path=ROOT / "pipelines",
                           connections=connections or None, references=config.get_object("references"))
# The variable libraries (Fabric's git format), each stack activating its own value set.
libraries = {
    folder.name.removesuffix(".VariableLibrary"): VariableLibrary(
        "library-" + folder.name.removesuffix(".VariableLibrary").lower().replace(" ", "-"),
        workspace_id=workspace.id, definition=folder, active_value_set=config.get("valueSet"))
    for folder in sorted((ROOT / "libraries").glob("*.VariableLibrary"))
}

target = content.pipelines.get(config.get("schedulePipeline") or "Nightly Orchestrator")
schedule = None
if target is not None:
    schedule = PipelineSchedule(
        "schedule", workspace_id=workspace.id, pipeline_id=target.id,
        enabled=config.get_bool("scheduleEnabled") or False,
        configuration={"type": "Daily", "times": list(config.get_object("scheduleTimes") or ["02:00"]),
                       "startDateTime": config.get("scheduleStart") or "2025-01-01T00:00:00Z",
                       "endDateTime": config.get("scheduleEnd") or "2035-12-31T23:59:59Z",
                       "localTimeZoneId": config.get("scheduleTimezone") or "UTC"})

assignments: dict[str, WorkspaceRoleAssignment] = {}
if config.get("adminPrincipalId"):
    assignments["admin"] = WorkspaceRoleAssignment(
        "admin", workspace_id=workspace.id, principal_id=config.require("adminPrincipalId"),
        principal_type=config.get("adminPrincipalType") or "User", role=config.get("adminRole") or "Admin")
# Keyed by principal id, not list position: removing one reader leaves the others' resources alone.
for reader in config.get_object("readers") or []:
    key = f"reader-{str(reader['id']).lower()}"
    assignments[key] = WorkspaceRoleAssignment(key, workspace_id=workspace.id, principal_id=reader["id"],
                                               principal_type=reader.get("type", "User"), role="Viewer")

pulumi.export("workspace_id", workspace.id)
pulumi.export("workspace_name", workspace.display_name)
pulumi.export("pipeline_ids", content.ids)
pulumi.export("definition_hashes", {name: p.definition_hash for name, p in content.pipelines.items()})
pulumi.export("schedule_id", schedule.id if schedule is not None else None)
pulumi.export("role_assignment_ids", {key: a.id for key, a in assignments.items()})
pulumi.export("variable_library_ids", {name: lib.id for name, lib in libraries.items()})
