"""Workspace folders."""

from __future__ import annotations

from collections.abc import Iterator

from fabric_resources.client._base import Area, create_with_recovery, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.models.folders import Folder

__all__ = ["Folders"]


class Folders(Area):
    def create(self, workspace_id: str, *, display_name: str, parent_folder_id: str | None = None) -> Folder:
        """Create a folder; names are unique per parent, so a lost answer is settled by a lookup."""
        body = {"displayName": display_name}
        if parent_folder_id:
            body["parentFolderId"] = parent_folder_id

        def send() -> Folder:
            return Folder.model_validate(self._json("POST", f"workspaces/{seg(workspace_id)}/folders", json=body))

        return create_with_recovery(
            send, lambda: self.find(workspace_id, display_name, parent_folder_id=parent_folder_id),
            rounds=self._t.policy.max_attempts)

    def get(self, workspace_id: str, folder_id: str) -> Folder:
        return Folder.model_validate(self._json("GET", f"workspaces/{seg(workspace_id)}/folders/{seg(folder_id)}"))

    def list(self, workspace_id: str, *, root_folder_id: str | None = None,
             recursive: bool | None = None) -> Iterator[Folder]:
        params = {"rootFolderId": root_folder_id,
                  "recursive": None if recursive is None else str(recursive).lower()}
        for v in iterate_values(self._t, f"workspaces/{seg(workspace_id)}/folders", params):
            yield Folder.model_validate(v)

    def find(self, workspace_id: str, display_name: str, *, parent_folder_id: str | None = None) -> Folder | None:
        # Fabric compares folder names ignoring case, and ids may come back in another case.
        wanted, parent = display_name.casefold(), (parent_folder_id or "").lower()
        for folder in self.list(workspace_id):
            if folder.display_name.casefold() == wanted and (folder.parent_folder_id or "").lower() == parent:
                return folder
        return None

    def update(self, workspace_id: str, folder_id: str, *, display_name: str) -> Folder:
        return Folder.model_validate(self._json(
            "PATCH", f"workspaces/{seg(workspace_id)}/folders/{seg(folder_id)}", json={"displayName": display_name}
        ))

    def delete(self, workspace_id: str, folder_id: str) -> None:
        self._t.request("DELETE", f"workspaces/{seg(workspace_id)}/folders/{seg(folder_id)}")

    def move(self, workspace_id: str, folder_id: str, *, target_folder_id: str | None = None) -> Folder:
        """Move under ``target_folder_id`` (None: to the workspace root)."""
        body = {"targetFolderId": target_folder_id} if target_folder_id else {}
        return Folder.model_validate(self._json(
            "POST", f"workspaces/{seg(workspace_id)}/folders/{seg(folder_id)}/move", json=body, idempotent=True
        ))
