"""Pulumi dynamic providers for Fabric: one module per resource, shared plumbing in `_base`.

Each module holds the provider and the Resource class; the inputs models (`...Args`, used by
`check`) are in `inputs`, the one module here that imports pydantic. Names are imported on first
use: the provider process unpickles one provider class and loads only its module, and a program
declaring pipelines loads neither pydantic nor any other resource's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fabric_resources._lazy import lazy_exports

if TYPE_CHECKING:
    from fabric_resources.providers._base import FabricProvider, FabricProviderError
    from fabric_resources.providers.connection import (
        ConnectionLookup,
        ConnectionLookupProvider,
        lookup_connection,
    )
    from fabric_resources.providers.data_pipeline import DataPipeline, DataPipelineProvider
    from fabric_resources.providers.folder import Folder, FolderProvider
    from fabric_resources.providers.inputs import (
        ConnectionLookupArgs,
        DataPipelineArgs,
        FolderArgs,
        PipelineScheduleArgs,
        VariableLibraryArgs,
        WorkspaceArgs,
        WorkspaceRoleAssignmentArgs,
    )
    from fabric_resources.providers.role_assignment import (
        WorkspaceRoleAssignment,
        WorkspaceRoleAssignmentProvider,
    )
    from fabric_resources.providers.schedule import (
        PipelineSchedule,
        PipelineScheduleProvider,
    )
    from fabric_resources.providers.variable_library import (
        VariableLibrary,
        VariableLibraryProvider,
    )
    from fabric_resources.providers.workspace import Workspace, WorkspaceProvider
    from fabric_resources.providers.workspace_content import WorkspaceContent

_EXPORTS = {
    "ConnectionLookup": "fabric_resources.providers.connection",
    "ConnectionLookupArgs": "fabric_resources.providers.inputs",
    "ConnectionLookupProvider": "fabric_resources.providers.connection",
    "DataPipeline": "fabric_resources.providers.data_pipeline",
    "DataPipelineArgs": "fabric_resources.providers.inputs",
    "DataPipelineProvider": "fabric_resources.providers.data_pipeline",
    "FabricProvider": "fabric_resources.providers._base",
    "FabricProviderError": "fabric_resources.providers._base",
    "Folder": "fabric_resources.providers.folder",
    "FolderArgs": "fabric_resources.providers.inputs",
    "FolderProvider": "fabric_resources.providers.folder",
    "PipelineSchedule": "fabric_resources.providers.schedule",
    "PipelineScheduleArgs": "fabric_resources.providers.inputs",
    "PipelineScheduleProvider": "fabric_resources.providers.schedule",
    "VariableLibrary": "fabric_resources.providers.variable_library",
    "VariableLibraryArgs": "fabric_resources.providers.inputs",
    "VariableLibraryProvider": "fabric_resources.providers.variable_library",
    "Workspace": "fabric_resources.providers.workspace",
    "WorkspaceArgs": "fabric_resources.providers.inputs",
    "WorkspaceContent": "fabric_resources.providers.workspace_content",
    "WorkspaceProvider": "fabric_resources.providers.workspace",
    "WorkspaceRoleAssignment": "fabric_resources.providers.role_assignment",
    "WorkspaceRoleAssignmentArgs": "fabric_resources.providers.inputs",
    "WorkspaceRoleAssignmentProvider": "fabric_resources.providers.role_assignment",
    "lookup_connection": "fabric_resources.providers.connection",
}

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


# Module __getattr__/__dir__ (PEP 562): each name is imported on first use.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
