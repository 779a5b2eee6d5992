"""The Fabric REST API client: ``FabricClient(settings)`` and its per-area classes."""

from fabric_resources.client._auth import TokenProvider
from fabric_resources.client._client import FabricClient
from fabric_resources.client._lro import LroPoller
from fabric_resources.client._transport import RetryPolicy, ThrottleGate, Transport
from fabric_resources.client.capacities import Capacities
from fabric_resources.client.connections import Connections
from fabric_resources.client.folders import Folders
from fabric_resources.client.items import DataPipelines, Items
from fabric_resources.client.jobs import Jobs
from fabric_resources.client.operations import Operations
from fabric_resources.client.schedules import Schedules
from fabric_resources.client.tags import Tags
from fabric_resources.client.variable_libraries import VariableLibraries
from fabric_resources.client.workspaces import RoleAssignments, Workspaces

__all__ = [
    "Capacities",
    "Connections",
    "DataPipelines",
    "FabricClient",
    "Folders",
    "Items",
    "Jobs",
    "LroPoller",
    "Operations",
    "RetryPolicy",
    "RoleAssignments",
    "Schedules",
    "Tags",
    "ThrottleGate",
    "TokenProvider",
    "Transport",
    "VariableLibraries",
    "Workspaces",
]
