"""One listing of a workspace's items, shared by the reads of one refresh.

A refresh reads every pipeline at once (up to the in-flight limit). Rather than one GET per item, the
first read of a workspace lists its items (a page per 100 items) and the reads that start while
that listing is young take their item from it; the others wait for the listing in flight instead of
sending their own (single flight).

Staleness is bounded three ways, so no read ever sees data older than its own operation:

* the cache lives in the provider process, which the engine starts for one operation and stops after
  it: nothing survives into the next preview, refresh or up;
* a listing serves only reads that start within ``max_age`` seconds of its answer (a read is never
  answered from older data than a GET sent at that moment could have been, give or take that age);
* every create/update/delete served by this process discards all listings (``invalidate``), and a
  listing that was in flight across such a write is not kept, so the provider never reads back an
  item from before its own change.

An item the listing does not show is looked up directly (it may have been created after the listing,
or moved where the listing does not reach): absence from a listing never makes a resource "gone".
Definitions are not in any listing and Fabric exposes no ETag or modification time for them, so each
read still fetches its definition: that is the only way to see a portal edit inside a pipeline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for annotations: the program imports the providers too, and must not load every model.
    from fabric_resources.models.items import Item

__all__ = ["LISTINGS", "ItemListings"]

#: Seconds a listing may serve reads after it was answered.
DEFAULT_MAX_AGE = 15.0


@dataclass
class _Listing:
    generation: int
    done: threading.Event = field(default_factory=threading.Event)
    answered_at: float = 0.0
    items: dict[str, Item] | None = None  # None: failed (each waiter then reads on its own)


class ItemListings:
    """Listings keyed by (client, workspace id, item type); thread-safe."""

    def __init__(self, max_age: float = DEFAULT_MAX_AGE, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._generation = 0
        self._listings: dict[tuple[int, str, str], _Listing] = {}
        self.fetches = 0  # listings actually requested (for tests)

    def invalidate(self) -> None:
        """Forget every listing (a write happened); listings in flight are not kept either."""
        with self._lock:
            self._generation += 1
            self._listings.clear()

    def item(self, client: Any, workspace_id: str, item_id: str, *, type: str) -> Item | None:
        """The item as a young listing of its workspace shows it; None when the listing does not
        show it or could not be had (the caller then asks for the item itself)."""
        key = (id(client), workspace_id.lower(), type.lower())
        listing, fetch = self._claim(key)
        if fetch:
            self._fetch(key, listing, lambda: client.items.list(workspace_id, type=type))
        else:
            listing.done.wait()
        if listing.items is None:
            return None
        return listing.items.get(item_id.lower())

    def _claim(self, key: tuple[int, str, str]) -> tuple[_Listing, bool]:
        """The listing to use and whether this caller must fetch it."""
        with self._lock:
            current = self._listings.get(key)
            if current is not None and (not current.done.is_set()
                                        or self._clock() - current.answered_at <= self.max_age):
                return current, False
            fresh = _Listing(self._generation)
            self._listings[key] = fresh
            self.fetches += 1
            return fresh, True

    def _fetch(self, key: tuple[int, str, str], listing: _Listing, list_items: Callable[[], Iterable[Item]]) -> None:
        try:
            items = {item.id.lower(): item for item in list_items()}
        except Exception:
            # The reads fall back to one GET each, which reports the error in their own words.
            items = None
        with self._lock:
            listing.items = items
            listing.answered_at = self._clock()
            stale = items is None or listing.generation != self._generation
            # Failed, or a write happened while it was in flight: do not serve later reads.
            if stale and self._listings.get(key) is listing:
                del self._listings[key]
        listing.done.set()


#: The provider process's listings.
LISTINGS = ItemListings()
