"""Iterate over Fabric's paged collections.

A page is ``{"value": [...], "continuationToken"?, "continuationUri"?}``; both are absent on the
last page. ``continuationUri`` is followed as given (it already carries every query parameter);
otherwise the token is sent back with the original parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fabric_resources.client._transport import Transport, response_json
from fabric_resources.errors import FabricError

__all__ = ["iterate_pages", "iterate_values"]

# A service bug that hands back the same token forever must not hang a deployment.
_MAX_PAGES = 10_000


def iterate_pages(transport: Transport, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield each page (the raw JSON object) of a paged GET."""
    base_params = {k: v for k, v in (params or {}).items() if v is not None}
    url: str = path
    query: dict[str, Any] | None = base_params
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        page = response_json(transport.request("GET", url, params=query))
        if not isinstance(page, dict):
            raise FabricError(f"GET {path}: expected a JSON object page, got {type(page).__name__}")
        yield page
        next_uri = page.get("continuationUri")
        token = page.get("continuationToken")
        marker = str(next_uri or token or "")
        if not marker:
            return
        if marker in seen:
            raise FabricError(f"GET {path}: the service repeated a continuation token; stopping")
        seen.add(marker)
        if next_uri:
            url, query = str(next_uri), None
        else:
            url, query = path, {**base_params, "continuationToken": token}
    raise FabricError(f"GET {path}: more than {_MAX_PAGES} pages")


def iterate_values(transport: Transport, path: str, params: Mapping[str, Any] | None = None,
                   key: str = "value") -> Iterator[dict[str, Any]]:
    """Yield every element of ``key`` across all pages."""
    for page in iterate_pages(transport, path, params):
        yield from page.get(key) or []
