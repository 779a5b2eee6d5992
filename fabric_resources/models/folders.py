"""Workspace folders."""

from __future__ import annotations

from fabric_resources.models.common import FabricModel

__all__ = ["Folder"]


class Folder(FabricModel):
    id: str
    display_name: str
    workspace_id: str | None = None
    parent_folder_id: str | None = None
