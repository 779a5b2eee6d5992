"""Unit tests of the Fabric client: retry math, Retry-After, the throttle gate, paging, LRO,
error mapping and settings resolution.

HTTP behaviour is exercised against a tiny scripted HTTP server on 127.0.0.1 (a thread in this
process, real sockets) so that requests, urllib3 and our transport run for real; time is a fake
clock whose ``sleep`` only advances it, so retry delays are asserted exactly and cost nothing.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.client import FabricClient, ThrottleGate
from fabric_resources.client._auth import TokenProvider
from fabric_resources.client._transport import backoff_delay, parse_retry_after
from fabric_resources.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    CredentialError,
    DeadlineExceededError,
    FabricError,
    HTTPError,
    NotFoundError,
    OperationFailedError,
    PermissionDeniedError,
    ServiceError,
    ThrottledError,
    TransportError,
    ValidationError,
    error_from_response,
)
from fabric_resources.models import (
    CronScheduleConfig,
    ItemDefinition,
    ItemSchedule,
    MonthlyScheduleConfig,
    OrdinalWeekdayOccurrence,
)
from fabric_resources.settings import FabricSettings

# --------------------------------------------------------------------------------------------
# helpers


class FakeClock:
    """Monotonic clock whose sleep advances time instantly and records each delay."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class ScriptedServer:
    """HTTP server answering from a script of (status, headers, body) per request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.default: tuple[int, dict[str, str], Any] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                outer.requests.append({
                    "method": self.command, "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "body": json.loads(raw) if raw else None,
                })
                if outer.script:
                    status, headers, body = outer.script.pop(0)
                elif outer.default is not None:
                    status, headers, body = outer.default
                else:
                    status, headers, body = 500, {}, {"errorCode": "ScriptExhausted", "message": "no answer"}
                if status == 0:  # hang up without answering: the client cannot know what happened
                    self.close_connection = True
                    return
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v.replace("{base}", outer.base))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, status: int, body: Any = None, **headers: str) -> ScriptedServer:
        self.script.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CountingTokens:
    """Token provider stand-in: hands out tok-1, tok-2, ... and counts invalidations."""

    source = "test tokens"

    def __init__(self) -> None:
        self.n = 1
        self.invalidated: list[str | None] = []

    def token(self) -> str:
        return f"tok-{self.n}"

    def invalidate(self, rejected: str | None = None) -> None:
        self.invalidated.append(rejected)
        self.n += 1


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(server: ScriptedServer, clock: FakeClock, **kwargs: Any) -> FabricClient:
    settings = FabricSettings(api_url=server.base + "/v1", token="unused")
    kwargs.setdefault("rng", random.Random(7))
    return FabricClient(settings, sleep=clock.sleep, clock=clock, token_provider=kwargs.pop("tokens", CountingTokens()),
                        **kwargs)


def err(code: str, message: str = "boom") -> dict[str, Any]:
    return {"errorCode": code, "message": message, "requestId": "req-1"}


# --------------------------------------------------------------------------------------------
# backoff and Retry-After


def test_backoff_full_jitter_is_bounded_by_exponential_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0), (40, 30.0)]:
        samples = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(samples) < ceiling * 0.2 and max(samples) > ceiling * 0.8


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    now = datetime(2030, 1, 1, tzinfo=UTC)
    http_date = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(http_date, now=now.timestamp()) == pytest.approx(42.0)


# --------------------------------------------------------------------------------------------
# the throttle gate


def test_gate_holds_until_moment_and_never_shortens(clock: FakeClock) -> None:
    gate = ThrottleGate(clock, clock.sleep)
    assert gate.enter() is False  # never throttled: no waiting, no probe
    gate.close_until(clock() + 3)
    gate.close_until(clock() + 1)  # an earlier moment must not reopen the gate sooner
    assert gate.enter() is True  # first sender after the hold goes as the probe
    assert clock.sleeps == [pytest.approx(3.0)]
    gate.leave(True)  # the probe succeeded: the throttle has lifted
    assert gate.enter() is False and clock.sleeps == [pytest.approx(3.0)]


def test_gate_refuses_to_wait_past_deadline(clock: FakeClock) -> None:
    gate = ThrottleGate(clock, clock.sleep)
    gate.close_until(clock() + 10)
    with pytest.raises(DeadlineExceededError):
        gate.enter(deadline=clock() + 5)
    assert clock.sleeps == []


def test_gate_holds_every_thread_and_sends_one_probe_with_real_time() -> None:
    gate = ThrottleGate(time.monotonic, time.sleep)
    gate.close_until(time.monotonic() + 0.2)
    events: list[tuple[str, float]] = []
    lock = threading.Lock()
    start = time.monotonic()
    probes = 0

    def worker() -> None:
        nonlocal probes
        probe = gate.enter()
        with lock:
            events.append(("probe" if probe else "send", time.monotonic() - start))
            first_probe = probe and probes == 0
            probes += probe
        if first_probe:
            # The first probe is throttled again: everyone must wait another 0.2 s.
            gate.leave(True, throttled_until=time.monotonic() + 0.2)
        else:
            time.sleep(0.05)
            gate.leave(probe)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["probe", "probe"] and kinds[2:] == ["send", "send"]
    assert events[0][1] >= 0.19 and events[1][1] >= 0.39
    assert all(t >= events[1][1] + 0.04 for _, t in events[2:])  # released only after probe 2 succeeded
    assert gate.closures == 2


def test_probe_answered_503_gives_the_gate_back_before_sleeping_its_backoff(server: ScriptedServer) -> None:
    """A probe answered 503 + Retry-After must not hold the other threads through its own backoff:
    they were held until the probe's retry (t = 2.2 s here) before the pipeline split."""
    server.answer(503, err("ServiceUnavailable"), Retry_After="2")
    server.default = (200, {}, {"id": "w1", "displayName": "a"})
    settings = FabricSettings(api_url=server.base + "/v1", token="unused")
    client = FabricClient(settings, token_provider=CountingTokens())  # real clock and sleep
    gate = client.transport.gate
    assert gate is not None
    start = time.monotonic()
    gate.close_until(start + 0.2)
    finished: list[float] = []
    lock = threading.Lock()

    def get() -> None:
        client.workspaces.get("w1")
        with lock:
            finished.append(time.monotonic() - start)

    threads = [threading.Thread(target=get) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    finished.sort()
    assert len(finished) == 4 and len(server.requests) == 5
    assert finished[-1] >= 2.2  # the probe: its own 503 backoff, then success
    assert all(0.2 <= t < 1.5 for t in finished[:3]), finished  # the others: right after the probe's answer


# --------------------------------------------------------------------------------------------
# transport retry policy over real HTTP


def test_429_honours_retry_after_then_succeeds(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(429, err("RequestBlocked"), Retry_After="7").answer(200, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock)
    ws = client.workspaces.get("w1")
    assert ws.id == "w1"
    assert clock.sleeps == [7.0]
    assert client.transport.gate is not None and client.transport.gate.closures == 1


def test_429_without_gate_sleeps_per_thread(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(429, err("RequestBlocked"), Retry_After="2").answer(200, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock, shared_throttle_gate=False)
    client.workspaces.get("w1")
    assert clock.sleeps == [2.0]
    assert client.transport.gate is None


def test_retry_after_is_capped(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(503, err("ServiceUnavailable"), Retry_After="3600").answer(200, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock, retry_after_cap=20)
    client.workspaces.get("w1")
    assert clock.sleeps == [20.0]


def test_post_is_resent_after_429_only_and_creates_recover_by_name(server: ScriptedServer, clock: FakeClock) -> None:
    # 429: the service refused before doing any work, so even a POST is sent again (after Retry-After).
    server.answer(429, err("RequestBlocked"), Retry_After="1").answer(201, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock)
    assert client.workspaces.create("a").id == "w1"
    assert [r["method"] for r in server.requests] == ["POST", "POST"]

    # Any 5xx after a POST -- 503 included -- may hide work already done: the transport does not
    # resend it (a job could otherwise start twice).
    for status in (500, 502, 503, 504):
        server.requests.clear()
        server.answer(status, err("Boom"), Retry_After="1")
        with pytest.raises(ServiceError) as info:
            client.transport.request("POST", "workspaces", json={"displayName": "b"})
        assert info.value.status == status and len(server.requests) == 1

    server.requests.clear()
    server.answer(503, err("ServiceUnavailable"), Retry_After="1")
    with pytest.raises(ServiceError) as run_info:
        client.jobs.run("w1", "i1")
    assert run_info.value.status == 503
    assert [r["method"] for r in server.requests] == ["POST"]

    # workspaces.create resolves the doubt by name. Not there: sending again is safe.
    server.requests.clear()
    server.answer(503, err("ServiceUnavailable")).answer(200, {"value": []}).answer(
        201, {"id": "w2", "displayName": "b"})
    assert client.workspaces.create("b").id == "w2"
    assert [r["method"] for r in server.requests] == ["POST", "GET", "POST"]

    # There: the answer was an error but the work was done; no second POST.
    server.requests.clear()
    server.answer(503, err("ServiceUnavailable")).answer(200, {"value": [{"id": "w3", "displayName": "c"}]})
    assert client.workspaces.create("c").id == "w3"
    assert [r["method"] for r in server.requests] == ["POST", "GET"]


def test_get_retried_on_500_with_jittered_backoff(server: ScriptedServer, clock: FakeClock) -> None:
    for _ in range(3):
        server.answer(500, err("InternalError"))
    server.answer(200, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock, backoff_base=1.0, backoff_cap=8.0)
    client.workspaces.get("w1")
    assert len(clock.sleeps) == 3
    for attempt, delay in enumerate(clock.sleeps, start=1):
        assert 0.0 <= delay <= min(8.0, 2 ** (attempt - 1))


def test_attempts_are_bounded(server: ScriptedServer, clock: FakeClock) -> None:
    server.default = (503, {}, err("ServiceUnavailable"))
    client = make_client(server, clock, max_attempts=4)
    with pytest.raises(ServiceError) as info:
        client.workspaces.get("w1")
    assert info.value.status == 503
    assert len(server.requests) == 4


def test_call_deadline_stops_retries(server: ScriptedServer, clock: FakeClock) -> None:
    server.default = (429, {"Retry-After": "30"}, err("RequestBlocked"))
    client = make_client(server, clock, call_deadline=100, max_attempts=50)
    with pytest.raises(DeadlineExceededError) as info:
        client.workspaces.get("w1")
    assert isinstance(info.value.last_error, ThrottledError)
    assert clock() - 1000.0 <= 100.0
    assert len(server.requests) == 4  # sent at t=0, 30, 60, 90; the next would land past 100


def test_401_refreshes_token_exactly_once(server: ScriptedServer, clock: FakeClock) -> None:
    tokens = CountingTokens()
    server.answer(401, err("TokenExpired")).answer(200, {"id": "w1", "displayName": "a"})
    client = make_client(server, clock, tokens=tokens)
    client.workspaces.get("w1")
    assert [r["auth"] for r in server.requests] == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.invalidated == ["tok-1"]

    server.requests.clear()
    server.answer(401, err("TokenExpired")).answer(401, err("TokenExpired"))
    with pytest.raises(AuthenticationError):
        client.workspaces.get("w1")
    assert len(server.requests) == 2


def test_connection_refused_is_retried_even_for_post(clock: FakeClock) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now: connect is refused, the request surely not sent
    settings = FabricSettings(api_url=f"http://127.0.0.1:{port}/v1", token="unused")
    client = FabricClient(settings, sleep=clock.sleep, clock=clock, token_provider=CountingTokens(), max_attempts=3)
    with pytest.raises(TransportError) as info:
        client.workspaces.create("x")
    assert info.value.sent is False
    assert client.transport.attempts == 3


def test_dropped_connection_after_send_is_not_retried_for_post(clock: FakeClock) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def drop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)  # read the request, then hang up without answering
            accepted.append(1)
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    settings = FabricSettings(api_url=f"http://127.0.0.1:{port}/v1", token="unused")
    client = FabricClient(settings, sleep=clock.sleep, clock=clock, token_provider=CountingTokens(), max_attempts=3)
    try:
        with pytest.raises(TransportError) as info:
            client.transport.request("POST", "workspaces/w/items", json={"displayName": "x"})
        assert info.value.sent is True
        assert client.transport.attempts == 1
        with pytest.raises(TransportError):
            client.transport.request("GET", "workspaces/w")
        assert client.transport.attempts == 4  # idempotent GET: retried up to max_attempts
    finally:
        listener.close()


def test_create_recovers_lost_answer_by_name(server: ScriptedServer, clock: FakeClock) -> None:
    """A create whose answer was lost is resolved by looking its unique name up."""
    server.answer(0)  # the POST reaches the server, which hangs up
    server.answer(200, {"value": [{"id": "w-made", "displayName": "Lost"}]})
    client = make_client(server, clock)
    assert client.workspaces.create("lost").id == "w-made"
    assert [r["method"] for r in server.requests] == ["POST", "GET"]

    server.requests.clear()
    server.answer(0).answer(200, {"value": []}).answer(201, {"id": "w-new", "displayName": "lost2"})
    assert client.workspaces.create("lost2").id == "w-new"
    assert [r["method"] for r in server.requests] == ["POST", "GET", "POST"]


# --------------------------------------------------------------------------------------------
# paging and LRO


def test_paging_follows_token_and_uri(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(200, {"value": [{"id": "1", "displayName": "a"}], "continuationToken": "t1"})
    server.answer(200, {"value": [{"id": "2", "displayName": "b"}],
                        "continuationUri": server.base + "/v1/workspaces?continuationToken=t2"})
    server.answer(200, {"value": [{"id": "3", "displayName": "c"}]})
    client = make_client(server, clock)
    assert [w.id for w in client.workspaces.list(roles=["Admin"])] == ["1", "2", "3"]
    paths = [r["path"] for r in server.requests]
    assert paths == ["/v1/workspaces?roles=Admin", "/v1/workspaces?roles=Admin&continuationToken=t1",
                     "/v1/workspaces?continuationToken=t2"]


def test_lro_polls_with_retry_after_then_fetches_result(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(202, None, Location="{base}/v1/operations/op1", x_ms_operation_id="op1", Retry_After="2")
    server.answer(200, {"status": "Running", "percentComplete": 40}, Retry_After="3")
    server.answer(200, {"status": "Succeeded", "percentComplete": 100},
                  Location="{base}/v1/operations/op1/result")
    server.answer(200, {"definition": {"parts": [{"path": "a", "payload": "eA==", "payloadType": "InlineBase64"}]}})
    seen: list[int | None] = []
    client = make_client(server, clock, on_progress=lambda s: seen.append(s.percent_complete))
    definition = client.items.get_definition("ws", "it")
    assert definition.files() == {"a": b"x"}
    assert clock.sleeps == [2.0, 3.0]
    assert seen == [40, 100]
    assert [r["path"] for r in server.requests][1:] == [
        "/v1/operations/op1", "/v1/operations/op1", "/v1/operations/op1/result"]


def test_bearer_token_never_follows_a_foreign_location(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(202, None, Location="https://elsewhere.example/v1/operations/op9", Retry_After="1")
    client = make_client(server, clock)
    with pytest.raises(FabricError, match="refusing to send credentials to https://elsewhere.example"):
        client.items.get_definition("ws", "it")
    assert len(server.requests) == 1


def test_lro_failure_raises_operation_failed(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(202, None, Location="{base}/v1/operations/op2", x_ms_operation_id="op2", Retry_After="1")
    server.answer(200, {"status": "Failed", "error": err("CorruptedPayload", "bad part")})
    client = make_client(server, clock)
    with pytest.raises(OperationFailedError) as info:
        client.items.update_definition("ws", "it", ItemDefinition.from_files({"a": "x"}))
    assert info.value.error_code == "CorruptedPayload"
    assert str(info.value).startswith("CorruptedPayload: bad part (operation Failed, operationId=op2")


def test_lro_without_result_tolerates_404(server: ScriptedServer, clock: FakeClock) -> None:
    client = make_client(server, clock)
    server.answer(202, None, x_ms_operation_id="op3", Retry_After="1")
    server.answer(200, {"status": "Succeeded"})
    server.answer(404, err("OperationHasNoResult"))
    resp = client.transport.request("POST", "workspaces/ws/items/it/getDefinition", idempotent=True)
    assert client.lro.result(resp) is None


def test_lro_deadline(server: ScriptedServer, clock: FakeClock) -> None:
    server.answer(202, None, x_ms_operation_id="op4", Retry_After="5")
    server.default = (200, {"Retry-After": "5"}, {"status": "Running"})
    client = make_client(server, clock, lro_timeout=12)
    resp = client.transport.request("POST", "workspaces/ws/items", json={})
    with pytest.raises(DeadlineExceededError):
        client.lro.result(resp)
    assert sum(clock.sleeps) <= 12


# --------------------------------------------------------------------------------------------
# error mapping


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InvalidInput", ValidationError),
        (401, "TokenExpired", AuthenticationError),
        (403, "InsufficientPrivileges", PermissionDeniedError),
        (404, "ItemNotFound", NotFoundError),
        (409, "Conflict", ConflictError),
        (409, "ItemDisplayNameAlreadyInUse", AlreadyExistsError),
        (400, "WorkspaceNameAlreadyExists", AlreadyExistsError),
        (429, "RequestBlocked", ThrottledError),
        (500, "InternalError", ServiceError),
        (503, "ServiceUnavailable", ServiceError),
        (418, "Teapot", HTTPError),
    ],
)
def test_error_mapping(status: int, code: str, cls: type[HTTPError]) -> None:
    body = {"errorCode": code, "message": "Something\nwent wrong", "requestId": "abc",
            "moreDetails": [{"errorCode": "X", "message": "y"}],
            "relatedResource": {"resourceId": "r1", "resourceType": "Item"}}
    e = error_from_response(status, body)
    assert type(e) is cls
    assert (e.status, e.error_code, e.request_id) == (status, code, "abc")
    assert e.related_resource == {"resourceId": "r1", "resourceType": "Item"}
    assert str(e) == f"{code}: Something went wrong (HTTP {status}, requestId=abc)"
    if cls is AlreadyExistsError:
        assert isinstance(e, ConflictError)


def test_error_mapping_without_json_body() -> None:
    e = error_from_response(502, "<html>bad gateway</html>", headers={"x-ms-request-id": "rid"})
    assert isinstance(e, ServiceError)
    assert e.error_code == "HTTP502" and e.request_id == "rid"
    t = error_from_response(429, None, retry_after=4.0)
    assert isinstance(t, ThrottledError) and t.retry_after == 4.0


# --------------------------------------------------------------------------------------------
# settings


ENV = {
    "AZURE_TENANT_ID": "env-tenant",
    "AZURE_CLIENT_ID": "env-client",
    "AZURE_CLIENT_SECRET": "env-secret-value",
    "FABRIC_API_URL": "https://env.example/v1",
    "FABRIC_TOKEN": "env-token-value",
}


def test_from_config_explicit_beats_env_and_credentials_do_not_mix() -> None:
    s = FabricSettings.from_config(
        {"fabric:apiUrl": "https://cfg.example/v1", "fabric:clientId": "cfg-client",
         "fabric:clientSecret": "cfg-secret-value"},
        env=ENV,
    )
    assert s.api_url == "https://cfg.example/v1"
    assert s.tenant_id == "env-tenant"  # endpoint fields fall back field by field
    assert s.client_id == "cfg-client"
    # The environment's FABRIC_TOKEN must not override the configured client secret.
    assert s.token is None and s.credential_kind == "client secret"
    assert s.credential_origin == "stack config"


def test_from_config_falls_back_to_env() -> None:
    s = FabricSettings.from_config({}, env=ENV)
    assert s.api_url == "https://env.example/v1"
    assert s.credential_kind == "static token" and s.credential_origin == "environment"


def test_from_config_emulator_dir_fills_unset_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "emulator.json").write_text(json.dumps({
        "api_url": "https://127.0.0.1:9999/v1", "authority": "https://127.0.0.1:9999/tenant-x",
        "tenant_id": "tenant-x", "ca_cert": "/tmp/ca.pem",
        "principals": [{"kind": "User", "user_principal_name": "u@x"},
                       {"kind": "ServicePrincipal", "client_id": "sp1", "client_secret": "sp1-secret"}],
    }))
    monkeypatch.chdir(tmp_path)
    s = FabricSettings.from_config({"fabric:emulatorDir": "emu", "fabric:tenantId": "explicit-tenant"}, env={})
    assert s.api_url == "https://127.0.0.1:9999/v1"
    assert s.tenant_id == "explicit-tenant"
    assert s.client_id == "sp1" and s.client_secret is not None
    assert s.client_secret.get_secret_value() == "sp1-secret"
    assert s.resolved_authority == "https://127.0.0.1:9999/tenant-x"


def test_from_config_layers_each_field_prod_setup() -> None:
    # The documented production setup: tenant and client id in the stack file, the secret only in
    # the deploying job's environment. Each field comes from the highest layer that sets it.
    s = FabricSettings.from_config(
        {"fabric:tenantId": "cfg-tenant", "fabric:clientId": "cfg-client"},
        env={"AZURE_CLIENT_SECRET": "env-secret-value", "AZURE_CLIENT_ID": "env-client"},
    )
    assert s.credential_kind == "client secret"
    assert (s.tenant_id, s.client_id) == ("cfg-tenant", "cfg-client")
    assert s.client_secret is not None and s.client_secret.get_secret_value() == "env-secret-value"
    assert s.credential_origin == "client_id from stack config, client_secret from environment"


def test_environment_ranks_above_the_emulator_file_per_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "emulator.json").write_text(json.dumps({
        "api_url": "https://127.0.0.1:9999/v1", "tenant_id": "tenant-x",
        "principals": [{"kind": "ServicePrincipal", "client_id": "sp1", "client_secret": "sp1-secret"}],
    }))
    monkeypatch.chdir(tmp_path)
    s = FabricSettings.from_config({"fabric:emulatorDir": "emu"}, env={"AZURE_TENANT_ID": "env-tenant"})
    assert (s.api_url, s.tenant_id, s.client_id) == ("https://127.0.0.1:9999/v1", "env-tenant", "sp1")
    assert s.credential_kind == "client secret"
    # A kind named higher up wins over the emulator's secret, which is then not carried along.
    t = FabricSettings.from_config({"fabric:emulatorDir": "emu"}, env={"FABRIC_TOKEN": "env-token-value"})
    assert t.credential_kind == "static token" and t.client_secret is None


def test_from_env_and_authority_resolution() -> None:
    s = FabricSettings.from_env({k: v for k, v in ENV.items() if k != "FABRIC_TOKEN"})
    assert s.credential_kind == "client secret"
    assert s.resolved_authority == "https://login.microsoftonline.com/env-tenant"
    assert FabricSettings(authority="https://login.example", tenant_id="t").resolved_authority == \
        "https://login.example/t"


def test_secrets_never_in_repr_or_describe() -> None:
    s = FabricSettings.from_config({"fabric:clientId": "c", "fabric:clientSecret": "cfg-secret-value",
                                    "fabric:token": "cfg-token-value"}, env=ENV)
    text = repr(s) + str(s) + json.dumps(s.describe())
    for secret in ("cfg-secret-value", "cfg-token-value", "env-secret-value", "env-token-value"):
        assert secret not in text
    assert s.describe()["credential"] == "static token"


def test_missing_credential_names_what_was_tried() -> None:
    with pytest.raises(CredentialError) as info:
        FabricClient(FabricSettings.from_env({"AZURE_CLIENT_ID": "only-id"}))
    assert "AZURE_CLIENT_SECRET" in str(info.value) and "environment" in str(info.value)


def test_token_provider_refreshes_before_expiry_and_after_invalidate(clock: FakeClock) -> None:
    import base64

    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 600}).encode()).decode().rstrip("=")
    provider = TokenProvider(FabricSettings(token=f"h.{claims}.s"), clock=clock)
    assert provider.source == "static token (explicit)"
    provider.token()
    fetches: list[bool] = []
    inner: Any = provider._credential

    class Counting:
        def acquire(self, force: bool) -> dict[str, Any]:
            fetches.append(force)
            result: dict[str, Any] = inner.acquire(force)
            return result

    provider._credential = Counting()
    clock.now += 400
    provider.token()
    assert fetches == []  # 600 s token: cached until a quarter-lifetime (150 s) before expiry
    clock.now += 60
    provider.token()
    assert fetches == [False]
    provider.invalidate("some-other-token")  # another thread's stale token: nothing dropped
    provider.token()
    assert fetches == [False]
    provider.invalidate(provider.token())
    provider.token()
    assert fetches == [False, True]  # forced past MSAL's own cache


# --------------------------------------------------------------------------------------------
# models


def test_schedule_configuration_union_round_trips_spec_names() -> None:
    raw = {"id": "s1", "enabled": True, "configuration": {
        "type": "Monthly", "startDateTime": "2030-01-01T00:00:00Z", "endDateTime": "2031-01-01T00:00:00Z",
        "localTimeZoneId": "Central Standard Time", "recurrence": 2, "times": ["08:00"],
        "occurrence": {"occurrenceType": "OrdinalWeekday", "weekIndex": "First", "weekday": "Monday"}}}
    schedule = ItemSchedule.model_validate(raw)
    assert isinstance(schedule.configuration, MonthlyScheduleConfig)
    assert isinstance(schedule.configuration.occurrence, OrdinalWeekdayOccurrence)
    assert schedule.to_api() == raw
    cron = CronScheduleConfig(interval=15, start_date_time="a", end_date_time="b", local_time_zone_id="UTC")
    assert cron.to_api()["type"] == "Cron" and cron.to_api()["localTimeZoneId"] == "UTC"


def test_definition_files_round_trip() -> None:
    d = ItemDefinition.from_files({"pipeline-content.json": {"properties": {"activities": []}},
                                   ".platform": b"\x00\x01", "notes.txt": "hé"})
    files = d.files()
    assert json.loads(files["pipeline-content.json"]) == {"properties": {"activities": []}}
    assert files[".platform"] == b"\x00\x01" and files["notes.txt"] == "hé".encode()
    assert all(p["payloadType"] == "InlineBase64" for p in d.to_api()["parts"])


def test_client_certificate_is_loaded_without_leaking(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fabric-test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "sp.pem"
    path.write_bytes(pem)
    provider = TokenProvider(FabricSettings(client_id="c", client_certificate_path=str(path)))
    assert provider.source == "client certificate (explicit)"
    credential = provider._certificate_credential()
    assert credential["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex()
    assert "PRIVATE KEY" in credential["private_key"]

    missing = TokenProvider(FabricSettings(client_id="c", client_certificate_path=str(tmp_path / "nope.pem")))
    with pytest.raises(CredentialError) as info:
        missing._certificate_credential()
    assert info.value.source == "client certificate (explicit)" and "cannot read certificate file" in str(info.value)


def test_client_repr_logs_and_error_strings_hide_secrets(server: ScriptedServer, clock: FakeClock,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    settings = FabricSettings(api_url=server.base + "/v1", token="super-secret-token")
    client = FabricClient(settings, sleep=clock.sleep, clock=clock)
    server.answer(429, err("RequestBlocked"), Retry_After="1")
    server.answer(401, err("InvalidToken")).answer(401, err("InvalidToken"))
    with caplog.at_level(logging.DEBUG, logger="fabric_resources"), pytest.raises(AuthenticationError) as info:
        client.workspaces.get("w1")
    assert server.requests[0]["auth"] == "Bearer super-secret-token"
    assert "GET" in caplog.text and "429" in caplog.text and "401" in caplog.text
    for text in (repr(client), str(info.value), repr(info.value), repr(client.settings), caplog.text):
        assert "super-secret-token" not in text


def test_expired_static_token_is_reported_clearly() -> None:
    import base64

    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() - 120}).encode()).decode().rstrip("=")
    token = f"h.{claims}.s"
    provider = TokenProvider(FabricSettings.from_env({"FABRIC_TOKEN": token}))
    with pytest.raises(CredentialError) as info:
        provider.token()
    assert info.value.source == "static token (environment)" and "expired" in str(info.value)
    assert token not in str(info.value)
