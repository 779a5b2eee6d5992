"""Fault injection (throttling, 5xx, latency, dropped connections) and hostile input.

Faults are switched on through the admin endpoint for the span of one `with emulator.config(...)`
block and apply to /v1 only, so the admin plane can always switch them off again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests


def _name() -> str:
    return f"fault-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def ws(emulator: Any) -> Iterator[str]:
    api = emulator.session()
    wid = str(api.post(f"{emulator.api_url}/workspaces", json={"displayName": _name()}).json()["id"])
    yield wid
    api.delete(f"{emulator.api_url}/workspaces/{wid}")


def _second_sp_session(emulator: Any) -> requests.Session:
    sp = [p for p in emulator.principals if p["kind"] == "ServicePrincipal"][1]
    return emulator.session(emulator.token(client_id=sp["client_id"]))


# -- faults ---------------------------------------------------------------------------------------


def test_throttling_is_per_principal_with_retry_after(emulator: Any) -> None:
    api = emulator.session()
    other = _second_sp_session(emulator)
    url = f"{emulator.api_url}/capacities"
    with emulator.config(throttle_limit=3, throttle_window_seconds=30.0, throttle_retry_after=7):
        statuses = [api.get(url) for _ in range(5)]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
        blocked = statuses[3]
        assert blocked.status_code == 429 and statuses[4].status_code == 429
        assert blocked.headers["Retry-After"] == "7"
        body = blocked.json()
        assert body["errorCode"] == "RequestBlocked" and body["message"] and body["requestId"]
        assert blocked.headers["x-ms-public-api-error-code"] == "RequestBlocked"
        # Another caller has its own budget.
        assert other.get(url).status_code == 200
    with emulator.config(throttle_limit=2, throttle_window_seconds=1.0):
        codes = [api.get(url).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        time.sleep(1.05)
        assert api.get(url).status_code == 200, "a new window admits requests again"


def test_throttle_can_answer_the_time_left_in_the_window_and_counts_its_429s(emulator: Any) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/capacities"
    with emulator.config(throttle_limit=2, throttle_window_seconds=8.0, throttle_retry_after=1,
                         throttle_retry_after_window=True):
        emulator.reset_stats()
        assert [api.get(url).status_code for _ in range(2)] == [200, 200]
        time.sleep(2.2)
        blocked = [api.get(url) for _ in range(3)]
        assert [r.status_code for r in blocked] == [429, 429, 429]
        # About 5.8 s of the 8 s window are left: rounded up, not the fixed throttle_retry_after.
        assert {r.headers["Retry-After"] for r in blocked} <= {"5", "6"}
        stats = emulator.stats()
        assert stats["throttled"] == 3 and stats["total"] == 5


def test_stats_report_the_peak_of_concurrent_requests(emulator: Any) -> None:
    url = f"{emulator.api_url}/capacities"
    sessions = [emulator.session() for _ in range(6)]
    for s in sessions:
        s.get(url)  # connections open beforehand: TLS handshakes do not stagger the requests
    with emulator.config(latency_ms=800):
        emulator.reset_stats()
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda s: s.get(url).status_code, sessions))
        together = emulator.stats()["peak_concurrent"]
        emulator.reset_stats()
        for s in sessions[:3]:
            s.get(url)
        one_by_one = emulator.stats()["peak_concurrent"]
    assert codes == [200] * 6
    assert together == 6  # each request is held 800 ms: all six overlap
    assert one_by_one == 1


def test_error_rate_answers_500_and_503(emulator: Any) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/capacities"
    with emulator.config(error_rate=1.0):
        seen = set()
        for _ in range(30):
            resp = api.get(url)
            assert resp.status_code in (500, 503)
            assert resp.json()["errorCode"] in ("InternalServerError", "ServiceUnavailable")
            assert resp.headers["x-ms-public-api-error-code"] == resp.json()["errorCode"]
            if resp.status_code == 503:
                assert int(resp.headers["Retry-After"]) >= 0
            seen.add(resp.status_code)
        assert seen == {500, 503}
        assert emulator.admin("GET", "/config").status_code == 200, "the admin plane is never faulted"
    with emulator.config(error_rate=0.5):
        codes = {api.get(url).status_code for _ in range(40)}
        assert 200 in codes and codes & {500, 503}
    assert api.get(url).status_code == 200


def test_latency_is_added(emulator: Any) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/capacities"
    api.get(url)
    with emulator.config(latency_ms=600):
        start = time.monotonic()
        assert api.get(url).status_code == 200
        assert time.monotonic() - start >= 0.6
    start = time.monotonic()
    api.get(url)
    assert time.monotonic() - start < 0.6


def test_dropped_connections(emulator: Any, ws: str) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/workspaces/{ws}/items"
    with emulator.config(drop_rate=1.0):
        for _ in range(3):
            with pytest.raises(requests.exceptions.RequestException):
                api.post(url, json={"displayName": _name(), "type": "DataPipeline"}, timeout=10)
    # The request never reached the handler, and the server carries on.
    assert api.get(url).json()["value"] == []
    with emulator.config(drop_rate=0.5):
        outcomes = set()
        for _ in range(30):
            try:
                outcomes.add(api.get(url, timeout=10).status_code)
            except requests.exceptions.RequestException:
                outcomes.add("dropped")
        assert outcomes == {200, "dropped"}


def test_answers_lost_after_the_work_was_done(emulator: Any, ws: str) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/workspaces/{ws}/items"
    names = [_name() for _ in range(3)]
    with emulator.config(drop_after_rate=1.0):
        for display in names:
            with pytest.raises(requests.exceptions.RequestException):
                api.post(url, json={"displayName": display, "type": "DataPipeline"}, timeout=10)
    # Unlike drop_rate, the handler ran and committed: each item exists, once.
    assert sorted(i["displayName"] for i in api.get(url).json()["value"]) == sorted(names)
    for bad in (1.5, -0.1, "half"):
        resp = emulator.admin("PUT", "/config", json={"drop_after_rate": bad})
        assert resp.status_code == 400 and resp.json()["errorCode"] == "InvalidInput"
    assert emulator.admin("GET", "/config").json()["drop_after_rate"] == 0.0


def test_faulted_requests_are_counted(emulator: Any) -> None:
    api = emulator.session()
    emulator.reset_stats()
    with emulator.config(error_rate=1.0):
        for _ in range(4):
            api.get(f"{emulator.api_url}/capacities")
    assert emulator.stats()["by_route"]["GET /v1/capacities"] == 4


# -- hostile input ---------------------------------------------------------------------------------


def _assert_clean_4xx(resp: requests.Response) -> dict[str, Any]:
    assert 400 <= resp.status_code < 500, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:300]}"
    body: dict[str, Any] = resp.json()
    assert body["errorCode"] and body["message"] and body["requestId"]
    return body


def test_malformed_bodies_get_clear_400s(emulator: Any, ws: str) -> None:
    api = emulator.session()
    url = f"{emulator.api_url}/workspaces"
    headers = {"content-type": "application/json"}
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"null", b"", b"\xff\xfe\x00garbage", b"[" * 100_000 + b"]" * 100_000):
        body = _assert_clean_4xx(api.post(url, data=raw, headers=headers))
        assert body["errorCode"] == "InvalidRequest"
    for payload in ({"displayName": 12}, {"displayName": None}, {"displayName": ["a"]},
                    {"displayName": "ok", "description": {"x": 1}}):
        assert _assert_clean_4xx(api.post(url, json=payload))["errorCode"] == "InvalidInput"


def test_lone_surrogates_get_a_clear_400(emulator: Any, ws: str) -> None:
    """JSON can spell a lone UTF-16 surrogate; it is no Unicode text, so it cannot be stored or echoed."""
    api = emulator.session()
    headers = {"content-type": "application/json"}
    items = f"{emulator.api_url}/workspaces/{ws}/items"
    cases = [
        (items, rb'{"displayName":"\ud800","type":"DataPipeline"}', "$.displayName"),
        (items, rb'{"displayName":"ok","type":"DataPipeline","description":"x\uDC00y"}', "$.description"),
        (items, rb'{"displayName":"ok","type":"DataPipeline","definition":{"parts":[{"path":"\udbff"}]}}',
         "$.definition.parts[0].path"),
        (items, rb'{"\ud800":1,"displayName":"ok","type":"DataPipeline"}', "property name"),
        (f"{emulator.api_url}/workspaces", rb'{"displayName":"\ud800"}', "$.displayName"),
        (f"{emulator.api_url}/workspaces/{ws}", rb'{"description":"\ud800"}', "$.description"),
    ]
    for url, raw, where in cases:
        method = "PATCH" if url.endswith(ws) else "POST"
        body = _assert_clean_4xx(api.request(method, url, data=raw, headers=headers))
        assert body["errorCode"] == "InvalidRequest", body
        assert "UTF-8" in body["message"] and where in body["message"], body["message"]
    assert api.get(items).json()["value"] == []  # nothing was created
    # A proper surrogate pair is one character (U+1F600), and an escaped backslash is plain text.
    for raw, expected in ((rb'{"displayName":"smile \ud83d\ude00","type":"DataPipeline"}', "smile \U0001f600"),
                          (rb'{"displayName":"not \\ud800","type":"DataPipeline"}', "not \\ud800")):
        made = api.post(items, data=raw, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["displayName"] == expected


def test_huge_body_is_refused(emulator: Any, ws: str) -> None:
    api = emulator.session()
    big = b'{"displayName": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    resp = api.post(f"{emulator.api_url}/workspaces/{ws}/items", data=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["errorCode"] == "RequestBodyTooLarge"


def test_unknown_routes_and_methods(emulator: Any, ws: str) -> None:
    api = emulator.session()
    body = _assert_clean_4xx(api.get(f"{emulator.api_url}/no/such/thing"))
    assert body["errorCode"] == "EntityNotFound"
    resp = api.put(f"{emulator.api_url}/workspaces/{ws}", json={})
    assert resp.status_code == 405 and resp.json()["errorCode"] == "MethodNotAllowed"
    assert "PATCH" in resp.headers["Allow"]
    assert _assert_clean_4xx(api.get(f"{emulator.base_url}/nowhere"))["errorCode"] == "UnknownRoute"
    assert _assert_clean_4xx(api.delete(f"{emulator.api_url}/workspaces/{ws}/items/xyz?hardDelete=maybe"))


def test_fuzzed_bodies_never_crash(emulator: Any, ws: str) -> None:
    api = emulator.session()
    base = f"{emulator.api_url}/workspaces/{ws}"
    item = api.post(f"{base}/dataPipelines", json={"displayName": _name()}).json()["id"]
    folder = api.post(f"{base}/folders", json={"displayName": "F"}).json()["id"]
    targets = [
        ("POST", f"{base}/items"), ("POST", f"{base}/dataPipelines"), ("PATCH", f"{base}/items/{item}"),
        ("POST", f"{base}/items/{item}/updateDefinition"), ("POST", f"{base}/roleAssignments"),
        ("PATCH", f"{base}/roleAssignments/{uuid.uuid4()}"), ("POST", f"{base}/assignToCapacity"),
        ("POST", f"{base}/folders"), ("PATCH", f"{base}/folders/{folder}"), ("POST", f"{base}/folders/{folder}/move"),
        ("POST", f"{base}/items/{item}/move"), ("PATCH", base), ("POST", f"{emulator.api_url}/workspaces"),
    ]
    bodies: list[Any] = [
        {}, {"displayName": 1, "type": 2}, {"displayName": "x", "type": "DataPipeline", "definition": "x"},
        {"definition": {"parts": [1, None]}}, {"definition": {"parts": [{"path": 1, "payload": [], "payloadType": 3}]}},
        {"definition": {"format": 5, "parts": []}}, {"principal": "me", "role": "Admin"},
        {"principal": {"id": "not-a-guid", "type": "User"}, "role": "Viewer"}, {"role": 7}, {"capacityId": 12},
        {"capacityId": "not-a-guid"}, {"targetFolderId": 5}, {"targetFolderId": "nope"},
        {"displayName": "x", "folderId": "nope", "type": "DataPipeline"}, {"parentFolderId": 3, "displayName": "y"},
        {"displayName": "\u0000"}, {"description": "d" * 5000},
    ]
    for method, url in targets:
        for body in bodies:
            resp = api.request(method, url, json=body)
            assert resp.status_code < 500, f"{method} {url} {body}: {resp.status_code} {resp.text[:300]}"
            if resp.status_code >= 400:
                _assert_clean_4xx(resp)
    for query in ("recursive=perhaps", "type=%00", "continuationToken=%%%", "rootFolderId=nope"):
        resp = api.get(f"{base}/items?{query}")
        _assert_clean_4xx(resp)


def test_route_errors_fail_one_route_and_refuse_other_statuses(emulator: Any) -> None:
    api = emulator.session()
    route = "GET /v1/capacities"
    with emulator.config(route_errors={route: "503"}):
        failed = api.get(f"{emulator.api_url}/capacities")
        assert failed.status_code == 503 and failed.json()["errorCode"] == "ServiceUnavailable"
        assert api.get(f"{emulator.api_url}/workspaces").status_code == 200, "other routes are untouched"
    assert api.get(f"{emulator.api_url}/capacities").status_code == 200
    refused = emulator.admin("PUT", "/config", json={"route_errors": {route: "404"}})
    assert refused.status_code == 400
