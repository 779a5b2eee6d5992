"""What every API area shares: the transport, the LRO poller and small helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from fabric_resources.client._lro import LroPoller
from fabric_resources.client._transport import Transport, response_json
from fabric_resources.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FabricError,
    ServiceError,
    TransportError,
)

if TYPE_CHECKING:
    from fabric_resources.client._client import FabricClient

T = TypeVar("T")


def seg(value: str) -> str:
    """One URL path segment (ids come from users and state files: never trust them raw)."""
    if not value:
        raise ValueError("an id in the URL path must not be empty")
    return quote(str(value), safe="")


class Area:
    def __init__(self, client: FabricClient) -> None:
        self._client = client
        self._t: Transport = client.transport
        self._lro: LroPoller = client.lro

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return response_json(self._t.request(method, path, **kwargs))


def create_with_recovery(send: Callable[[], T], find: Callable[[], T | None], *, rounds: int = 3) -> T:
    """Run a create whose name is unique, surviving an answer that leaves the outcome unknown.

    A lost answer (the connection broke after sending) or a 5xx (503 included: the transport
    resends no unsafe call after one) may or may not have created the object, so the POST is
    not blindly repeated (it could make a duplicate, or fail with "name in use" for our own
    object). Workspace and item names are unique, so we look the name up instead: found means
    the earlier attempt did the work; not found means it did not, and sending again is safe.

    A long-running create whose deadline passed is looked up too, but never resent: the operation
    may still be running, and a second one would only race it. Whatever ``find`` returns is what
    the caller gets, so a caller that must prove the found object is its own (not a same-named one
    someone made meanwhile) does that with what ``find`` returned.
    """
    last: FabricError | None = None
    for attempt in range(rounds):
        try:
            return send()
        except DeadlineExceededError:
            found = find()
            if found is not None:
                return found
            raise
        except TransportError as exc:
            if not exc.sent:
                raise
            last = exc
        except ServiceError as exc:
            last = exc
        except AlreadyExistsError:
            if attempt == 0:
                raise  # the name was taken before we started: a real conflict
            last = None  # an earlier ambiguous attempt created it: fall through to find()
        existing = find()
        if existing is not None:
            return existing
    if last is None:
        raise FabricError("create: the service reports the name as taken, yet no object by that name is listed")
    raise last


def expect_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FabricError(f"{what}: expected a JSON object in the answer, got {type(body).__name__}")
    return body


def given(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without those left as None: a PATCH body changes only the fields it names."""
    return {name: value for name, value in fields.items() if value is not None}
