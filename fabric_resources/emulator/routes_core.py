"""The core platform API of the emulator, assembled from its parts.

- routes_workspaces: capacities, workspaces, capacity assignment, role assignments
- routes_items: items, ``dataPipelines`` / ``variableLibraries`` twins, definitions, folders
- routes_tenant: tags (list, applyTags / unapplyTags on items), connections
- routes_operations: long-running operations
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import routes_items, routes_operations, routes_tenant, routes_workspaces


def routes() -> list[BaseRoute]:
    """Every /v1 route of the core API (jobs and schedules live in routes_jobs)."""
    return [*routes_workspaces.routes(), *routes_items.routes(), *routes_tenant.routes(),
            *routes_operations.routes()]
