"""The throttle gate: one client's threads wait out a 429 together, then send one probe first.

Fabric's limits are per caller, so when one thread is told "429, come back in N seconds" every
other thread of this client would be told the same. The gate records that moment and holds all
threads of the client until then, instead of each thread hammering the service on its own and
collecting 429s. When the moment comes, one request goes first as a probe while the others wait
for its answer: if the throttle has not lifted (the service's window can outlast its Retry-After)
only the probe is refused, not every thread at once. See benchmarks/throttle_bench.py.

The probe's slot is given back as soon as the probe has an answer: a probe answered 503 sleeps
its retry backoff *outside* the gate (in the retry step), so the other threads go on at once.

The gate cannot stop the requests already on their way when the service's budget runs out: with
ten operations in flight whose calls come in bursts, each throttle window ends with several 429s.
So once throttled, the client also sends fewer requests at once (``SendLimit``, as TCP after a
loss): the first 429 of an episode allows one request in flight, and every ``RECOVER_AFTER`` answers
without a 429 allow one more again. A
client that is never throttled is never limited. One sender at a time is still far more calls per
second than a throttled caller may make, so a throttled deploy is no slower for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from fabric_resources.client._pipeline import ApiCall, Step
from fabric_resources.client._retry import Backoff
from fabric_resources.errors import DeadlineExceededError

__all__ = ["SendLimit", "SendLimitStep", "ThrottleGate", "ThrottleStep"]

#: Answers without a 429 after which one more request may be in flight (once throttled).
RECOVER_AFTER = 100


class ThrottleGate:
    """Holds every sender of a client while the service throttles it (see the module docstring).

    Senders call ``enter()`` before each request and ``leave()`` after it. ``enter`` sleeps
    (with the injectable ``sleep``) until the moment set by the last 429, then lets exactly one
    thread through as a probe while the gate is "suspect"; the others wait for the probe's
    outcome. A probe that is not throttled clears the suspicion; a probe that is throttled closes
    the gate again.
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
            self._close_locked(moment)
            self._cond.notify_all()

    def _close_locked(self, moment: float) -> None:
        if moment > self._open_at:
            self._open_at = moment
            self.closures += 1
        self._suspect = True

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
                self._close_locked(throttled_until)
            elif probe:
                self._suspect = False
            if probe:
                self._probing = False
            self._cond.notify_all()


@dataclass
class ThrottleStep:
    """Brackets every send with ``gate.enter`` / ``gate.leave``; a 429 closes the gate until the moment
    its Retry-After (or, without one, the backoff) names -- also on the last attempt, since every
    other thread is throttled all the same."""

    next: Step
    gate: ThrottleGate
    backoff: Backoff
    clock: Callable[[], float] = field(kw_only=True)

    def send(self, call: ApiCall) -> requests.Response:
        probe = self.gate.enter(call.deadline)
        throttled_until: float | None = None
        try:
            resp = self.next.send(call)
            if resp.status_code == 429:
                throttled_until = self.clock() + self.backoff.for_response(call.attempt, resp)
            return resp
        finally:
            # Given back before anyone sleeps a retry backoff: the gate is only for throttling.
            self.gate.leave(probe, throttled_until)


class SendLimit:
    """How many requests may be in flight at once: unlimited until the service throttles us.

    ``acquire`` returns the episode the request was sent in; a 429 for a request sent in the current
    episode sets the limit to one and starts a new episode, so the burst of 429s one running-out of
    the budget causes counts once, not once per request.
    """

    def __init__(self, recover_after: int = RECOVER_AFTER) -> None:
        self._cond = threading.Condition()
        self.recover_after = recover_after
        self.limit: int | None = None  # None: not limited
        self.in_flight = 0
        self._episode = 0
        self._clean = 0  # answers without a 429 since the last change of the limit

    def acquire(self) -> int:
        with self._cond:
            while self.limit is not None and self.in_flight >= self.limit:
                self._cond.wait()
            self.in_flight += 1
            return self._episode

    def release(self, episode: int, throttled: bool) -> None:
        with self._cond:
            self.in_flight -= 1
            if throttled:
                if episode == self._episode:
                    self._episode += 1
                    # Back to one (as TCP after a timeout): the burst that ran the budget out was
                    # as large as the requests in flight, and the next window's end comes the same way.
                    self.limit = 1
                    self._clean = 0
            elif self.limit is not None:
                self._clean += 1
                if self._clean >= self.recover_after:
                    self._clean = 0
                    self.limit += 1
            self._cond.notify_all()


@dataclass
class SendLimitStep:
    """Holds a send until ``SendLimit`` allows one more request in flight (see the module docstring)."""

    next: Step
    limit: SendLimit

    def send(self, call: ApiCall) -> requests.Response:
        episode = self.limit.acquire()
        throttled = False
        try:
            resp = self.next.send(call)
            throttled = resp.status_code == 429
            return resp
        finally:
            self.limit.release(episode, throttled)
