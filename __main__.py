"""The deployable program: one Fabric workspace per stack, driven by stack config.

It deploys the workspace, every pipeline item folder under `pipelines/` (Fabric's git format,
`<Name>.DataPipeline/`), a schedule for the orchestrating pipeline and role assignments. Run it with
`pulumi up` or, where the Python language host is not available, as an Automation API inline program
(`runpy.run_path("__main__.py", run_name="__main__")`, see fabric_resources/engine.py): paths are
resolved against this file, so the working directory does not matter.

Stack config (namespace = the project name, e.g. `fabric-resources:`; see stacks/Pulumi.*.yaml):

    workspaceName         required    display name of the workspace
    workspaceDescription  optional
    capacityId            optional    capacity to assign the workspace to
    connections           optional    {name: connection id}; fills `{{ <name>_connection_id }}` tokens
    pipelineParameters    optional    {token: value}; any other `{{ token }}`
    scheduleEnabled       false       the orchestrator's schedule is created disabled unless true
    schedulePipeline      "Nightly Orchestrator"
    scheduleTimes         ["02:00"]   Daily times ("HH:MM") in scheduleTimezone
    scheduleTimezone      "UTC"       a Windows time zone id, e.g. "W. Europe Standard Time"
    scheduleStart/End     2025-01-01T00:00:00Z / 2035-12-31T23:59:59Z
    adminPrincipalId      optional    granted adminRole (default Admin); adminPrincipalType default User
    readers               optional    [{id, type}] granted Viewer

`{{ <slug>_pipeline_id }}` tokens (slug: the pipeline name in lower case, `_` between words, or an alias
below) are filled with the id of that pipeline, so a pipeline that runs another is created after it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi

from fabric_resources.definitions import load_definition
from fabric_resources.providers import DataPipeline, PipelineSchedule, Workspace, WorkspaceRoleAssignment

ROOT = Path(__file__).resolve().parent
PIPELINES_DIR = ROOT / "pipelines"

# Short token names used by the sample pipelines for the pipelines they run.
PIPELINE_TOKEN_ALIASES = {"ingest_pipeline_id": "Ingest Sales"}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main() -> None:
    config = pulumi.Config()
    workspace = Workspace(
        "workspace",
        display_name=config.require("workspaceName"),
        description=config.get("workspaceDescription"),
        capacity_id=config.get("capacityId"),
    )

    parameters: dict[str, Any] = dict(config.get_object("pipelineParameters") or {})
    for name, connection_id in (config.get_object("connections") or {}).items():
        parameters[f"{name}_connection_id"] = connection_id

    folders = sorted(PIPELINES_DIR.glob("*.DataPipeline"))
    loaded = {folder: load_definition(folder) for folder in folders}
    names = {folder: loaded[folder].display_name or folder.stem for folder in folders}
    by_token = {f"{slug(name)}_pipeline_id": name for name in names.values()}
    by_token.update(PIPELINE_TOKEN_ALIASES)

    # Pipelines referring to other pipelines need those pipelines' ids: create them in dependency order.
    pipelines: dict[str, DataPipeline] = {}
    pending = list(folders)
    while pending:
        progressed = False
        for folder in list(pending):
            refs = {t: by_token[t] for t in loaded[folder].tokens if t in by_token and t not in parameters}
            if any(target not in pipelines for target in refs.values()):
                continue
            name = names[folder]
            pipelines[name] = DataPipeline(
                f"pipeline-{slug(name).replace('_', '-')}",
                workspace_id=workspace.id,
                display_name=name,
                definition=folder,
                parameters={**parameters, **{t: pipelines[target].id for t, target in refs.items()}},
            )
            pending.remove(folder)
            progressed = True
        if not progressed:
            stuck = ", ".join(names[f] for f in pending)
            raise ValueError(f"pipelines {stuck} refer to each other in a cycle or to a pipeline that is missing")

    schedule_target = config.get("schedulePipeline") or "Nightly Orchestrator"
    schedule = None
    if schedule_target in pipelines:
        schedule = PipelineSchedule(
            "schedule",
            workspace_id=workspace.id,
            pipeline_id=pipelines[schedule_target].id,
            enabled=config.get_bool("scheduleEnabled") or False,
            configuration={
                "type": "Daily",
                "times": list(config.get_object("scheduleTimes") or ["02:00"]),
                "startDateTime": config.get("scheduleStart") or "2025-01-01T00:00:00Z",
                "endDateTime": config.get("scheduleEnd") or "2035-12-31T23:59:59Z",
                "localTimeZoneId": config.get("scheduleTimezone") or "UTC",
            },
        )

    assignments: dict[str, WorkspaceRoleAssignment] = {}
    admin_id = config.get("adminPrincipalId")
    if admin_id:
        assignments["admin"] = WorkspaceRoleAssignment(
            "admin",
            workspace_id=workspace.id,
            principal_id=admin_id,
            principal_type=config.get("adminPrincipalType") or "User",
            role=config.get("adminRole") or "Admin",
        )
    for index, reader in enumerate(config.get_object("readers") or []):
        assignments[f"reader-{index}"] = WorkspaceRoleAssignment(
            f"reader-{index}",
            workspace_id=workspace.id,
            principal_id=reader["id"],
            principal_type=reader.get("type", "User"),
            role="Viewer",
        )

    pulumi.export("workspace_id", workspace.id)
    pulumi.export("workspace_name", workspace.display_name)
    pulumi.export("pipeline_ids", {name: p.id for name, p in pipelines.items()})
    pulumi.export("definition_hashes", {name: p.definition_hash for name, p in pipelines.items()})
    pulumi.export("schedule_id", schedule.id if schedule is not None else None)
    pulumi.export("role_assignment_ids", {key: a.id for key, a in assignments.items()})


main()
