"""How many provider operations run at once in the dynamic-provider process.

The SDK's provider process (``python -m pulumi.dynamic``, started by ``pulumi-resource-pulumi-python``
under the official CLI and ours alike) serves its gRPC calls from ``ThreadPoolExecutor(max_workers=4)``
built in its ``main()``: whatever ``--parallel`` says, at most four creates (each holding a thread
for the whole of a long-running operation) are in flight. Nothing in the SDK lets a provider change
that, so the first provider call served in that process (``configure()``, run on one of the pool's
own threads) finds the pool that is running it and raises its worker limit. A
``ThreadPoolExecutor`` starts a new thread on ``submit`` while it has fewer than ``_max_workers``, so
raising that attribute is all it takes.

This relies on two private details, each checked before anything is touched: the calling thread is
a ``concurrent.futures.thread`` worker (whose frame holds ``executor_reference``) serving a gRPC call,
in a process whose ``__main__`` is ``pulumi.dynamic.__main__``; and the pool has an integer
``_max_workers``. If either check fails (an SDK or Python upgrade changed the shape), nothing is
changed and the process keeps today's four threads: slower, never broken.

The limit itself (``fabric:maxInFlight`` stack config, else ``FABRIC_MAX_IN_FLIGHT``, else
``DEFAULT_MAX_IN_FLIGHT``) bounds the create/read/update/delete calls the providers run at once
(``OperationLimiter``); the pool gets ``POOL_HEADROOM`` threads more so that quick check/diff calls
never queue behind long-running creates.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_MAX_IN_FLIGHT",
    "ENV_VAR",
    "LIMITER",
    "OperationLimiter",
    "configure_in_flight",
    "in_provider_process",
    "max_in_flight",
    "serving_pool",
    "widen_pool",
]

log = logging.getLogger("fabric_resources.providers")

CONFIG_KEY = "fabric:maxInFlight"
ENV_VAR = "FABRIC_MAX_IN_FLIGHT"
#: Fourteen operations at once. Terraform's ten leaves a deploy of 2 s long-running creates 25-45 %
#: above its floor here (an operation costs about 2.5 s with its calls and the machine's load), while
#: fourteen reaches it; a throttled caller's extra cost is one burst of 429s when the budget first
#: runs out, after which the client sends one request at a time (client/_throttle.py, SendLimit).
DEFAULT_MAX_IN_FLIGHT = 14
MAX_IN_FLIGHT_CEILING = 64
#: Threads beyond the limit, for check/diff/configure calls while every operation slot is busy.
POOL_HEADROOM = 4
#: What the SDK's provider process runs as (``python -m pulumi.dynamic``).
PROVIDER_MAIN = "pulumi.dynamic.__main__"


def max_in_flight(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> int:
    """The configured limit; ValueError naming the key and the accepted range when it is not valid."""
    env = os.environ if env is None else env
    raw: Any = config.get(CONFIG_KEY)
    source = CONFIG_KEY
    if raw is None or raw == "":
        raw, source = env.get(ENV_VAR), ENV_VAR
    if raw is None or raw == "":
        return DEFAULT_MAX_IN_FLIGHT
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_IN_FLIGHT_CEILING:
        raise ValueError(
            f"{source} must be a whole number from 1 to {MAX_IN_FLIGHT_CEILING} (operations in flight), "
            f"got {raw!r}"
        )
    return value


def in_provider_process() -> bool:
    """True in the SDK's dynamic-provider process (never in the program or a test process)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == PROVIDER_MAIN


def serving_pool(frame: FrameType | None = None) -> ThreadPoolExecutor | None:
    """The thread pool whose worker is running the current gRPC call, or None when the calling
    thread is not such a worker (or the stack no longer looks the way this module expects)."""
    frame = frame if frame is not None else sys._getframe(1)
    in_grpc = False
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith("grpc"):
            in_grpc = True
        if frame.f_code.co_name == "_worker" and module == "concurrent.futures.thread":
            ref = frame.f_locals.get("executor_reference")
            pool = ref() if callable(ref) else None
            return pool if in_grpc and isinstance(pool, ThreadPoolExecutor) else None
        frame = frame.f_back
    return None


def widen_pool(pool: ThreadPoolExecutor, workers: int) -> int | None:
    """Let ``pool`` run up to ``workers`` threads; the new limit, or None when it cannot be done
    safely (attribute missing or not an int). Never lowers a limit."""
    current = getattr(pool, "_max_workers", None)
    if not isinstance(current, int) or isinstance(current, bool) or not hasattr(pool, "_adjust_thread_count"):
        return None
    if workers > current:
        pool._max_workers = workers
        _serve_queued(pool)
    return max(workers, current)


def _serve_queued(pool: ThreadPoolExecutor) -> None:
    """Start threads for calls already waiting in the pool's queue.

    A pool starts a thread only when work is submitted, so calls that queued up before the limit was
    raised (a refresh sends every read at once, before the first one gets here) would otherwise
    still be served four at a time. Each ``_adjust_thread_count`` starts at most one thread, and none
    beyond ``_max_workers``; skipped when the pool lacks the pieces (then only later calls benefit).
    """
    queue = getattr(pool, "_work_queue", None)
    adjust = getattr(pool, "_adjust_thread_count", None)
    lock = getattr(pool, "_shutdown_lock", None)
    threads = getattr(pool, "_threads", None)
    if queue is None or not callable(adjust) or lock is None or threads is None:
        return
    with lock:
        for _ in range(min(queue.qsize(), pool._max_workers - len(threads))):
            adjust()


class OperationLimiter:
    """A counting gate whose size can be set after construction (configure() knows the limit).

    Re-entrant per thread: an operation that calls another provider operation (an update reading
    the item back through ``read``) keeps its one slot instead of waiting for a second, which with
    every slot taken that way would wait forever.
    """

    def __init__(self, limit: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self._cond = threading.Condition()
        self._limit = limit
        self._active = 0
        self._held = threading.local()
        self.peak = 0

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def __enter__(self) -> OperationLimiter:
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._active >= self._limit:
                    self._cond.wait()
                self._active += 1
                self.peak = max(self.peak, self._active)
        self._held.depth = depth + 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self._held.depth -= 1
        if self._held.depth == 0:
            with self._cond:
                self._active -= 1
                self._cond.notify()


#: The one limiter of the process, shared by every provider type (they share the pool too).
LIMITER = OperationLimiter()
_CONFIGURED_LOCK = threading.Lock()
_pool_workers: int | None = None


def configure_in_flight(config: Mapping[str, Any]) -> int | None:
    """Apply the configured limit (from ``configure()``, on a pool thread of the provider process).

    Returns the pool's worker limit after widening, or None when it was left as the SDK built it
    (not the provider process, or an SDK whose shape is not the expected one).
    """
    global _pool_workers
    limit = max_in_flight(config)
    LIMITER.set_limit(limit)
    if not in_provider_process():
        return None
    with _CONFIGURED_LOCK:
        if _pool_workers is not None and _pool_workers >= limit + POOL_HEADROOM:
            return _pool_workers
        pool = serving_pool()
        widened = widen_pool(pool, limit + POOL_HEADROOM) if pool is not None else None
        if widened is None:
            log.warning("the dynamic-provider process's thread pool was not found in the expected shape; "
                        "keeping the SDK's own limit of calls in flight")
        else:
            _pool_workers = widened
        return widened
