"""The workspace listing shared by the reads of a refresh (providers/_listing.py), against the emulator.

What must hold: concurrent reads of one workspace cost one listing (single flight) and each gets its
own item; nothing is served once it is older than ``max_age`` or after a write (``invalidate``),
including a listing that was in flight across the write; an item the listing does not show is
reported as "not listed" (the caller then reads it directly), never as gone.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fabric_resources.client import FabricClient
from fabric_resources.providers._listing import ItemListings

LIST_ROUTE = "GET /v1/workspaces/{workspaceId}/items"
GET_ROUTE = "GET /v1/workspaces/{workspaceId}/items/{itemId}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pipelines(client: FabricClient, ws: str, count: int) -> dict[str, str]:
    """{item id: display name} of ``count`` new pipelines."""
    made = {}
    for i in range(count):
        item = client.items.create(ws, display_name=f"listed {i:02d}", type="DataPipeline")
        made[item.id] = item.display_name
    return made


def listed_name(listings: ItemListings, client: Any, ws: str, item_id: str) -> str | None:
    """The display name the listings give for a pipeline, None when they do not list it."""
    found = listings.item(client, ws, item_id, type="DataPipeline")
    return None if found is None else found.display_name


def routes(emulator: Any) -> dict[str, int]:
    return dict(emulator.stats()["by_route"])


def test_concurrent_reads_share_one_listing(emulator: Any, client: FabricClient, workspace: str) -> None:
    made = make_pipelines(client, workspace, 12)
    client.items.create(workspace, display_name="not a pipeline", type="Notebook")
    listings = ItemListings()
    emulator.reset_stats()
    # 200 ms per call: long enough that the reads overlap the listing.
    with emulator.config(latency_ms=200), ThreadPoolExecutor(12) as pool:
        found = list(pool.map(lambda item_id: listings.item(client, workspace, item_id.upper(),
                                                             type="DataPipeline"), made))
    assert {item.id: item.display_name for item in found if item} == made
    calls = routes(emulator)
    assert calls == {LIST_ROUTE: 1}, calls  # one page, no GET per item
    assert listings.fetches == 1


def test_an_item_missing_from_the_listing_is_not_listed_rather_than_gone(
        client: FabricClient, workspace: str) -> None:
    listings = ItemListings()
    made = make_pipelines(client, workspace, 1)
    assert listings.item(client, workspace, next(iter(made)), type="DataPipeline") is not None
    late = client.items.create(workspace, display_name="created after the listing", type="DataPipeline")
    # The young listing does not show it: the caller is told "not listed" (None) and reads it itself.
    assert listings.item(client, workspace, late.id, type="DataPipeline") is None
    assert client.items.get(workspace, late.id).display_name == "created after the listing"


def test_a_listing_expires_after_max_age(emulator: Any, client: FabricClient, workspace: str) -> None:
    clock = Clock()
    listings = ItemListings(max_age=15.0, clock=clock)
    item_id = next(iter(make_pipelines(client, workspace, 1)))
    assert listed_name(listings, client, workspace, item_id) == "listed 00"
    client.items.update(workspace, item_id, display_name="renamed in the portal")
    clock.now += 15.0
    assert listed_name(listings, client, workspace, item_id) == "listed 00"  # still young: the same listing
    clock.now += 0.1
    assert listed_name(listings, client, workspace, item_id) == "renamed in the portal"
    assert listings.fetches == 2


def test_a_write_discards_the_listings(client: FabricClient, workspace: str) -> None:
    listings = ItemListings()
    item_id = next(iter(make_pipelines(client, workspace, 1)))
    assert listed_name(listings, client, workspace, item_id) == "listed 00"
    client.items.update(workspace, item_id, display_name="renamed by this process")
    listings.invalidate()
    assert listed_name(listings, client, workspace, item_id) == "renamed by this process"
    assert listings.fetches == 2


def test_a_listing_in_flight_across_a_write_is_not_kept(client: FabricClient, workspace: str) -> None:
    listings = ItemListings()
    item_id = next(iter(make_pipelines(client, workspace, 1)))
    listing_sent = threading.Event()
    write_done = threading.Event()

    class SlowItems:
        """The real client's listing, held back until a write has happened meanwhile."""

        def __init__(self) -> None:
            self.items = self

        def list(self, workspace_id: str, *, type: str) -> list[Any]:
            listed = list(client.items.list(workspace_id, type=type))
            listing_sent.set()
            write_done.wait(5)
            return listed

    slow = SlowItems()
    reader = ThreadPoolExecutor(1).submit(listings.item, slow, workspace, item_id, type="DataPipeline")
    assert listing_sent.wait(5)
    client.items.update(workspace, item_id, display_name="renamed during the listing")
    listings.invalidate()
    write_done.set()
    before = reader.result(5)
    assert before is not None and before.display_name == "listed 00"  # the read that was waiting for it
    assert listed_name(listings, slow, workspace, item_id) == "renamed during the listing"
    assert listings.fetches == 2


def test_a_failed_listing_is_not_kept(emulator: Any, client: FabricClient, workspace: str) -> None:
    listings = ItemListings()
    item_id = next(iter(make_pipelines(client, workspace, 1)))
    missing_ws = "00000000-0000-0000-0000-00000000abcd"
    assert listings.item(client, missing_ws, item_id, type="DataPipeline") is None
    assert listings.item(client, workspace, item_id, type="DataPipeline") is not None
    assert listings.item(client, missing_ws, item_id, type="DataPipeline") is None
    assert listings.fetches == 3  # the failed one was asked for again
