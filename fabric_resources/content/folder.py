"""Reading a workspace folder in the format Fabric's git integration writes.

A workspace folder holds one directory per item (``<Name>.<Type>/`` with a ``.platform`` file and the
item's definition files); any other directory between the root and an item directory stands for a
Fabric folder of the workspace. This module only reads and checks: no network, no Pulumi.

Rules checked here, each failing with a :class:`~fabric_resources.errors.DefinitionError` that names
the file and the fix: every ``.platform`` is a JSON object with ``metadata.type``,
``metadata.displayName`` and ``config.logicalId``; no two items of one type share a display name; no
two items share a logicalId (the all-zero placeholder that Fabric's export API writes aside); only
item types this project deploys are present.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric_resources.errors import DefinitionError

__all__ = [
    "DEPLOYABLE_TYPES",
    "PARAMETER_FILE",
    "PLATFORM_FILE",
    "ZERO_GUID",
    "RepositoryItem",
    "WorkspaceFolder",
    "read_workspace_folder",
]

PLATFORM_FILE = ".platform"
PARAMETER_FILE = "parameter.yml"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
#: Item types WorkspaceContent deploys (one resource class each).
DEPLOYABLE_TYPES = ("DataPipeline",)


@dataclass(frozen=True)
class RepositoryItem:
    """One item directory of a workspace folder.

    ``folder_path`` is the Fabric folder the item belongs in, as ``/A/B`` ("" for the workspace root);
    ``files`` maps each definition file's path relative to the item directory (POSIX separators) to
    its text, ``.platform`` excluded.
    """

    item_type: str
    display_name: str
    description: str | None
    logical_id: str
    directory: Path
    folder_path: str
    platform: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.display_name}.{self.item_type}"


@dataclass(frozen=True)
class WorkspaceFolder:
    """A whole workspace folder: its items and the Fabric folders they sit in."""

    root: Path
    items: tuple[RepositoryItem, ...]
    #: Every Fabric folder path (ancestors included), parents before children.
    folders: tuple[str, ...]

    def by_logical_id(self) -> dict[str, RepositoryItem]:
        """Items keyed by logicalId in lower case (the placeholder all-zero id left out)."""
        return {i.logical_id.lower(): i for i in self.items if i.logical_id.lower() != ZERO_GUID}


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: Windows editors (and some exports) write a byte order mark.
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc.strerror or exc}", field="path") from exc
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
                              field="path") from exc


def _platform(path: Path) -> tuple[str, str, str | None, str, dict[str, Any]]:
    """(type, displayName, description, logicalId, document) of a ``.platform`` file."""
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the syntax "
            "(Fabric writes this file as a JSON object with metadata and config)", field="path"
        ) from exc
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(metadata, dict) or not isinstance(config, dict):
        raise DefinitionError(
            f"{path}: a .platform file needs a 'metadata' object (type, displayName) and a 'config' object "
            '(version, logicalId), e.g. {"metadata": {"type": "DataPipeline", "displayName": "Load"}, '
            '"config": {"version": "2.0", "logicalId": "<a new GUID>"}}', field="path")
    item_type, name = metadata.get("type"), metadata.get("displayName")
    if not isinstance(item_type, str) or not item_type or not isinstance(name, str) or not name.strip():
        raise DefinitionError(f"{path}: metadata.type and metadata.displayName are required (non-empty strings)",
                              field="path")
    logical_id = config.get("logicalId")
    if not isinstance(logical_id, str) or not logical_id.strip():
        raise DefinitionError(
            f"{path}: config.logicalId is missing or empty; give the item a GUID of its own (it is the item's "
            "identity across workspaces), e.g. one from `python -c 'import uuid; print(uuid.uuid4())'`",
            field="path")
    description = metadata.get("description")
    return item_type, name, description if isinstance(description, str) else None, logical_id.strip(), doc


def _item_files(directory: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(directory).as_posix()
            if rel == PLATFORM_FILE:
                continue
            files[rel] = _read_text(path)
    return files


def read_workspace_folder(path: str | os.PathLike[str]) -> WorkspaceFolder:
    """Read and check a workspace folder (see the module docstring for the rules)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DefinitionError(
            f"workspace folder {root} does not exist or is not a directory; pass the folder that holds the "
            "<Name>.DataPipeline item directories (the root of what Fabric's git integration writes)",
            field="path")
    items: list[RepositoryItem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        directory = Path(dirpath)
        if PLATFORM_FILE not in filenames:
            continue
        dirnames.clear()  # an item directory's subdirectories are its own files, not items
        if directory == root:
            raise DefinitionError(
                f"{root / PLATFORM_FILE}: the workspace folder itself holds a .platform file; point `path` at the "
                "folder that contains the item directories, not at one item", field="path")
        item_type, name, description, logical_id, doc = _platform(directory / PLATFORM_FILE)
        parent = directory.parent.relative_to(root).as_posix()
        items.append(RepositoryItem(
            item_type=item_type, display_name=name, description=description, logical_id=logical_id,
            directory=directory, folder_path="" if parent == "." else f"/{parent}", platform=doc,
            files=_item_files(directory),
        ))
    _check(root, items)
    folders: set[str] = set()
    for item in items:
        parts = [p for p in item.folder_path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            folders.add("/" + "/".join(parts[:depth]))
    ordered = tuple(sorted(folders, key=lambda f: (f.count("/"), f)))
    return WorkspaceFolder(root=root, items=tuple(items), folders=ordered)


def _check(root: Path, items: list[RepositoryItem]) -> None:
    names: dict[tuple[str, str], RepositoryItem] = {}
    ids: dict[str, RepositoryItem] = {}
    for item in items:
        platform = item.directory / PLATFORM_FILE
        if item.item_type not in DEPLOYABLE_TYPES:
            raise DefinitionError(
                f"{platform}: '{item.label}' is a {item.item_type}; WorkspaceContent deploys "
                f"{', '.join(DEPLOYABLE_TYPES)} items only. Move that item directory out of {root} and map "
                "references to it through `references` (or parameter.yml)", field="path")
        if item.item_type == "DataPipeline" and "pipeline-content.json" not in item.files:
            raise DefinitionError(
                f"{item.directory}: a DataPipeline item directory needs pipeline-content.json (minimal: "
                '{"properties": {"activities": []}}); add it or remove the directory', field="path")
        key = (item.item_type, item.display_name.casefold())
        if key in names:
            raise DefinitionError(
                f"{platform}: display name '{item.display_name}' is also used by "
                f"{names[key].directory / PLATFORM_FILE}; a workspace holds one {item.item_type} per name, so "
                "rename one of them (metadata.displayName)", field="path")
        names[key] = item
        lid = item.logical_id.lower()
        if lid == ZERO_GUID:
            continue
        if lid in ids:
            raise DefinitionError(
                f"{platform}: logicalId {item.logical_id} is also the logicalId of "
                f"{ids[lid].directory / PLATFORM_FILE}; a copied item directory keeps its logicalId, so give the "
                "copy a new GUID in config.logicalId", field="path")
        ids[lid] = item
