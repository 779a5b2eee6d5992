"""Items (any type, data pipelines included) and their definitions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fabric_resources.client._base import Area, create_with_recovery, expect_object, given, seg
from fabric_resources.client._lro import ProgressCallback
from fabric_resources.client._paging import iterate_values
from fabric_resources.errors import FabricError
from fabric_resources.models.items import Item, ItemDefinition

__all__ = ["DataPipelines", "Items"]


class Items(Area):
    """``/workspaces/{ws}/items``: create/get/list/update/delete and definitions."""

    _collection = "items"

    def _model(self, data: Any) -> Item:
        return Item.model_validate(data)

    def _base(self, workspace_id: str) -> str:
        return f"workspaces/{seg(workspace_id)}/{self._collection}"

    def create(self, workspace_id: str, *, display_name: str, type: str, description: str | None = None,
               definition: ItemDefinition | None = None, folder_id: str | None = None,
               creation_payload: dict[str, Any] | None = None,
               on_progress: ProgressCallback | None = None,
               find: Callable[[], Item | None] | None = None) -> Item:
        """Create an item (201, or 202 followed to the result).

        An answer that leaves the outcome unknown (lost, 5xx, an operation past its deadline or
        finished without a result) is settled by ``find`` (default: the item of that name and type);
        see ``create_with_recovery``.
        """
        body: dict[str, Any] = {"displayName": display_name, "type": type}
        if description is not None:
            body["description"] = description
        if folder_id:
            body["folderId"] = folder_id
        if definition is not None:
            body["definition"] = definition.to_api()
        if creation_payload is not None:
            body["creationPayload"] = creation_payload

        lookup = find or (lambda: self.find(workspace_id, display_name, type=type))

        def send() -> Item:
            resp = self._t.request("POST", self._base(workspace_id), json=body)
            result = self._lro.result(resp, on_progress=on_progress)
            if result is None and resp.status_code == 202:
                # The operation succeeded but offers no result: the item exists, find it.
                found = lookup()
                if found is None:
                    raise FabricError(f"creating item '{display_name}': the operation succeeded without a "
                                      "result, and no item of that name is listed")
                return found
            return self._model(expect_object(result, "create item"))

        return create_with_recovery(send, lookup, rounds=self._t.policy.max_attempts)

    def get(self, workspace_id: str, item_id: str) -> Item:
        return self._model(self._json("GET", f"{self._base(workspace_id)}/{seg(item_id)}"))

    def list(self, workspace_id: str, *, type: str | None = None) -> Iterator[Item]:
        for v in iterate_values(self._t, self._base(workspace_id), {"type": type}):
            yield self._model(v)

    def find(self, workspace_id: str, display_name: str, *, type: str) -> Item | None:
        """The item of ``type`` with this display name (unique per workspace and type)."""
        wanted = display_name.casefold()
        return next(
            (i for i in self.list(workspace_id, type=type)
             if i.display_name.casefold() == wanted and i.type.casefold() == type.casefold()),
            None,
        )

    def update(self, workspace_id: str, item_id: str, *, display_name: str | None = None,
               description: str | None = None) -> Item:
        body = given({"displayName": display_name, "description": description})
        if not body:
            return self.get(workspace_id, item_id)
        return self._model(self._json("PATCH", f"{self._base(workspace_id)}/{seg(item_id)}", json=body))

    def move(self, workspace_id: str, item_id: str, *, target_folder_id: str | None = None) -> Item:
        """Move the item into ``target_folder_id`` (None: to the workspace root); returns the moved item.

        Fabric answers ``MovedItems`` (``{"value": [...]}``), which may also list items moved along
        with this one; the item asked for is picked out of it by id. Moving to where the item
        already is changes nothing, so a retry after a lost answer is harmless.
        """
        body = {"targetFolderId": target_folder_id} if target_folder_id else {}
        data = self._json("POST", f"{self._base(workspace_id)}/{seg(item_id)}/move", json=body, idempotent=True)
        moved = data.get("value") if isinstance(data, dict) else None
        for entry in moved or []:
            if isinstance(entry, dict) and str(entry.get("id", "")).lower() == item_id.lower():
                return self._model(entry)
        # An answer without the item (or an empty body): read it back rather than guess.
        return self.get(workspace_id, item_id)

    def delete(self, workspace_id: str, item_id: str, *, hard_delete: bool = False) -> None:
        params = {"hardDelete": "true"} if hard_delete else None
        self._t.request("DELETE", f"{self._base(workspace_id)}/{seg(item_id)}", params=params)

    def get_definition(self, workspace_id: str, item_id: str, *, format: str | None = None,
                       on_progress: ProgressCallback | None = None) -> ItemDefinition:
        # Read-only despite being a POST: safe to retry after any failure.
        resp = self._t.request("POST", f"{self._base(workspace_id)}/{seg(item_id)}/getDefinition",
                               params={"format": format} if format else None, idempotent=True)
        body = expect_object(self._lro.result(resp, on_progress=on_progress), "getDefinition")
        return ItemDefinition.model_validate(body.get("definition", body))

    def update_definition(self, workspace_id: str, item_id: str, definition: ItemDefinition, *,
                          update_metadata: bool = False, on_progress: ProgressCallback | None = None) -> None:
        # Setting the same definition twice gives the same item: safe to retry.
        resp = self._t.request(
            "POST", f"{self._base(workspace_id)}/{seg(item_id)}/updateDefinition",
            params={"updateMetadata": "true"} if update_metadata else None,
            json={"definition": definition.to_api()}, idempotent=True,
        )
        self._lro.result(resp, want_result=False, on_progress=on_progress)


class DataPipelines(Items):
    """The pipeline-specific twin ``/workspaces/{ws}/dataPipelines`` (type is implied)."""

    _collection = "dataPipelines"

    def create(self, workspace_id: str, *, display_name: str, type: str = "DataPipeline",
               description: str | None = None, definition: ItemDefinition | None = None,
               folder_id: str | None = None, creation_payload: dict[str, Any] | None = None,
               on_progress: ProgressCallback | None = None,
               find: Callable[[], Item | None] | None = None) -> Item:
        return super().create(workspace_id, display_name=display_name, type=type, description=description,
                              definition=definition, folder_id=folder_id, creation_payload=creation_payload,
                              on_progress=on_progress, find=find)

    def _model(self, data: Any) -> Item:
        if isinstance(data, dict):
            data = {"type": "DataPipeline", **data}
        return Item.model_validate(data)

    def list(self, workspace_id: str, *, type: str | None = None) -> Iterator[Item]:
        for v in iterate_values(self._t, self._base(workspace_id)):
            yield self._model(v)
