"""Requests per second of the emulator on loopback for item create / get / list (not a test).

Starts a fresh emulator in a temporary data directory, drives it over HTTPS with keep-alive
connections (one client thread, then several), prints the figures and stops the emulator.

    .venv/bin/python benchmarks/emulator_bench.py [--requests 300] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


def start_emulator(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fabric_resources.emulator", "serve", "--data-dir", str(data_dir), "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    info_path = data_dir / "emulator.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"emulator exited with code {proc.returncode}")
        try:
            info = json.loads(info_path.read_text())
            if info.get("pid") in (None, proc.pid):
                return proc, info
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("emulator did not start within 60s")


def make_session(info: dict[str, Any], token: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the environment's CA bundle would override ours
    session.verify = info["ca_cert"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session


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
        proc, info = start_emulator(Path(tmp))
        try:
            admin = requests.Session()
            admin.trust_env = False
            admin.verify = info["ca_cert"]
            sp = next(p for p in info["principals"] if p["kind"] == "ServicePrincipal")
            token = admin.post(f"{info['admin_url']}/token", json={"client_id": sp["client_id"]}, timeout=30).json()[
                "access_token"]
            api = info["api_url"]
            setup = make_session(info, token)
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
            measure("create item (1 thread)", args.requests, 1, create, lambda: make_session(info, token))
            measure("get item (1 thread)", args.requests, 1, get, lambda: make_session(info, token))
            measure(f"list items, {len(items)} in workspace (1 thread)", args.requests, 1, list_items,
                    lambda: make_session(info, token))
            measure(f"create item ({args.threads} threads)", args.requests, args.threads,
                    lambda s, n: create(s, n, "b"), lambda: make_session(info, token))
            measure(f"get item ({args.threads} threads)", args.requests, args.threads, get,
                    lambda: make_session(info, token))
            measure(f"list items ({args.threads} threads)", args.requests, args.threads, list_items,
                    lambda: make_session(info, token))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
