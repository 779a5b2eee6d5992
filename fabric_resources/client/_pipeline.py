"""The shape every step of the HTTP pipeline shares (in the spirit of azure-core's policies).

A call to the API is one ``ApiCall``; it travels down a chain of steps, each of which does one
thing and hands the call to the next one (``Step.send``), down to the step that puts it on the
wire. The order, outermost first (assembled in ``_transport.Transport``)::

    RetryStep          _retry.py     attempts, Retry-After, backoff, the call's deadline
    SendLimitStep      _throttle.py  once throttled, fewer requests in flight (with the gate)
    ThrottleStep       _throttle.py  the client-wide throttle gate (optional)
    BearerTokenStep    _transport.py the Authorization header; one refresh and resend on 401
    LoggingStep        _transport.py one line per request sent
    HttpSender         _transport.py requests.Session, timeouts, TLS, request-never-sent detection

Every step returns the ``requests.Response`` whatever its status (only the retry step turns an
error status into a ``FabricError``) or raises a ``FabricError`` of its own. Each takes its clock,
sleep and next step as arguments, so it can be tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from fabric_resources.errors import FabricError

__all__ = ["ApiCall", "Step", "response_json"]


@dataclass
class ApiCall:
    """One API call as the steps see it; ``attempt`` and the flags change as it is retried."""

    method: str
    url: str
    deadline: float  # absolute moment of the transport's clock
    safe: bool  # may be sent again after it may have reached the service
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None  # the caller's own, sent as given
    call_id: int = 0  # for log lines
    attempt: int = 0  # 1-based, set by the retry step
    authorization: str | None = None  # set by the bearer token step for each send
    refreshed: bool = False  # a 401 already led to a token refresh in this call
    last_error: FabricError | None = None  # what the previous attempt ended with

    @property
    def name(self) -> str:
        return f"{self.method} {self.url}"


class Step(Protocol):
    def send(self, call: ApiCall) -> requests.Response: ...


def response_json(resp: requests.Response) -> Any:
    """Parsed JSON body, or None for an empty body; text when it is not JSON."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text
