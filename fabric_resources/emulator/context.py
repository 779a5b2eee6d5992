"""Shared state of one running emulator: the context every route handler receives.

`EmulatorContext` is built once by `server.py` and passed to `app.create_app(ctx)`.
`ctx.config` is a *live* dict: the admin endpoint `PUT /_emulator/config` mutates it in place, so
code must read keys at request time (never cache them at import or start-up).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Defaults of every run-time knob (see docs/ARCHITECTURE.md, "Control plane").
DEFAULT_CONFIG: dict[str, Any] = {
    "page_size": 100,
    # Long-running operations: "never" | "always" | "size" (202 when payload > lro_size_threshold).
    "lro_mode": "never",
    "lro_size_threshold": 4096,
    "lro_duration_seconds": 0.2,
    "lro_fail": False,
    # Operations end with status "Undefined" (the spec's fifth status); their work is still applied,
    # so a client learns nothing about an outcome that did happen.
    "lro_undefined": False,
    # Succeeded operations offer no result (no Location, an empty /result): what a client must settle.
    "lro_no_result": False,
    # Throttling per principal: at most `throttle_limit` requests per window (0 = off).
    "throttle_limit": 0,
    "throttle_window_seconds": 1.0,
    "throttle_retry_after": 1,
    # When true, Retry-After is the time left in the caller's window (rounded up), as a real
    # fixed-window limiter would say, instead of the fixed `throttle_retry_after`.
    "throttle_retry_after_window": False,
    # Faults: fraction of /v1 requests answered 500/503, added latency, connections dropped.
    "error_rate": 0.0,
    "latency_ms": 0,
    # Delay between a request's work being committed and its answer being sent.
    "latency_after_ms": 0,
    "drop_rate": 0.0,
    # Fraction of /v1 requests that are handled (the work is done and committed) whose answer is then
    # lost: the connection closes before the response is complete. What a retrying client must survive.
    "drop_after_rate": 0.0,
    # Routes answered with an error, not processed: {"GET /v1/<route template>": "503"} (500 | 503).
    "route_errors": {},
    # Which requests the four faults above apply to: a glob over "METHOD /v1/route/template"
    # (e.g. "POST /v1/workspaces/{workspaceId}/items"); "" means every /v1 request.
    "fault_route": "",
    # Multiplies every simulated duration (jobs, schedules, capacity assignment).
    "time_factor": 1.0,
    "activity_duration_seconds": 0.5,
    "token_lifetime_seconds": 3600,
    # How long a capacity (un)assignment reports "InProgress" before "Completed" (x time_factor).
    "capacity_assignment_seconds": 0.3,
    # Capacity assignments started while set end "Failed" (the workspace keeps its previous capacity).
    "capacity_assignment_fails": False,
    # A tenant's default capacity: workspaces created without a capacityId are put on it ("" = none),
    # as a tenant setting can do in the service. Must be one of the emulator's capacities.
    "default_capacity_id": "",
    # Items per workspace (the service documents 1000); beyond it 400 WorkspaceItemsLimitExceeded.
    "workspace_item_limit": 1000,
    # Activities that fail on purpose: {activity name or type: "fail" | "fail_once"} (jobs.py).
    "activity_faults": {},
}


def default_config() -> dict[str, Any]:
    """A fresh, independent copy of the defaults (callers may mutate it)."""
    return copy.deepcopy(DEFAULT_CONFIG)


class Stats:
    """Thread-safe request counters keyed by ``"METHOD /v1/route/{template}"``.

    Only /v1 requests are counted (the app's middleware decides); route templates rather than
    concrete paths so tests can assert "this operation made N GET-item calls". ``throttled`` counts
    the 429s the throttle answered; ``peak_concurrent`` is the most /v1 requests ever being served
    at once (from arrival, added latency included, to the end of the answer): how many calls a
    client really had in flight.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_route: dict[str, int] = {}
        self._throttled = 0
        self._in_flight = 0
        self._peak = 0

    def record(self, key: str) -> None:
        with self._lock:
            self._total += 1
            self._by_route[key] = self._by_route.get(key, 0) + 1

    def record_throttled(self) -> None:
        with self._lock:
            self._throttled += 1

    def begin(self) -> None:
        """A /v1 request arrived (pair with ``end``)."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """``{"total", "by_route": {key: n}, "throttled", "peak_concurrent"}`` as served by
        ``GET /_emulator/stats``."""
        with self._lock:
            return {"total": self._total, "by_route": dict(sorted(self._by_route.items())),
                    "throttled": self._throttled, "peak_concurrent": self._peak}

    def reset(self) -> None:
        """Counters back to zero; the peak restarts from the requests being served right now."""
        with self._lock:
            self._total = 0
            self._by_route.clear()
            self._throttled = 0
            self._peak = self._in_flight


@dataclass
class EmulatorContext:
    """Everything a handler needs. Built by server.py.

    - ``data_dir``: the directory holding the database, certificates and emulator.json.
    - ``store``: an opened ``store.Store``.
    - ``identity``: ``identity.Identity`` (verify / issue_token / find_principal / routes).
    - ``config``: the live config dict (start from ``default_config()``).
    - ``stats``: request counters.
    - ``base_url``: the server origin, e.g. ``https://127.0.0.1:8443`` (a trailing ``/v1`` is
      tolerated); used to build absolute ``Location`` headers. May be set after the port is bound.
    - ``jobs``: the ``jobs.JobEngine`` (None only while server.py builds the context); it gets
      ``on_item_deleted(conn, item_id)``.
    """

    data_dir: Path
    store: Any
    identity: Any
    config: dict[str, Any] = field(default_factory=default_config)
    stats: Stats = field(default_factory=Stats)
    base_url: str = ""
    # A jobs.JobEngine; typed loosely so this bottom module imports nothing of the emulator's own.
    jobs: Any = None

    def cfg(self, key: str) -> Any:
        """Config value with the default as fallback (the live dict may lack keys after a PUT)."""
        return self.config.get(key, DEFAULT_CONFIG.get(key))
