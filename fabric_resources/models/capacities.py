"""Capacities."""

from __future__ import annotations

from fabric_resources.models.common import FabricModel

__all__ = ["Capacity"]


class Capacity(FabricModel):
    id: str
    display_name: str
    sku: str | None = None
    region: str | None = None
    state: str | None = None  # Active | Inactive
