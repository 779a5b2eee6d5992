"""The retry step: how often, after how long, and which calls may be sent again.

Rules (modelled on azure-core's retry policy, with Fabric's):

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
  DECISIONS.md #7.
* Every call has an overall deadline; we never start a sleep that would end past it.
* With the throttle gate in the pipeline, a 429 is waited out at the gate (every thread at once),
  not by this step.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from fabric_resources.client._pipeline import ApiCall, Step, response_json
from fabric_resources.errors import (
    CredentialError,
    DeadlineExceededError,
    FabricError,
    TransportError,
    error_from_response,
)

__all__ = ["Backoff", "RetryPolicy", "RetryStep", "backoff_delay", "parse_retry_after"]

log = logging.getLogger("fabric_resources.http")

#: Retried whatever the method: the service refused before doing any work.
ALWAYS_RETRY_STATUSES = frozenset({429})


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


class Backoff:
    """How long to wait before retry number ``attempt``: the service's Retry-After (capped) when it
    gave one, else full-jitter backoff. Thread-safe (one shared random generator)."""

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.policy.retry_after_cap)
        with self._lock:
            return self.policy.backoff(attempt, self._rng)

    def for_response(self, attempt: int, resp: requests.Response) -> float:
        return self.delay(attempt, parse_retry_after(resp.headers.get("Retry-After")))


@dataclass
class RetryStep:
    """Sends a call through ``next`` until it succeeds, fails for good, or runs out of attempts or time.

    Answers of 400 and above become the typed ``FabricError`` here. ``throttle_gate_waits``: a
    throttle gate further down waits out 429s for every thread, so this step does not sleep on them.
    """

    next: Step
    policy: RetryPolicy
    backoff: Backoff
    clock: Callable[[], float] = field(kw_only=True)
    sleep: Callable[[float], None] = field(kw_only=True)
    throttle_gate_waits: bool = field(default=False, kw_only=True)

    def send(self, call: ApiCall) -> requests.Response:
        call.attempt = 0
        while True:
            call.attempt += 1
            if call.deadline - self.clock() <= 0:
                raise DeadlineExceededError(f"{call.name} did not succeed within its deadline",
                                            last_error=call.last_error)
            try:
                resp = self.next.send(call)
            except CredentialError as exc:
                self._retry_or_raise(call, exc, retryable=exc.transient)
                continue
            except TransportError as exc:
                # A POST that may have reached the service is not sent again (DECISIONS #7).
                self._retry_or_raise(call, exc, retryable=exc.transient and (call.safe or not exc.sent))
                continue
            except DeadlineExceededError as exc:
                if exc.last_error is None and call.last_error is not None:
                    raise DeadlineExceededError(str(exc), last_error=call.last_error) from call.last_error
                raise
            if resp.status_code < 400:
                return resp
            self._retry_or_raise(call, self._error(call, resp), response=resp)

    def _error(self, call: ApiCall, resp: requests.Response) -> FabricError:
        return error_from_response(
            resp.status_code, response_json(resp), headers=resp.headers,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")), method=call.method, url=call.url,
        )

    def _retry_or_raise(self, call: ApiCall, error: FabricError, *, retryable: bool | None = None,
                        response: requests.Response | None = None) -> None:
        """Raise ``error`` when it is final; otherwise pause before the next attempt (or leave the
        pause to the throttle gate) and return."""
        status = response.status_code if response is not None else None
        if retryable is None:
            retryable = status in ALWAYS_RETRY_STATUSES or (status is not None and status >= 500 and call.safe)
        if not retryable or call.attempt >= self.policy.max_attempts:
            raise error
        delay = (self.backoff.for_response(call.attempt, response) if response is not None
                 else self.backoff.delay(call.attempt))
        call.last_error = error
        if status is not None:
            log.info("#%d %s -> %d %s, retrying in %.2fs (attempt %d/%d)", call.call_id, call.name, status,
                     getattr(error, "error_code", ""), delay, call.attempt, self.policy.max_attempts)
        if status == 429 and self.throttle_gate_waits:
            return  # the gate holds this thread (and every other) until the throttle lifts
        if self.clock() + delay > call.deadline:
            raise DeadlineExceededError(
                f"{call.name}: next retry in {delay:.1f}s would pass the call deadline", last_error=error
            ) from error
        if delay > 0:
            self.sleep(delay)
