"""Pulumi dynamic providers for Fabric: one module per resource, shared plumbing in `_base`.

Each module holds the inputs model (`...Args`, used by `check`), the provider and the Resource class.
"""

from fabric_resources.providers._base import FabricProvider, FabricProviderError
from fabric_resources.providers.connection import (
    ConnectionLookup,
    ConnectionLookupArgs,
    ConnectionLookupProvider,
    lookup_connection,
)
from fabric_resources.providers.data_pipeline import DataPipeline, DataPipelineArgs, DataPipelineProvider
from fabric_resources.providers.folder import Folder, FolderArgs, FolderProvider
from fabric_resources.providers.role_assignment import (
    WorkspaceRoleAssignment,
    WorkspaceRoleAssignmentArgs,
    WorkspaceRoleAssignmentProvider,
)
from fabric_resources.providers.schedule import (
    PipelineSchedule,
    PipelineScheduleArgs,
    PipelineScheduleProvider,
)
from fabric_resources.providers.variable_library import (
    VariableLibrary,
    VariableLibraryArgs,
    VariableLibraryProvider,
)
from fabric_resources.providers.workspace import Workspace, WorkspaceArgs, WorkspaceProvider
from fabric_resources.providers.workspace_content import WorkspaceContent

__all__ = [
    "ConnectionLookup",
    "ConnectionLookupArgs",
    "ConnectionLookupProvider",
    "DataPipeline",
    "DataPipelineArgs",
    "DataPipelineProvider",
    "FabricProvider",
    "Folder",
    "FolderArgs",
    "FolderProvider",
    "FabricProviderError",
    "PipelineSchedule",
    "PipelineScheduleArgs",
    "PipelineScheduleProvider",
    "VariableLibrary",
    "VariableLibraryArgs",
    "VariableLibraryProvider",
    "Workspace",
    "WorkspaceArgs",
    "WorkspaceContent",
    "WorkspaceProvider",
    "WorkspaceRoleAssignment",
    "WorkspaceRoleAssignmentArgs",
    "WorkspaceRoleAssignmentProvider",
    "lookup_connection",
]
