"""Items (data pipelines and every other type) and their definitions."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from fabric_resources.models.common import FabricModel
from fabric_resources.models.tags import ItemTag

__all__ = ["DefinitionPart", "Item", "ItemDefinition"]


class Item(FabricModel):
    id: str
    type: str
    display_name: str
    description: str | None = None
    workspace_id: str | None = None
    folder_id: str | None = None
    tags: list[ItemTag] | None = None


class DefinitionPart(FabricModel):
    """One file of an item definition; ``payload`` is base64 text as on the wire."""

    path: str
    payload: str
    payload_type: str = "InlineBase64"

    @classmethod
    def from_bytes(cls, path: str, data: bytes) -> DefinitionPart:
        return cls(path=path, payload=base64.b64encode(data).decode("ascii"))

    @property
    def data(self) -> bytes:
        """The decoded file content."""
        return base64.b64decode(self.payload)


class ItemDefinition(FabricModel):
    format: str | None = None
    parts: list[DefinitionPart] = []

    @classmethod
    def from_files(cls, files: Mapping[str, bytes | str | Mapping[str, Any] | list[Any]],
                   *, format: str | None = None) -> ItemDefinition:
        """Build a definition from ``{path: content}``; dicts/lists are written as JSON."""
        parts = []
        for path, content in files.items():
            if isinstance(content, bytes):
                data = content
            elif isinstance(content, str):
                data = content.encode("utf-8")
            else:
                data = json.dumps(content, indent=2, ensure_ascii=False).encode("utf-8")
            parts.append(DefinitionPart.from_bytes(path, data))
        return cls(format=format, parts=parts)

    def files(self) -> dict[str, bytes]:
        """``{path: decoded bytes}`` for every part."""
        return {part.path: part.data for part in self.parts}

    def part(self, path: str) -> DefinitionPart | None:
        return next((p for p in self.parts if p.path == path), None)
