"""HTTP transport: one pooled requests.Session behind a pipeline of small steps.

``Transport.request`` builds an ``ApiCall`` and sends it down the pipeline described in
``_pipeline.py``: retry (``_retry.py``), the shared throttle gate (``_throttle.py``), the bearer
token, logging, and the sender that talks to ``requests``. The last three live here.

* Bearer token: the token is asked for on every attempt (the provider caches it and renews it
  before expiry); a 401 invalidates it and the call is resent once, at once, with a fresh one.
  Inside the retry loop, so every retry carries a fresh-enough token (as azure-core does).
* The sender pins TLS verification per request (``REQUESTS_CA_BUNDLE`` would otherwise override
  ``Session.verify``), never follows redirects with the token, and tells a request that surely
  never left (connect refused, DNS, connect timeout) from one that may have reached the service.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from fabric_resources.client._pipeline import ApiCall, Step, response_json
from fabric_resources.client._retry import Backoff, RetryPolicy, RetryStep, backoff_delay, parse_retry_after
from fabric_resources.client._throttle import SendLimit, SendLimitStep, ThrottleGate, ThrottleStep
from fabric_resources.errors import DeadlineExceededError, FabricError, TransportError

__all__ = [
    "IDEMPOTENT_METHODS",
    "BearerTokenStep",
    "HttpSender",
    "LoggingStep",
    "RetryPolicy",
    "ThrottleGate",
    "Transport",
    "backoff_delay",
    "parse_retry_after",
    "response_json",
]

log = logging.getLogger("fabric_resources.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


@dataclass
class BearerTokenStep:
    """Adds ``Authorization: Bearer``; on a 401 invalidates the token and resends once per call."""

    next: Step
    tokens: Any  # _auth.TokenProvider or anything with token() and invalidate(rejected)

    def send(self, call: ApiCall) -> requests.Response:
        token = self.tokens.token()
        call.authorization = f"Bearer {token}"
        resp = self.next.send(call)
        if resp.status_code == 401 and not call.refreshed:
            # Expired or revoked token: refresh once and try again at once (not a retry attempt).
            call.refreshed = True
            self.tokens.invalidate(token)
            log.info("#%d %s -> 401, refreshing the token once", call.call_id, call.name)
            call.authorization = f"Bearer {self.tokens.token()}"
            resp = self.next.send(call)
        return resp


@dataclass
class LoggingStep:
    """One debug line per answer (status, time, requestId), one info line per failed send."""

    next: Step
    clock: Callable[[], float] = field(kw_only=True)

    def send(self, call: ApiCall) -> requests.Response:
        t0 = self.clock()
        try:
            resp = self.next.send(call)
        except TransportError as err:
            log.info("#%d %s failed (attempt %d, sent=%s): %s", call.call_id, call.name, call.attempt, err.sent, err)
            raise
        request_id = resp.headers.get("x-ms-request-id") or resp.headers.get("requestId")
        log.debug("#%d %s -> %d in %.0f ms (attempt %d, requestId=%s)", call.call_id, call.name,
                  resp.status_code, (self.clock() - t0) * 1000, call.attempt, request_id)
        return resp


@dataclass
class HttpSender:
    """The end of the pipeline: one HTTP request on the pooled session; counts what it sends."""

    session: requests.Session
    verify: str | bool = field(kw_only=True)
    timeout: float = field(kw_only=True)
    connect_timeout: float = field(kw_only=True)
    clock: Callable[[], float] = field(kw_only=True)
    sent: int = field(default=0, init=False)  # HTTP requests actually sent (for benchmarks and tests)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def send(self, call: ApiCall) -> requests.Response:
        remaining = call.deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceededError(f"{call.name} did not succeed within its deadline")
        headers = {"Accept": "application/json"}
        if call.authorization:
            headers["Authorization"] = call.authorization
        headers.update(call.headers or {})
        with self._lock:
            self.sent += 1
        try:
            return self.session.request(
                call.method, call.url, params=call.params, json=call.json, headers=headers,
                timeout=(min(self.connect_timeout, remaining), min(self.timeout, remaining)),
                # Pinned per request: REQUESTS_CA_BUNDLE would otherwise override Session.verify.
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # A TLS failure is a configuration problem (wrong CA), never transient.
            raise TransportError(f"{type(exc).__name__}: {_short(exc)}", sent=not _surely_not_sent(exc),
                                 method=call.method, url=call.url,
                                 transient=not isinstance(exc, requests.exceptions.SSLError)) from None


def _surely_not_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the service (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return isinstance(
            inner,
            urllib3.exceptions.NewConnectionError
            | urllib3.exceptions.ConnectTimeoutError
            | urllib3.exceptions.NameResolutionError,
        )
    return False


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


class Transport:
    """Sends requests to the Fabric API through the pipeline: retry, throttle gate, token, logging."""

    def __init__(
        self,
        api_url: str,
        token_provider: Any,
        *,
        ca_cert: str | None = None,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        pool_size: int = 16,
        shared_throttle_gate: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        user_agent: str = "fabric-resources",
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.session = session or requests.Session()
        # Pool at least as large as the provider's worker threads (4) plus polling threads.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(8, pool_size), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self._ids = itertools.count(1)

        backoff = Backoff(self.policy, rng)
        self.sender = HttpSender(self.session, verify=ca_cert or True, timeout=timeout,
                                 connect_timeout=connect_timeout, clock=clock)
        chain: Step = BearerTokenStep(LoggingStep(self.sender, clock=clock), token_provider)
        self.gate: ThrottleGate | None = None
        self.send_limit: SendLimit | None = None
        if shared_throttle_gate:
            self.gate = ThrottleGate(clock, sleep)
            chain = ThrottleStep(chain, self.gate, backoff, clock=clock)
            # Outside the gate: a request waiting for a send slot then still checks the gate.
            self.send_limit = SendLimit()
            chain = SendLimitStep(chain, self.send_limit)
        self.pipeline: Step = RetryStep(chain, self.policy, backoff, clock=clock, sleep=sleep,
                                        throttle_gate_waits=self.gate is not None)

    @property
    def attempts(self) -> int:
        """HTTP requests actually sent (for benchmarks and tests; may be reset to 0)."""
        return self.sender.sent

    @attempts.setter
    def attempts(self, value: int) -> None:
        self.sender.sent = value

    def url(self, path_or_url: str) -> str:
        """Absolute URL for an API path; absolute URLs (Location, continuationUri) must stay on
        the API's origin, since every request carries the bearer token."""
        if not path_or_url.startswith(("https://", "http://")):
            return urljoin(self.api_url, path_or_url.lstrip("/"))
        theirs, ours = urlsplit(path_or_url), urlsplit(self.api_url)
        if (theirs.scheme, theirs.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
            raise FabricError(
                f"refusing to send credentials to {theirs.scheme}://{theirs.netloc}: "
                f"the service pointed outside {ours.scheme}://{ours.netloc}"
            )
        return path_or_url

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one API call (with retries); returns the 1xx-3xx response or raises FabricError.

        ``idempotent`` overrides the method's default (True for GET/PUT/DELETE/PATCH).
        ``deadline`` is an absolute ``clock()`` moment; default now + policy.call_deadline.
        """
        method = method.upper()
        call = ApiCall(
            method=method, url=self.url(path_or_url),
            deadline=self.clock() + self.policy.call_deadline if deadline is None else deadline,
            safe=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            params=params, json=json, headers=headers, call_id=next(self._ids),
        )
        return self.pipeline.send(call)
