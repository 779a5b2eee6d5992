"""Variable libraries: the type-specific ``/workspaces/{ws}/variableLibraries`` endpoints.

They are items (create/get/list/update/delete and definitions work as for any item) whose answers
also carry ``properties.activeValueSetName``, which only these endpoints can set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fabric_resources.client._base import seg
from fabric_resources.client._lro import ProgressCallback
from fabric_resources.client._paging import iterate_values
from fabric_resources.client.items import Items
from fabric_resources.models.items import Item, ItemDefinition
from fabric_resources.models.variable_libraries import VariableLibrary

__all__ = ["VariableLibraries"]

ITEM_TYPE = "VariableLibrary"


class VariableLibraries(Items):
    _collection = "variableLibraries"

    def _model(self, data: Any) -> VariableLibrary:
        if isinstance(data, dict):
            data = {"type": ITEM_TYPE, **data}
        return VariableLibrary.model_validate(data)

    def create(self, workspace_id: str, *, display_name: str, type: str = ITEM_TYPE,
               description: str | None = None, definition: ItemDefinition | None = None,
               folder_id: str | None = None, creation_payload: dict[str, Any] | None = None,
               on_progress: ProgressCallback | None = None,
               find: Callable[[], Item | None] | None = None) -> VariableLibrary:
        item = super().create(workspace_id, display_name=display_name, type=type, description=description,
                              definition=definition, folder_id=folder_id, creation_payload=creation_payload,
                              on_progress=on_progress, find=find)
        # A create answered through an LRO result may not carry properties: read them back then.
        typed = _typed(item)
        return typed if typed.properties is not None else self.get(workspace_id, item.id)

    def get(self, workspace_id: str, item_id: str) -> VariableLibrary:
        return _typed(super().get(workspace_id, item_id))

    def list(self, workspace_id: str, *, type: str | None = None) -> Iterator[VariableLibrary]:
        for v in iterate_values(self._t, self._base(workspace_id)):
            yield self._model(v)

    def set_active_value_set(self, workspace_id: str, item_id: str, name: str) -> VariableLibrary:
        """Make ``name`` the active value set (PATCH ``properties.activeValueSetName``; idempotent)."""
        return self._model(self._json("PATCH", f"{self._base(workspace_id)}/{seg(item_id)}",
                                      json={"properties": {"activeValueSetName": name}}))


def _typed(item: Item) -> VariableLibrary:
    """Items answered by these endpoints are built by ``_model``; anything else is converted."""
    if isinstance(item, VariableLibrary):
        return item
    return VariableLibrary.model_validate(item.model_dump(by_alias=True))
