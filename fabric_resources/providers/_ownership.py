"""The create path every item resource shares: create, settle a lost answer, prove ownership, refuse.

An item create can meet an item that already exists: its own earlier create (the answer was lost, or
an interrupted `up` made it but never recorded it) or somebody else's of the same name. What decides
is the logicalId (DECISIONS.md #12): an item carrying this resource's is taken over; any other only
when the resource sets ``adopt_existing``. The resource modules supply the calls (create, find,
read the live logicalId, converge); the decisions and their messages are here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

from fabric_resources.errors import AlreadyExistsError, FabricError, describe_error
from fabric_resources.providers._base import FabricProviderError, translate_errors

__all__ = ["SETTLED_BY_LOOKUP", "create_owned_item", "found_for_conflict", "prove_ownership"]

T = TypeVar("T")

#: The reason a take-over gives when the item was found after a create whose answer was lost.
SETTLED_BY_LOOKUP = "settled by lookup"


def create_owned_item(*, label: str, ws_id: str, name: str, create: Callable[[Callable[[], T | None]], T],
                      find: Callable[[], T | None], take_over: Callable[[T, str], T],
                      on_conflict: Callable[[AlreadyExistsError], T]) -> T:
    """``create(find_by_name)``; the item a lost answer was settled with goes through ``take_over``
    (whose proof of ownership it still needs), a name already taken through ``on_conflict``.

    ``label`` names the item type in messages ("data pipeline"). Other client errors become one line
    naming the item and the workspace, with Fabric's errorCode and requestId.
    """
    settled: list[T] = []

    def find_by_name() -> T | None:
        # A lost answer is settled by this lookup; what it finds is proven ours by take_over.
        found = find()
        if found is not None:
            settled.append(found)
        return found

    try:
        item = create(find_by_name)
        # The answer was lost and the lookup found the item: the create may be ours or not.
        if settled and getattr(item, "id", item) == getattr(settled[-1], "id", settled[-1]):
            item = take_over(item, SETTLED_BY_LOOKUP)
    except AlreadyExistsError as exc:
        return on_conflict(exc)
    except FabricError as exc:
        raise FabricProviderError(
            f"creating {label} '{name}' in workspace {ws_id} failed: {describe_error(exc)}"
        ) from None
    return item


def found_for_conflict(*, label: str, ws_id: str, name: str, logical_id: str | None, adopt: bool,
                       exc: FabricError, find: Callable[[], Any], find_by_logical_id: Callable[[str], Any]) -> Any:
    """The item a create refused as a duplicate ran into, for ``take_over`` to judge.

    By name first. When no item of the type has the name, the conflict is the logicalId: an item
    under another name holds it (renamed in the portal, or two resources given one logical_id); only
    an explicit adoption takes that one, as silently it could end up with two owners.
    """
    with translate_errors(f"looking up {label} '{name}' in workspace {ws_id}"):
        found = find()
        if found is None and logical_id:
            holder = find_by_logical_id(logical_id)
            if holder is not None and not adopt:
                raise FabricProviderError(
                    f"{label} '{holder.display_name}' ({holder.id}) in workspace {ws_id} already holds "
                    f"this resource's logicalId {logical_id} ({describe_error(exc)}); rename it back to "
                    f"'{name}', give this resource another logical_id, or set adopt_existing=True to take it "
                    "over (and rename it)"
                )
            found = holder
    if found is None:
        raise FabricProviderError(
            f"'{name}' is reported as taken in workspace {ws_id} ({describe_error(exc)}) but no {label} has "
            "that name (another item type uses it); choose another display_name"
        )
    return found


def prove_ownership(*, label: str, ws_id: str, item_name: str, item_id: Any, logical_id: str | None,
                    live_id: str | None, adopt: bool, reason: str) -> bool:
    """Whether a found item is this resource's own (it carries the resource's logicalId: an earlier
    create of this very resource reached Fabric but not the state); False when it is not but
    adoption is asked for. Anything else is someone else's: refused, naming the way out.

    Without a declared logicalId (direct use of a provider) a lookup after a lost answer is all
    there is to go on; a name conflict stays a conflict.
    """
    ours = logical_id is not None and live_id == logical_id
    settled = reason == SETTLED_BY_LOOKUP
    if ours:
        if not settled:
            pulumi.log.info(
                f"{label} '{item_name}' ({item_id}) in workspace {ws_id} carries this resource's logicalId "
                f"{logical_id}: an earlier deployment created it without recording it; taking it over"
            )
        return True
    if not adopt and (logical_id is not None or not settled):
        whose = f"its logicalId is {live_id}" if live_id else "it has no logicalId"
        mine = f", this resource's is {logical_id}" if logical_id else ""
        raise FabricProviderError(
            f"a {label} named '{item_name}' already exists in workspace {ws_id} ({reason}) and was not "
            f"created by this resource ({whose}{mine}); set adopt_existing=True to take it over, or rename it"
        )
    return False
