"""The input models of every resource, one pydantic model per provider (one field per input).

They live apart from the providers so that a Pulumi program, which imports the Resource classes and
their providers but never validates, does not import pydantic: each provider names its model with
``InputsModel("...")`` and the first ``check`` in the provider process imports this module. Adding
an input: a field here, the keyword on the Resource's ``__init__``, and ``compared``/``replace_on``
in the provider.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from fabric_resources.models import ScheduleConfig
from fabric_resources.models.common import Guid

__all__ = [
    "ConnectionLookupArgs",
    "DataPipelineArgs",
    "FolderArgs",
    "PipelineScheduleArgs",
    "VariableLibraryArgs",
    "WorkspaceArgs",
    "WorkspaceRoleAssignmentArgs",
]


# providers/workspace.py
class WorkspaceArgs(BaseModel):
    """Inputs of a Workspace (validated by `check`, before any API call)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    display_name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=4000)] | None = None
    # None: not managed (a tenant may put new workspaces on a default capacity); "": no capacity.
    capacity_id: Guid | Literal[""] | None = None
    adopt_existing: bool = False


# providers/folder.py
class FolderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace_id: Guid
    display_name: Annotated[str, Field(min_length=1, max_length=255)]
    parent_folder_id: Guid | None = None
    adopt_existing: bool = False


# providers/role_assignment.py
class WorkspaceRoleAssignmentArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace_id: Guid
    principal_id: Guid
    principal_type: Literal["User", "Group", "ServicePrincipal", "ServicePrincipalProfile"]
    role: Literal["Admin", "Member", "Contributor", "Viewer"]
    adopt_existing: bool = False


# providers/data_pipeline.py
class DataPipelineArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace_id: Guid
    display_name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=256)] | None = None
    definition: Annotated[str, Field(min_length=2)]
    # None: not managed (the item stays where it is put); "": the workspace root.
    folder_id: Guid | Literal[""] | None = None
    logical_id: Guid | None = None
    adopt_existing: bool = False
    # Names of the tenant's tags; None: the item's tags are not managed.
    tags: list[Annotated[str, Field(min_length=1)]] | None = None


# providers/variable_library.py
class VariableLibraryArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace_id: Guid
    display_name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=256)] | None = None
    definition: Annotated[str, Field(min_length=2)]
    active_value_set: Annotated[str, Field(min_length=1)] | None = None
    # None: not managed (the item stays where it is put); "": the workspace root.
    folder_id: Guid | Literal[""] | None = None
    logical_id: Guid | None = None
    adopt_existing: bool = False
    # Names of the tenant's tags; None: the item's tags are not managed.
    tags: list[Annotated[str, Field(min_length=1)]] | None = None


# providers/schedule.py
class PipelineScheduleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace_id: Guid
    pipeline_id: Guid
    job_type: Annotated[str, Field(min_length=1, max_length=64)] = "Pipeline"
    enabled: bool
    configuration: ScheduleConfig
    adopt_existing: bool = False


# providers/connection.py
class ConnectionLookupArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    display_name: Annotated[str, Field(min_length=1, max_length=200)]
    # Filled in by check (the resolution), never by the program.
    connection_id: str | None = None
    connection_type: str | None = None
    connectivity_type: str | None = None
