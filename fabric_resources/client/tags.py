"""Tags: the tenant's tags and applying / unapplying them on items."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fabric_resources.client._base import Area, seg
from fabric_resources.client._paging import iterate_values
from fabric_resources.models.tags import Tag

__all__ = ["Tags"]


class Tags(Area):
    def list(self) -> Iterator[Tag]:
        """Every tag of the tenant (tenant- and domain-scoped)."""
        for v in iterate_values(self._t, "tags"):
            yield Tag.model_validate(v)

    def apply(self, workspace_id: str, item_id: str, tag_ids: Sequence[str]) -> None:
        """Apply tags to an item (already applied ones stay: a retry is harmless)."""
        self._t.request("POST", f"workspaces/{seg(workspace_id)}/items/{seg(item_id)}/applyTags",
                        json={"tags": list(tag_ids)}, idempotent=True)

    def unapply(self, workspace_id: str, item_id: str, tag_ids: Sequence[str]) -> None:
        """Remove tags from an item (tags it does not carry are ignored: a retry is harmless)."""
        self._t.request("POST", f"workspaces/{seg(workspace_id)}/items/{seg(item_id)}/unapplyTags",
                        json={"tags": list(tag_ids)}, idempotent=True)
