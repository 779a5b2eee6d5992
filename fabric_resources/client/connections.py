"""Connections: list and get (a program looks connections up; it does not make them)."""

from __future__ import annotations

from collections.abc import Iterator

from fabric_resources.client._base import Area, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.models.connections import Connection

__all__ = ["Connections"]


class Connections(Area):
    def list(self) -> Iterator[Connection]:
        """Every connection the caller may use."""
        for v in iterate_values(self._t, "connections"):
            yield Connection.model_validate(v)

    def get(self, connection_id: str) -> Connection:
        return Connection.model_validate(self._json("GET", f"connections/{seg(connection_id)}"))
