"""The in-flight limit and the widening of the provider process's thread pool (providers/_concurrency).

The real provider process is exercised end to end in tests/e2e/test_performance.py; here the pieces
run on real thread pools: a call served from a gRPC-looking frame finds its pool, widening really
lets more tasks run at once, and every shape the code does not recognise leaves the pool alone.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fabric_resources.providers import _concurrency
from fabric_resources.providers._concurrency import (
    CONFIG_KEY,
    DEFAULT_MAX_IN_FLIGHT,
    ENV_VAR,
    OperationLimiter,
    configure_in_flight,
    in_provider_process,
    max_in_flight,
    serving_pool,
    widen_pool,
)


def as_grpc_handler(fn: Any) -> Any:
    """``fn`` called from a frame whose module is named like gRPC's server module, as the SDK's
    provider process calls its servicer (the guard looks for such a frame below the pool worker)."""
    namespace: dict[str, Any] = {"__name__": "grpc._server", "fn": fn}
    exec("def _call_handler(*args):\n    return fn(*args)\n", namespace)
    return namespace["_call_handler"]


# -- the limit ------------------------------------------------------------------------------------


def test_limit_from_config_then_environment_then_default() -> None:
    assert max_in_flight({}, env={}) == DEFAULT_MAX_IN_FLIGHT
    assert max_in_flight({}, env={ENV_VAR: "7"}) == 7
    assert max_in_flight({CONFIG_KEY: "12"}, env={ENV_VAR: "7"}) == 12
    assert max_in_flight({CONFIG_KEY: 3}, env={}) == 3


@pytest.mark.parametrize("bad", ["0", "65", "ten", "-3", "2.5"])
def test_invalid_limit_names_the_key_and_the_range(bad: str) -> None:
    with pytest.raises(ValueError, match=rf"{CONFIG_KEY} must be a whole number from 1 to 64.*{bad!r}"):
        max_in_flight({CONFIG_KEY: bad}, env={})
    with pytest.raises(ValueError, match=rf"{ENV_VAR} must be a whole number"):
        max_in_flight({}, env={ENV_VAR: bad})


def test_limiter_never_admits_more_than_its_limit() -> None:
    limiter = OperationLimiter(2)
    release = threading.Event()

    def work() -> None:
        with limiter:
            release.wait(5)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while limiter.peak < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a third caller to get in, were the limit not kept
    assert limiter.peak == 2
    release.set()
    for t in threads:
        t.join(10)
    assert limiter.peak == 2


def test_limiter_can_grow_while_callers_wait() -> None:
    limiter = OperationLimiter(1)
    entered = threading.Event()
    with limiter:
        def wait_for_a_slot() -> None:
            with limiter:
                entered.set()

        waiter = threading.Thread(target=wait_for_a_slot)
        waiter.start()
        assert not entered.wait(0.2)  # held back by the limit of one
        limiter.set_limit(2)
        assert entered.wait(5)
    waiter.join(5)
    assert limiter.peak == 2


def test_an_operation_inside_an_operation_keeps_its_one_slot() -> None:
    limiter = OperationLimiter(1)
    done = threading.Event()

    def nested() -> None:
        with limiter, limiter:  # e.g. an update that reads the item back through read()
            done.set()

    worker = threading.Thread(target=nested)
    worker.start()
    assert done.wait(5), "the nested operation waited for a second slot"
    worker.join(5)
    assert limiter.peak == 1
    with limiter:  # and the slot was given back
        pass


# -- finding and widening the pool ------------------------------------------------------------------


def test_a_call_served_by_a_grpc_pool_finds_that_pool() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert pool.submit(as_grpc_handler(serving_pool)).result(5) is pool


def test_a_pool_not_serving_grpc_is_left_alone() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert pool.submit(serving_pool).result(5) is None
    assert serving_pool() is None  # the main thread is no pool worker at all


def test_widening_lets_the_pool_run_more_tasks_at_once() -> None:
    workers = 8
    with ThreadPoolExecutor(max_workers=2) as pool:
        def widen_mine() -> int | None:
            mine = serving_pool()
            return widen_pool(mine, workers) if mine is not None else None

        assert pool.submit(as_grpc_handler(widen_mine)).result(5) == workers
        all_in = threading.Barrier(workers, timeout=10)
        # Eight tasks that each wait for all eight: only a pool really running eight threads finishes.
        results = [pool.submit(all_in.wait) for _ in range(workers)]
        assert sorted(f.result(15) for f in results) == list(range(workers))


def test_widening_never_lowers_a_limit() -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert widen_pool(pool, 3) == 6
        assert pool._max_workers == 6


class _ChangedPool(ThreadPoolExecutor):
    """A pool as a future Python might build it: no integer ``_max_workers``."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self._max_workers = "two"  # type: ignore[assignment]


def test_an_unrecognised_pool_shape_is_not_touched() -> None:
    pool = _ChangedPool()
    try:
        assert widen_pool(pool, 8) is None
        assert pool._max_workers == "two"
    finally:
        pool._max_workers = 2
        pool.shutdown()


def test_outside_the_provider_process_only_the_limit_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_concurrency, "LIMITER", OperationLimiter())
    assert not in_provider_process()  # pytest's __main__ is not pulumi.dynamic's
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert pool.submit(as_grpc_handler(configure_in_flight), {CONFIG_KEY: "5"}).result(5) is None
        assert pool._max_workers == 2
    assert _concurrency.LIMITER.limit == 5


def test_in_the_provider_process_the_serving_pool_is_widened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_concurrency, "LIMITER", OperationLimiter())
    monkeypatch.setattr(_concurrency, "_pool_workers", None)
    monkeypatch.setattr(_concurrency, "in_provider_process", lambda: True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        widened = pool.submit(as_grpc_handler(configure_in_flight), {CONFIG_KEY: "12"}).result(5)
        assert widened == 12 + _concurrency.POOL_HEADROOM == pool._max_workers
    assert _concurrency.LIMITER.limit == 12


def test_in_the_provider_process_an_unexpected_shape_falls_back(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_concurrency, "LIMITER", OperationLimiter())
    monkeypatch.setattr(_concurrency, "_pool_workers", None)
    monkeypatch.setattr(_concurrency, "in_provider_process", lambda: True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        # Served without a gRPC frame (an SDK that dispatches differently): nothing is found.
        assert pool.submit(configure_in_flight, {CONFIG_KEY: "12"}).result(5) is None
        assert pool._max_workers == 4
    assert "keeping the SDK's own limit" in caplog.text


def test_calls_queued_before_the_widening_are_served_at_once() -> None:
    """A refresh sends every read together: they queue behind the SDK's four threads before the first
    one widens the pool, so the widening must start threads for them too (nothing is submitted after
    it that would start them)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        release = threading.Event()
        busy = [pool.submit(release.wait, 10) for _ in range(2)]  # the SDK's threads, each in a long call
        queued_count = 6
        all_in = threading.Barrier(queued_count, timeout=10)
        queued = [pool.submit(all_in.wait) for _ in range(queued_count)]
        assert pool._work_queue.qsize() == queued_count
        assert widen_pool(pool, 2 + queued_count) == 2 + queued_count
        # The six queued calls meet at the barrier only if six new threads run them together.
        assert sorted(f.result(15) for f in queued) == list(range(queued_count))
        release.set()
        assert all(f.result(5) for f in busy)


def test_the_projects_engine_runs_let_the_in_flight_limit_bound_operations() -> None:
    from fabric_resources import engine

    assert engine.engine_env("dev", base={})["PULUMI_PARALLEL"] == "64"
    # A parallelism chosen by the user is theirs.
    assert "PULUMI_PARALLEL" not in engine.engine_env("dev", base={"PULUMI_PARALLEL": "3"})
