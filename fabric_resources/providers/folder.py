"""Folder: a folder in a workspace, at the root or inside another folder.

Renaming and moving (a new `parent_folder_id`) are updates; another workspace means a new folder.
Items point at a folder with their `folder_id` (an Output of this resource), so the engine creates the
folder first and deletes it last. A folder that still holds something when the engine comes to delete
it holds objects this stack does not manage: the delete is refused, naming them, rather than moving or
deleting someone else's items.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from fabric_resources.errors import AlreadyExistsError, ConflictError, FabricError
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    InputsModel,
    allow_not_found,
    describe_error,
    lower_id,
    optional_text,
    read_outputs,
    translate_errors,
)

__all__ = ["FOLDER_NAME_FORBIDDEN", "Folder", "FolderProvider"]

#: Characters Fabric refuses in folder names (besides leading/trailing spaces).
FOLDER_NAME_FORBIDDEN = '~"#%&*:<>?/\\{|}'


def folder_name_problem(name: Any) -> str | None:
    """Why Fabric would refuse ``name`` as a folder name, or None."""
    if not isinstance(name, str):
        return None
    if name != name.strip():
        return "must not start or end with a space"
    bad = sorted({c for c in name if c in FOLDER_NAME_FORBIDDEN or ord(c) < 32})
    if bad:
        return f"must not contain {' '.join(repr(c) for c in bad)} (Fabric refuses any of {FOLDER_NAME_FORBIDDEN})"
    return None


class FolderProvider(FabricProvider):
    kind = "Folder"
    inputs_model = InputsModel("FolderArgs")
    replace_on = ("workspace_id",)
    compared = ("display_name", "parent_folder_id")
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "parent_folder_id": lambda v: lower_id(optional_text(v)),
    }

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        problem = folder_name_problem(inputs.get("display_name"))
        if problem:
            return [CheckFailure("display_name", f"Folder: invalid 'display_name': {problem}; rename the folder")]
        return []

    @staticmethod
    def _outputs(ws_id: str, folder: Any, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "workspace_id": ws_id,
            "display_name": folder.display_name,
            "parent_folder_id": lower_id(optional_text(folder.parent_folder_id)),
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        folders = self.client.folders
        ws_id = props["workspace_id"]
        name = props["display_name"]
        parent = lower_id(optional_text(props.get("parent_folder_id")))
        where = f"folder {parent}" if parent else f"the root of workspace {ws_id}"
        try:
            folder = folders.create(ws_id, display_name=name, parent_folder_id=parent)
        except AlreadyExistsError as exc:
            if not props.get("adopt_existing"):
                raise FabricProviderError(
                    f"a folder named '{name}' already exists in {where} ({describe_error(exc)}); set "
                    "adopt_existing=True to take it over, or choose another display_name"
                ) from None
            with translate_errors(f"adopting folder '{name}' in {where}"):
                found = folders.find(ws_id, name, parent_folder_id=parent)
            if found is None:
                raise FabricProviderError(f"folder '{name}' is reported as taken in {where} but is not listed") from None
            folder = found
        except FabricError as exc:
            raise FabricProviderError(f"creating folder '{name}' in {where} failed: {describe_error(exc)}") from None
        return CreateResult(folder.id, self._outputs(ws_id, folder, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ws_id = props["workspace_id"]
        return read_outputs(id_, f"reading folder {id_} in workspace {ws_id}",
                            lambda: self.client.folders.get(ws_id, id_),
                            lambda folder: self._outputs(ws_id, folder, props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        folders = self.client.folders
        ws_id = news["workspace_id"]
        name = news["display_name"]
        norm = self.normalizers["parent_folder_id"]
        parent = norm(news.get("parent_folder_id"))
        with translate_errors(f"updating folder '{name}' ({id_})"):
            folder: Any = None
            if parent != norm(olds.get("parent_folder_id")):
                # Move first: the new name may only be free under the new parent.
                folder = folders.move(ws_id, id_, target_folder_id=parent)
            if name != olds.get("display_name"):
                folder = folders.update(ws_id, id_, display_name=name)
            if folder is None:
                folder = folders.get(ws_id, id_)
        return UpdateResult(self._outputs(ws_id, folder, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id = props["workspace_id"]
        name = props.get("display_name") or id_
        try:
            allow_not_found(f"deleting folder '{name}' ({id_})", lambda: self._delete(ws_id, id_))
        except _FolderNotEmpty as exc:
            raise FabricProviderError(
                f"folder '{name}' ({id_}) still holds {exc.content}, which this stack does not manage; move "
                f"or delete {'it' if exc.count == 1 else 'them'} in workspace {ws_id} first (the stack's own "
                "items are deleted before their folder)"
            ) from None

    def _delete(self, ws_id: str, folder_id: str) -> None:
        client = self.client
        try:
            client.folders.delete(ws_id, folder_id)
        except ConflictError as exc:
            if exc.error_code != "FolderNotEmpty":
                raise
            with translate_errors(f"listing what folder {folder_id} holds"):
                items = [f"{i.type} '{i.display_name}'" for i in client.items.list(ws_id)
                         if lower_id(i.folder_id) == folder_id.lower()]
                subfolders = [f"folder '{f.display_name}'" for f in client.folders.list(ws_id)
                              if lower_id(f.parent_folder_id) == folder_id.lower()]
            content = [*subfolders, *items]
            raise _FolderNotEmpty(", ".join(content) or "content (not listed to this principal)",
                                  len(content)) from None


class _FolderNotEmpty(Exception):
    def __init__(self, content: str, count: int) -> None:
        super().__init__(content)
        self.content = content
        self.count = count


_PROVIDER = FolderProvider()


class Folder(Resource, module="fabric", name="Folder"):
    """A workspace folder. The resource id is the folder id; pass it as another resource's
    `folder_id` (or a child folder's `parent_folder_id`)."""

    workspace_id: pulumi.Output[str]
    display_name: pulumi.Output[str]
    parent_folder_id: pulumi.Output[str | None]
    adopt_existing: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        display_name: pulumi.Input[str],
        parent_folder_id: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        adopt_existing: bool = False,
    ) -> None:
        props = {
            "workspace_id": workspace_id,
            "display_name": display_name,
            "parent_folder_id": parent_folder_id,
            "adopt_existing": adopt_existing,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
