"""Pydantic models of Fabric REST API payloads (snake_case attributes, camelCase aliases)."""

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
