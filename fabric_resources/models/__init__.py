"""Pydantic models of Fabric REST API payloads (snake_case attributes, camelCase aliases).

Names are imported on first use: building every model costs a few hundred milliseconds, which the
Pulumi program and the provider process would otherwise pay in every preview for models they never
use (a pipeline needs the item models, not the variable-library or schedule ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fabric_resources._lazy import lazy_exports

if TYPE_CHECKING:
    from fabric_resources.models.capacities import Capacity
    from fabric_resources.models.common import (
        ErrorRelatedResource,
        ErrorResponse,
        ErrorResponseDetails,
        FabricModel,
        Guid,
        OperationState,
        Principal,
    )
    from fabric_resources.models.connections import Connection, ConnectionDetails
    from fabric_resources.models.folders import Folder
    from fabric_resources.models.items import DefinitionPart, Item, ItemDefinition
    from fabric_resources.models.jobs import JOB_TERMINAL_STATUSES, ActivityRun, ActivityRunError, JobInstance
    from fabric_resources.models.schedules import (
        CronScheduleConfig,
        DailyScheduleConfig,
        DayOfMonthOccurrence,
        ItemSchedule,
        MonthlyOccurrence,
        MonthlyScheduleConfig,
        OrdinalWeekdayOccurrence,
        ScheduleConfig,
        WeeklyScheduleConfig,
    )
    from fabric_resources.models.tags import ItemTag, Tag, TagScope
    from fabric_resources.models.variable_libraries import (
        DEFAULT_VALUE_SET,
        LibraryVariable,
        ValueSet,
        VariableLibrary,
        VariableLibraryContent,
        VariableLibraryDefinitionError,
        VariableLibraryProperties,
        VariableOverride,
    )
    from fabric_resources.models.workspaces import (
        WORKSPACE_ROLES,
        Workspace,
        WorkspaceIdentity,
        WorkspaceRoleAssignment,
    )

_EXPORTS = {
    "ActivityRun": "fabric_resources.models.jobs",
    "ActivityRunError": "fabric_resources.models.jobs",
    "Capacity": "fabric_resources.models.capacities",
    "Connection": "fabric_resources.models.connections",
    "ConnectionDetails": "fabric_resources.models.connections",
    "CronScheduleConfig": "fabric_resources.models.schedules",
    "DEFAULT_VALUE_SET": "fabric_resources.models.variable_libraries",
    "DailyScheduleConfig": "fabric_resources.models.schedules",
    "DayOfMonthOccurrence": "fabric_resources.models.schedules",
    "DefinitionPart": "fabric_resources.models.items",
    "ErrorRelatedResource": "fabric_resources.models.common",
    "ErrorResponse": "fabric_resources.models.common",
    "ErrorResponseDetails": "fabric_resources.models.common",
    "FabricModel": "fabric_resources.models.common",
    "Folder": "fabric_resources.models.folders",
    "Guid": "fabric_resources.models.common",
    "Item": "fabric_resources.models.items",
    "ItemDefinition": "fabric_resources.models.items",
    "ItemSchedule": "fabric_resources.models.schedules",
    "ItemTag": "fabric_resources.models.tags",
    "JOB_TERMINAL_STATUSES": "fabric_resources.models.jobs",
    "JobInstance": "fabric_resources.models.jobs",
    "LibraryVariable": "fabric_resources.models.variable_libraries",
    "MonthlyOccurrence": "fabric_resources.models.schedules",
    "MonthlyScheduleConfig": "fabric_resources.models.schedules",
    "OperationState": "fabric_resources.models.common",
    "OrdinalWeekdayOccurrence": "fabric_resources.models.schedules",
    "Principal": "fabric_resources.models.common",
    "ScheduleConfig": "fabric_resources.models.schedules",
    "Tag": "fabric_resources.models.tags",
    "TagScope": "fabric_resources.models.tags",
    "ValueSet": "fabric_resources.models.variable_libraries",
    "VariableLibrary": "fabric_resources.models.variable_libraries",
    "VariableLibraryContent": "fabric_resources.models.variable_libraries",
    "VariableLibraryDefinitionError": "fabric_resources.models.variable_libraries",
    "VariableLibraryProperties": "fabric_resources.models.variable_libraries",
    "VariableOverride": "fabric_resources.models.variable_libraries",
    "WORKSPACE_ROLES": "fabric_resources.models.workspaces",
    "WeeklyScheduleConfig": "fabric_resources.models.schedules",
    "Workspace": "fabric_resources.models.workspaces",
    "WorkspaceIdentity": "fabric_resources.models.workspaces",
    "WorkspaceRoleAssignment": "fabric_resources.models.workspaces",
}

__all__ = [
    "DEFAULT_VALUE_SET",
    "JOB_TERMINAL_STATUSES",
    "WORKSPACE_ROLES",
    "ActivityRun",
    "ActivityRunError",
    "Capacity",
    "Connection",
    "ConnectionDetails",
    "CronScheduleConfig",
    "DailyScheduleConfig",
    "DayOfMonthOccurrence",
    "DefinitionPart",
    "ErrorRelatedResource",
    "ErrorResponse",
    "ErrorResponseDetails",
    "FabricModel",
    "Folder",
    "Guid",
    "Item",
    "ItemDefinition",
    "ItemSchedule",
    "ItemTag",
    "JobInstance",
    "LibraryVariable",
    "MonthlyOccurrence",
    "MonthlyScheduleConfig",
    "OperationState",
    "OrdinalWeekdayOccurrence",
    "Principal",
    "ScheduleConfig",
    "Tag",
    "TagScope",
    "ValueSet",
    "VariableLibrary",
    "VariableLibraryContent",
    "VariableLibraryDefinitionError",
    "VariableLibraryProperties",
    "VariableOverride",
    "WeeklyScheduleConfig",
    "Workspace",
    "WorkspaceIdentity",
    "WorkspaceRoleAssignment",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
