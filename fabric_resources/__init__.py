"""fabric-resources: Microsoft Fabric Data Factory pipelines, schedules and workspaces as Pulumi resources.

Public API (see __all__). Attributes are imported lazily so that light users -- the emulator, the
CLI, the provider process -- do not pay for what they do not use.
"""

from __future__ import annotations

from fabric_resources._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # resources
    "Workspace": "fabric_resources.providers",
    "WorkspaceRoleAssignment": "fabric_resources.providers",
    "DataPipeline": "fabric_resources.providers",
    "PipelineSchedule": "fabric_resources.providers",
    "Folder": "fabric_resources.providers",
    "VariableLibrary": "fabric_resources.providers",
    "ConnectionLookup": "fabric_resources.providers",
    "lookup_connection": "fabric_resources.providers",
    "WorkspaceContent": "fabric_resources.providers",
    # connection and client
    "FabricSettings": "fabric_resources.settings",
    "FabricClient": "fabric_resources.client",
    # errors
    "FabricError": "fabric_resources.errors",
    "HTTPError": "fabric_resources.errors",
    "NotFoundError": "fabric_resources.errors",
    "ConflictError": "fabric_resources.errors",
    "ValidationError": "fabric_resources.errors",
    "AuthenticationError": "fabric_resources.errors",
    "PermissionDeniedError": "fabric_resources.errors",
    "ThrottledError": "fabric_resources.errors",
    "OperationFailedError": "fabric_resources.errors",
    "TransportError": "fabric_resources.errors",
    "CredentialError": "fabric_resources.errors",
    "DefinitionError": "fabric_resources.errors",
}

__all__ = sorted(_EXPORTS)


# Module __getattr__/__dir__ (PEP 562): each name is imported on first use.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
