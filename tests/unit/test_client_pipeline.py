"""Each step of the client's HTTP pipeline alone: retry, throttle gate, bearer token, logging.

The next step is a scripted stand-in answering ``requests.Response`` objects (or raising), and time
is a fake clock whose sleep only advances it, so every delay is asserted exactly.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from fabric_resources.client._pipeline import ApiCall, Step
from fabric_resources.client._retry import Backoff, RetryPolicy, RetryStep
from fabric_resources.client._throttle import SendLimit, SendLimitStep, ThrottleGate, ThrottleStep
from fabric_resources.client._transport import BearerTokenStep, LoggingStep
from fabric_resources.errors import (
    AuthenticationError,
    CredentialError,
    DeadlineExceededError,
    ServiceError,
    ThrottledError,
    TransportError,
)
from tests.unit.test_client_unit import CountingTokens, FakeClock


def answer(status: int, retry_after: str | None = None, **body: Any) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    if retry_after is not None:
        resp.headers["Retry-After"] = retry_after
    resp.headers["x-ms-request-id"] = "rid-1"
    resp._content = json.dumps(body or {"errorCode": f"E{status}", "message": "m"}).encode()
    return resp


class Script:
    """The next step: answers (or raises) in order, recording the calls it saw."""

    def __init__(self, *outcomes: requests.Response | Exception | Callable[[ApiCall], requests.Response]) -> None:
        self.outcomes = list(outcomes)
        self.seen: list[tuple[int, str | None]] = []

    def send(self, call: ApiCall) -> requests.Response:
        self.seen.append((call.attempt, call.authorization))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        if callable(outcome):
            return outcome(call)
        return outcome


def call(method: str = "GET", *, deadline: float = 1e9, safe: bool | None = None) -> ApiCall:
    return ApiCall(method=method, url="https://api/v1/x", deadline=deadline,
                   safe=method != "POST" if safe is None else safe)


def retry(next: Step, clock: FakeClock, *, gate_waits: bool = False, **knobs: Any) -> RetryStep:
    policy = RetryPolicy(**knobs)
    return RetryStep(next, policy, Backoff(policy, random.Random(3)), clock=clock, sleep=clock.sleep,
                     throttle_gate_waits=gate_waits)


# -- retry -------------------------------------------------------------------------------------


def test_retry_honours_retry_after_and_counts_attempts() -> None:
    clock = FakeClock()
    script = Script(answer(503, "4"), answer(429, "2"), answer(200))
    assert retry(script, clock).send(call()).status_code == 200
    assert clock.sleeps == [4.0, 2.0]
    assert [attempt for attempt, _ in script.seen] == [1, 2, 3]


def test_retry_backs_off_with_bounded_jitter_without_retry_after() -> None:
    clock = FakeClock()
    script = Script(answer(500), answer(502), answer(200))
    retry(script, clock, backoff_base=1.0, backoff_cap=8.0).send(call())
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0


def test_post_is_sent_again_only_after_429_or_a_surely_unsent_request() -> None:
    clock = FakeClock()
    script = Script(answer(429, "1"), TransportError("refused", sent=False), answer(201))
    assert retry(script, clock).send(call("POST")).status_code == 201
    for outcome in (answer(503, "1"), answer(500)):
        with pytest.raises(ServiceError):
            retry(Script(outcome), clock).send(call("POST"))
    with pytest.raises(TransportError):
        retry(Script(TransportError("reset", sent=True), answer(201)), clock).send(call("POST"))
    # The caller may mark a POST safe (a read-only query): then 5xx is retried like a GET.
    assert retry(Script(answer(503, "1"), answer(200)), clock).send(call("POST", safe=True)).status_code == 200


def test_tls_failures_and_final_credential_errors_are_not_retried() -> None:
    clock = FakeClock()
    with pytest.raises(TransportError):
        retry(Script(TransportError("bad CA", sent=False, transient=False)), clock).send(call())
    with pytest.raises(CredentialError):
        retry(Script(CredentialError("client secret", "invalid_client")), clock).send(call())
    transient = CredentialError("client secret", "authority unreachable", transient=True)
    assert retry(Script(transient, answer(200)), clock).send(call()).status_code == 200
    assert len(clock.sleeps) == 1  # the transient one waited its backoff


def test_attempts_and_deadline_bound_the_loop() -> None:
    clock = FakeClock()
    script = Script(*[answer(503) for _ in range(3)])
    with pytest.raises(ServiceError):
        retry(script, clock, max_attempts=3).send(call())
    assert len(script.seen) == 3

    clock = FakeClock()
    with pytest.raises(DeadlineExceededError) as info:
        retry(Script(answer(503, "30"), answer(503, "30")), clock).send(call(deadline=clock() + 40))
    assert isinstance(info.value.last_error, ServiceError)
    assert clock.sleeps == [30.0]  # the second pause would end past the deadline: never started


def test_with_a_gate_a_429_is_not_slept_by_the_retry_step() -> None:
    clock = FakeClock()
    assert retry(Script(answer(429, "5"), answer(200)), clock, gate_waits=True).send(call()).status_code == 200
    assert clock.sleeps == []


# -- throttle gate step ------------------------------------------------------------------------


def gated(next: Step, clock: FakeClock, gate: ThrottleGate) -> ThrottleStep:
    policy = RetryPolicy()
    return ThrottleStep(next, gate, Backoff(policy, random.Random(3)), clock=clock)


def test_a_429_closes_the_gate_for_everyone_until_retry_after() -> None:
    clock = FakeClock()
    gate = ThrottleGate(clock, clock.sleep)
    step = gated(Script(answer(429, "7"), answer(200)), clock, gate)
    assert step.send(call()).status_code == 429
    assert gate.open_at == pytest.approx(clock() + 7) and gate.closures == 1
    assert step.send(call()).status_code == 200  # waited at the gate, went as the probe
    assert clock.sleeps == [pytest.approx(7.0)]
    assert gate.enter() is False  # the probe succeeded: open for all


def test_the_probe_slot_is_free_while_the_probe_sleeps_its_503_backoff() -> None:
    """The retry step's backoff runs outside the gate: another thread passes while the probe sleeps."""
    clock = FakeClock()
    gate = ThrottleGate(clock, clock.sleep)
    gate.close_until(clock() + 1)
    passed_while_sleeping: list[bool] = []

    def sleep(seconds: float) -> None:
        other = threading.Thread(target=gate.enter, daemon=True)
        other.start()
        other.join(2.0)
        passed_while_sleeping.append(not other.is_alive())
        clock.sleep(seconds)

    policy = RetryPolicy()
    backoff = Backoff(policy, random.Random(3))
    step = RetryStep(ThrottleStep(Script(answer(503, "4"), answer(200)), gate, backoff, clock=clock),
                     policy, backoff, clock=clock, sleep=sleep, throttle_gate_waits=True)
    assert step.send(call()).status_code == 200
    assert passed_while_sleeping == [True]
    assert clock.sleeps == [pytest.approx(1.0), 4.0]  # the gate's hold, then the probe's own backoff


def test_gate_past_the_deadline_fails_the_call_with_the_last_error() -> None:
    clock = FakeClock()
    gate = ThrottleGate(clock, clock.sleep)
    policy = RetryPolicy()
    backoff = Backoff(policy, random.Random(3))
    step = RetryStep(ThrottleStep(Script(answer(429, "30")), gate, backoff, clock=clock),
                     policy, backoff, clock=clock, sleep=clock.sleep, throttle_gate_waits=True)
    with pytest.raises(DeadlineExceededError) as info:
        step.send(call(deadline=clock() + 10))
    assert isinstance(info.value.last_error, ThrottledError)
    assert clock.sleeps == []


# -- bearer token and logging ------------------------------------------------------------------


# -- send limit --------------------------------------------------------------------------------


class Barrage:
    """The next step for ``threads`` senders: each answer waits until ``release`` is set, and the
    most requests seen at once is recorded."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.release = threading.Event()

    def send(self, call: ApiCall) -> requests.Response:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            status = self.statuses.pop(0)
        self.release.wait(5)
        with self.lock:
            self.active -= 1
        return answer(status)


def _send_all(step: Step, count: int) -> None:
    threads = [threading.Thread(target=step.send, args=(call(),)) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)


def test_never_throttled_means_never_limited() -> None:
    limit = SendLimit()
    barrage = Barrage([200] * 12)
    step = SendLimitStep(barrage, limit)
    threads = [threading.Thread(target=step.send, args=(call(),)) for _ in range(12)]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 5
    while barrage.peak < 12 and time.monotonic() < give_up:
        time.sleep(0.01)  # every request reaches the service at once
    barrage.release.set()
    for t in threads:
        t.join(10)
    assert barrage.peak == 12 and limit.limit is None


def test_a_burst_of_429s_allows_one_request_in_flight_then_recovers() -> None:
    limit = SendLimit(recover_after=3)
    barrage = Barrage([429] * 6)
    barrage.release.set()
    _send_all(SendLimitStep(barrage, limit), 6)
    assert limit.limit == 1  # six 429s of one episode count once: one in flight, not 1/64th
    after = Barrage([200] * 8)
    after.release.set()
    _send_all(SendLimitStep(after, limit), 8)
    assert after.peak <= 3  # 1 -> 2 after three clean answers -> 3 after three more
    assert limit.limit == 3


def test_a_429_from_an_earlier_episode_does_not_lower_the_limit_again() -> None:
    limit = SendLimit(recover_after=1)
    first = limit.acquire()
    limit.release(first, throttled=True)  # episode 0 ends: limit 1
    for _ in range(3):
        limit.release(limit.acquire(), throttled=False)  # recovers to 4
    assert limit.limit == 4
    limit.in_flight += 1  # a request still answering from episode 0
    limit.release(first, throttled=True)
    assert limit.limit == 4


def test_a_401_refreshes_the_token_and_resends_once_per_call() -> None:
    tokens = CountingTokens()
    script = Script(answer(401), answer(200))
    one = call()
    assert BearerTokenStep(script, tokens).send(one).status_code == 200
    assert [auth for _, auth in script.seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.invalidated == ["tok-1"]

    # A second 401 in the same call (any later attempt) is the answer: the retry step raises it.
    script = Script(answer(401), answer(401), answer(401))
    again = call()
    step = BearerTokenStep(script, tokens)
    assert step.send(again).status_code == 401
    assert step.send(again).status_code == 401 and len(script.seen) == 3
    clock = FakeClock()
    with pytest.raises(AuthenticationError):
        retry(BearerTokenStep(Script(answer(401), answer(401)), CountingTokens()), clock).send(call())


def test_logging_names_the_call_status_and_request_id(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    one = call()
    one.call_id, one.attempt = 7, 2
    with caplog.at_level(logging.DEBUG, logger="fabric_resources.http"):
        LoggingStep(Script(answer(200)), clock=clock).send(one)
        with pytest.raises(TransportError):
            LoggingStep(Script(TransportError("reset", sent=True)), clock=clock).send(one)
    assert "#7 GET https://api/v1/x -> 200" in caplog.text and "requestId=rid-1" in caplog.text
    assert "#7 GET https://api/v1/x failed (attempt 2, sent=True)" in caplog.text
