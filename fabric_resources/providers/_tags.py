"""`tags` on item resources: names of the tenant's tags, applied and removed through the tags API.

A mixin in front of an item provider (`class DataPipelineProvider(TaggedItem, FabricProvider)`). The
program names tags (`tags=["Finance", "Certified"]`); they are resolved to ids from the tenant's list
only when something has to be written, or in `check` when the names changed (so an unknown name fails at
preview, naming the closest ones, and an unchanged program still previews with no call). Left unset
(None), an item's tags are not managed: never compared, never written, no extra call on refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, UpdateResult

from fabric_resources.errors import FabricError, describe_error
from fabric_resources.providers._base import FabricProviderError, contains_unknown, translate_errors
from fabric_resources.providers._listing import LISTINGS
from fabric_resources.providers.connection import close_matches

__all__ = ["TaggedItem", "tag_names"]


def tag_names(value: Any) -> list[str] | None:
    """The compared form: sorted, without repeats; None stays None (not managed)."""
    if value is None or contains_unknown(value):
        return value
    return sorted({str(v) for v in value})


class TaggedItem:
    """Adds a `tags` input (list of tag names) to an item provider. The item's resource id is its item id.

    The provider's own check/diff/create/read/update stay as they are: the class they are defined on is
    wrapped when it is declared (a mixin's methods would sit behind the provider's own in the MRO).
    """

    kind: ClassVar[str]
    item_type: ClassVar[str]  # Fabric's item type, for the shared workspace listing
    client: Any  # FabricProvider's (the mixin only ever sits in front of it)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if TaggedItem not in cls.__bases__:
            return  # wrapped once, on the class that names the mixin
        for name, wrap in (("check", _wrap_check), ("changed_properties", _wrap_changed),
                           ("create", _wrap_create), ("read", _wrap_read), ("update", _wrap_update)):
            setattr(cls, name, wrap(getattr(cls, name)))

    # -- helpers -----------------------------------------------------------------------------
    def _tenant_tags(self) -> dict[str, str]:
        """Tag display name -> id; a tenant-scoped tag wins over a domain tag of the same name."""
        tags = sorted(self.client.tags.list(), key=lambda t: 0 if t.scope is None or t.scope.type == "Tenant" else 1)
        names: dict[str, str] = {}
        for tag in tags:
            names.setdefault(tag.display_name, tag.id.lower())
        return names

    def _unknown_message(self, unknown: list[str], tenant: Mapping[str, str]) -> str:
        parts = []
        for name in unknown:
            hint = close_matches(name, tenant)
            parts.append(f"'{name}'" + (f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""))
        return (f"{self.kind}: 'tags' names {', '.join(parts)}, which the tenant does not have; tags are made by "
                "a Fabric admin (Admin portal > Tags), so use one of the tenant's tag names")

    def _sync(self, ws_id: str, item_id: str, wanted: list[str], *, live: list[Any]) -> list[str]:
        tags = self.client.tags
        with translate_errors(f"tagging {self.kind} {item_id}"):
            tenant = self._tenant_tags()
            unknown = [n for n in wanted if n not in tenant]
            if unknown:
                raise FabricProviderError(self._unknown_message(unknown, tenant))
            wanted_ids = {tenant[n] for n in wanted}
            live_ids = {t.id.lower() for t in live}
            if wanted_ids - live_ids:
                tags.apply(ws_id, item_id, sorted(wanted_ids - live_ids))
            if live_ids - wanted_ids:
                tags.unapply(ws_id, item_id, sorted(live_ids - wanted_ids))
        return wanted


# -- the wrappers ------------------------------------------------------------------------------


def _wrap_check(inner: Any) -> Any:
    def check(self: Any, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result: CheckResult = inner(self, olds, news)
        wanted = result.inputs.get("tags")
        if wanted is None or contains_unknown(wanted) or any(f.property == "tags" for f in result.failures):
            return result
        result.inputs["tags"] = tag_names(wanted)
        if tag_names(olds.get("tags")) == result.inputs["tags"] or not wanted:
            return result  # unchanged (or none): no call, so an unchanged program previews with none
        try:
            tenant = self._tenant_tags()
        except FabricError as exc:
            result.failures.append(CheckFailure(
                "tags", f"{self.kind}: could not list the tenant's tags: {describe_error(exc)}"))
            return result
        unknown = [n for n in result.inputs["tags"] if n not in tenant]
        if unknown:
            result.failures.append(CheckFailure("tags", self._unknown_message(unknown, tenant)))
        return result
    return check


def _wrap_changed(inner: Any) -> Any:
    def changed_properties(self: Any, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
        changed: list[str] = inner(self, olds, news)
        wanted = news.get("tags")
        if wanted is not None and (contains_unknown(wanted) or tag_names(wanted) != tag_names(olds.get("tags"))):
            changed.append("tags")
        return changed
    return changed_properties


def _wrap_create(inner: Any) -> Any:
    def create(self: Any, props: dict[str, Any]) -> CreateResult:
        result: CreateResult = inner(self, props)
        wanted = tag_names(props.get("tags"))
        outs = dict(result.outs or {})
        if wanted is not None:
            ws_id = props["workspace_id"]
            # A create may have taken over an existing item (adopted, or ours by logicalId) that
            # already carries tags: read them rather than assume none.
            with translate_errors(f"reading the tags of {self.kind} {result.id}"):
                live = self.client.items.get(ws_id, result.id).tags or []
            wanted = self._sync(ws_id, result.id, wanted, live=live)
        outs["tags"] = wanted
        return CreateResult(result.id, outs)
    return create


def _wrap_read(inner: Any) -> Any:
    def read(self: Any, id_: str, props: dict[str, Any]) -> ReadResult:
        result: ReadResult = inner(self, id_, props)
        if not result.id or props.get("tags") is None:
            return result  # gone, or tags not managed (no extra call)
        ws_id = props["workspace_id"]
        client = self.client
        with translate_errors(f"reading the tags of {self.kind} {id_}"):
            # Listed items carry their tags: the listing this refresh shares usually answers.
            item = LISTINGS.item(client, ws_id, id_, type=self.item_type) or client.items.get(ws_id, id_)
            live = sorted(t.display_name for t in item.tags or [])
        return ReadResult(result.id, {**(result.outs or {}), "tags": live}, {**(result.inputs or {}), "tags": live})
    return read


def _wrap_update(inner: Any) -> Any:
    def update(self: Any, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        result: UpdateResult = inner(self, id_, olds, news)
        outs = dict(result.outs or {})
        wanted = tag_names(news.get("tags"))
        if wanted is not None and wanted != tag_names(olds.get("tags")):
            ws_id = news["workspace_id"]
            with translate_errors(f"reading the tags of {self.kind} {id_}"):
                live = self.client.items.get(ws_id, id_).tags or []
            wanted = self._sync(ws_id, id_, wanted, live=live)
        outs["tags"] = wanted
        return UpdateResult(outs)
    return update
