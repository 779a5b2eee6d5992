"""Capacities (read-only)."""

from __future__ import annotations

from fabric_resources.client._base import Area, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.models.capacities import Capacity

__all__ = ["Capacities"]


class Capacities(Area):
    def list(self) -> list[Capacity]:
        return [Capacity.model_validate(v) for v in iterate_values(self._t, "capacities")]

    def get(self, capacity_id: str) -> Capacity:
        return Capacity.model_validate(self._json("GET", f"capacities/{seg(capacity_id)}"))
