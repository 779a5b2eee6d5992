"""Tags: the tenant's list (GET /tags) and the tags applied to an item."""

from __future__ import annotations

from fabric_resources.models.common import FabricModel

__all__ = ["ItemTag", "Tag", "TagScope"]


class TagScope(FabricModel):
    type: str
    domain_id: str | None = None


class Tag(FabricModel):
    id: str
    display_name: str
    scope: TagScope | None = None


class ItemTag(FabricModel):
    """A tag as an item lists it (``Item.tags``)."""

    id: str
    display_name: str
