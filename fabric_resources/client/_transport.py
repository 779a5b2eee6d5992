"""HTTP transport: one pooled requests.Session, retries, the shared throttle gate, logging.

Retry policy (modelled on azure-core's, with Fabric's rules):

* 429 is retried for every method: the service refused the request before doing any work.
  ``Retry-After`` (seconds, or an HTTP date) is honoured first, capped at ``retry_after_cap``;
  without it we back off like any other failure. 503 honours ``Retry-After`` the same way.
* Other 5xx and connection failures back off exponentially with full jitter
  (``uniform(0, min(cap, base * 2**(n-1)))``, AWS's "full jitter": spreads a herd of clients).
* Non-idempotent calls (POST) are not resent after any 5xx (503 included: a gateway or a service
  may answer it after the work began, so a job could start twice -- azure-core does not retry
  POST on 500/503/504 either) nor after a broken connection, unless the request surely never
  reached the service (connect refused / DNS / connect timeout) or the caller marks the call
  safe (``idempotent=True``: read-only POSTs such as getDefinition, cancel). Creates of uniquely
  named objects recover from such doubt by looking the name up (``_base.create_with_recovery``).
* A 401 invalidates the token and retries exactly once; auth runs inside the retry loop, so every
  attempt carries a fresh-enough token.
* Every call has an overall deadline; we never start a sleep that would end past it.

The throttle gate: Fabric's limits are per caller, so when one thread is told "429, come back in
N seconds" every other thread of this client would be told the same. The gate records that
moment and holds all threads of the client until then, instead of each thread hammering the
service on its own and collecting 429s. When the moment comes, one request goes first as a
probe while the others wait for its answer: if the throttle has not lifted (the service's
window can outlast its Retry-After) only the probe is refused, not every thread at once.
See benchmarks/throttle_bench.py for the difference.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from fabric_resources.errors import (
    AuthenticationError,
    CredentialError,
    DeadlineExceededError,
    FabricError,
    TransportError,
    error_from_response,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryPolicy",
    "ThrottleGate",
    "Transport",
    "backoff_delay",
    "parse_retry_after",
    "response_json",
]

log = logging.getLogger("fabric_resources.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
#: Retried whatever the method: the service refused before doing any work.
_ALWAYS_RETRY_STATUSES = frozenset({429})


@dataclass(frozen=True)
class RetryPolicy:
    """Knobs of the retry loop (times in seconds)."""

    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 60.0
    call_deadline: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return backoff_delay(attempt, self.backoff_base, self.backoff_cap, rng)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class ThrottleGate:
    """Holds every sender of a client while the service throttles it (see the module docstring).

    Senders call ``enter()`` before each request and ``leave()`` after it. ``enter`` sleeps
    (with the injectable ``sleep``) until the moment set by the last 429, then lets exactly one
    thread through as a probe while the gate is "suspect"; the others wait for the probe's
    outcome. A probe that succeeds clears the suspicion; a probe that is throttled closes the
    gate again.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._open_at = 0.0
        self._suspect = False  # throttled since the last successful probe
        self._probing = False  # a probe is in flight
        self.closures = 0

    @property
    def open_at(self) -> float:
        with self._cond:
            return self._open_at

    def close_until(self, moment: float) -> None:
        """Hold every sender until ``moment`` (never shortens an existing hold)."""
        with self._cond:
            if moment > self._open_at:
                self._open_at = moment
                self.closures += 1
            self._suspect = True
            self._cond.notify_all()

    def enter(self, deadline: float | None = None) -> bool:
        """Wait until this thread may send; True when it goes as the probe.

        Raises DeadlineExceededError without sleeping when the gate opens after ``deadline``.
        """
        while True:
            with self._cond:
                now = self._clock()
                remaining = self._open_at - now
                if remaining <= 0:
                    if not self._suspect:
                        return False
                    if not self._probing:
                        self._probing = True
                        return True
                    if deadline is not None and now >= deadline:
                        raise DeadlineExceededError("still waiting for the throttle to lift at the call deadline")
                    # Real-time wait for the probe's answer (leave() notifies); bounded so a
                    # deadline or a lost notification cannot strand us.
                    self._cond.wait(timeout=0.25)
                    continue
            if deadline is not None and now + remaining > deadline:
                raise DeadlineExceededError(
                    f"the service throttled this client for {remaining:.1f}s more, past the call deadline"
                )
            # Re-check after sleeping: another 429 may have pushed the moment further out.
            self._sleep(remaining)

    def leave(self, probe: bool, throttled_until: float | None = None) -> None:
        """Report the outcome of a request sent after ``enter``."""
        with self._cond:
            if throttled_until is not None:
                if throttled_until > self._open_at:
                    self._open_at = throttled_until
                    self.closures += 1
                self._suspect = True
            elif probe:
                self._suspect = False
            if probe:
                self._probing = False
            self._cond.notify_all()


def response_json(resp: requests.Response) -> Any:
    """Parsed JSON body, or None for an empty body; text when it is not JSON."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text


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


class Transport:
    """Sends requests to the Fabric API with auth, retries and the throttle gate."""

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
        self._auth = token_provider
        self._verify: str | bool = ca_cert or True
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.gate: ThrottleGate | None = ThrottleGate(clock, sleep) if shared_throttle_gate else None
        self.session = session or requests.Session()
        # Pool at least as large as the provider's worker threads (4) plus polling threads.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(8, pool_size), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self._ids = itertools.count(1)
        self._stats_lock = threading.Lock()
        self.attempts = 0  # HTTP requests actually sent (for benchmarks and tests)

    # -- helpers --------------------------------------------------------------------------------
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

    def _jitter(self, attempt: int) -> float:
        with self._rng_lock:
            return self.policy.backoff(attempt, self._rng)

    def close(self) -> None:
        self.session.close()

    # -- the retry loop -------------------------------------------------------------------------
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
        url = self.url(path_or_url)
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        start = self.clock()
        if deadline is None:
            deadline = start + self.policy.call_deadline
        call_id = next(self._ids)
        refreshed_after_401 = False
        attempt = 0
        last_error: FabricError | None = None

        while True:
            attempt += 1
            probe = False
            if self.gate is not None:
                try:
                    probe = self.gate.enter(deadline)
                except DeadlineExceededError as exc:
                    raise DeadlineExceededError(str(exc), last_error=last_error) from last_error
            outcome: dict[str, Any] = {}
            try:
                result = self._attempt(method, url, params, json, headers, safe, deadline, call_id, attempt,
                                       refreshed_after_401, last_error, outcome)
            finally:
                if self.gate is not None:
                    self.gate.leave(probe, outcome.get("throttled_until"))
            if isinstance(result, requests.Response):
                return result
            if outcome.get("refreshed"):
                refreshed_after_401 = True
                attempt -= 1  # the refresh retry does not consume the retry budget
            last_error = result if isinstance(result, FabricError) else last_error

    def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        safe: bool,
        deadline: float,
        call_id: int,
        attempt: int,
        refreshed_after_401: bool,
        last_error: FabricError | None,
        outcome: dict[str, Any],
    ) -> requests.Response | FabricError | None:
        """One attempt: the response, or the retryable error after pausing; raises when final.

        Records in ``outcome`` what the caller must know: ``throttled_until`` (for the gate)
        and ``refreshed`` (a 401 led to a token refresh).
        """
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceededError(f"{method} {url} did not succeed within its deadline", last_error=last_error)
        try:
            token = self._auth.token()
        except CredentialError as exc:
            if not exc.transient or attempt >= self.policy.max_attempts:
                raise
            self._pause(self._jitter(attempt), deadline, exc, method, url)
            return exc

        send_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if headers:
            send_headers.update(headers)
        t0 = self.clock()
        try:
            with self._stats_lock:
                self.attempts += 1
            resp = self.session.request(
                method,
                url,
                params=params,
                json=json,
                headers=send_headers,
                timeout=(min(self.connect_timeout, remaining), min(self.timeout, remaining)),
                # Pinned per request: REQUESTS_CA_BUNDLE would otherwise override Session.verify.
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            sent = not _surely_not_sent(exc)
            err = TransportError(f"{type(exc).__name__}: {_short(exc)}", sent=sent, method=method, url=url)
            log.info("#%d %s %s failed (attempt %d, sent=%s): %s", call_id, method, url, attempt, sent, err)
            # A TLS failure is a configuration problem (wrong CA), never transient.
            retryable = not isinstance(exc, requests.exceptions.SSLError) and (safe or not sent)
            if not retryable or attempt >= self.policy.max_attempts:
                raise err from None
            self._pause(self._jitter(attempt), deadline, err, method, url)
            return err

        elapsed_ms = (self.clock() - t0) * 1000
        request_id = resp.headers.get("x-ms-request-id") or resp.headers.get("requestId")
        log.debug("#%d %s %s -> %d in %.0f ms (attempt %d, requestId=%s)",
                  call_id, method, url, resp.status_code, elapsed_ms, attempt, request_id)
        status = resp.status_code
        if status < 400:
            return resp

        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        error = error_from_response(
            status, response_json(resp), headers=resp.headers, retry_after=retry_after,
            method=method, url=url,
        )
        if status == 401 and not refreshed_after_401 and isinstance(error, AuthenticationError):
            # Expired or revoked token: refresh once and try again at once.
            self._auth.invalidate(token)
            outcome["refreshed"] = True
            log.info("#%d %s %s -> 401, refreshing the token once", call_id, method, url)
            return error
        retryable = status in _ALWAYS_RETRY_STATUSES or (status >= 500 and safe)
        if status == 429:
            delay = min(retry_after if retry_after is not None else self._jitter(attempt), self.policy.retry_after_cap)
            # Tell the gate even when we give up: the other threads are throttled all the same.
            outcome["throttled_until"] = self.clock() + delay
        if not retryable or attempt >= self.policy.max_attempts:
            raise error
        if retry_after is not None:
            delay = min(retry_after, self.policy.retry_after_cap)
        else:
            delay = self._jitter(attempt)
        log.info("#%d %s %s -> %d %s, retrying in %.2fs (attempt %d/%d)", call_id, method, url, status,
                 error.error_code, delay, attempt, self.policy.max_attempts)
        if status == 429 and self.gate is not None:
            if self.clock() + delay > deadline:
                raise DeadlineExceededError(f"{method} {url} throttled past its deadline", last_error=error) from error
            return error  # the gate (at the next enter) does the waiting
        self._pause(delay, deadline, error, method, url)
        return error

    def _pause(self, delay: float, deadline: float, last_error: FabricError | None, method: str, url: str) -> None:
        if self.clock() + delay > deadline:
            raise DeadlineExceededError(
                f"{method} {url}: next retry in {delay:.1f}s would pass the call deadline", last_error=last_error
            ) from last_error
        if delay > 0:
            self.sleep(delay)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."

