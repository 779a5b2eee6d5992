"""Requests per second of the emulator on loopback for item create / get / list (not a test).

Starts a fresh emulator in a temporary data directory, drives it over HTTPS with keep-alive
connections (one client thread, then several), prints the figures and stops the emulator.

    .venv/bin/python benchmarks/emulator_bench.py [--requests 300] [--threads 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# The test suite's launcher: waits for this process's emulator.json, stops it with SIGTERM.
from tests.conftest import EmulatorProcess  # noqa: E402


def measure(label: str, count: int, threads: int, action: Callable[[requests.Session, int], None],
            new_session: Callable[[], requests.Session]) -> None:
    sessions = [new_session() for _ in range(threads)]
    per_thread = count // threads
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for n in range(per_thread):
                action(sessions[index], index * per_thread + n)
        except BaseException as exc:  # reported below; a benchmark must not hide failures
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{label}: {errors[0]!r}")
    total = per_thread * threads
    print(f"{label:<34} {total:>5} requests  {elapsed:6.2f}s  {total / elapsed:8.1f} req/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fabric-emulator-bench-") as tmp:
        emulator = EmulatorProcess(Path(tmp)).start()
        try:
            token = emulator.token()
            api = emulator.api_url
            setup = emulator.session(token)

            def new_session() -> requests.Session:
                return emulator.session(token)

            ws = setup.post(f"{api}/workspaces", json={"displayName": "bench"}, timeout=30).json()["id"]
            items: list[str] = []
            lock = threading.Lock()

            def create(session: requests.Session, n: int, prefix: str = "a") -> None:
                resp = session.post(f"{api}/workspaces/{ws}/dataPipelines", json={"displayName": f"{prefix}{n}"})
                resp.raise_for_status()
                with lock:
                    items.append(resp.json()["id"])

            def get(session: requests.Session, n: int) -> None:
                session.get(f"{api}/workspaces/{ws}/items/{items[n % len(items)]}").raise_for_status()

            def list_items(session: requests.Session, n: int) -> None:
                session.get(f"{api}/workspaces/{ws}/items").raise_for_status()

            print(f"emulator {api}  ({args.requests} requests per figure)")
            measure("create item (1 thread)", args.requests, 1, create, new_session)
            measure("get item (1 thread)", args.requests, 1, get, new_session)
            measure(f"list items, {len(items)} in workspace (1 thread)", args.requests, 1, list_items,
                    new_session)
            measure(f"create item ({args.threads} threads)", args.requests, args.threads,
                    lambda s, n: create(s, n, "b"), new_session)
            measure(f"get item ({args.threads} threads)", args.requests, args.threads, get, new_session)
            measure(f"list items ({args.threads} threads)", args.requests, args.threads, list_items,
                    new_session)
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
