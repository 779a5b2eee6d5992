"""100 item creations against a throttling emulator: shared throttle gate vs per-thread handling.

Starts a private emulator on a temporary directory, turns throttling on (``--limit`` requests
per principal per ``--window`` seconds, ``Retry-After: --retry-after``) and creates ``--items``
data pipelines from ``--threads`` worker threads, once with the client's shared throttle gate and
once without it (each thread then sleeps its own Retry-After while the others keep sending).
Prints the HTTP calls the emulator saw, the 429s, and the wall time side by side.

    .venv/bin/python benchmarks/throttle_bench.py [--items 100 --threads 8] [--limit 20 --window 1 --retry-after 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fabric_resources.client import FabricClient  # noqa: E402
from fabric_resources.settings import FabricSettings  # noqa: E402
from tests.conftest import EmulatorProcess  # noqa: E402  the test suite's emulator launcher


def set_config(emulator: EmulatorProcess, **changes: Any) -> None:
    emulator.admin("PUT", "/config", json=changes).raise_for_status()


def run(emulator: EmulatorProcess, *, gate: bool, items: int, threads: int, limit: int,
        window: float) -> dict[str, float]:
    settings = FabricSettings.from_emulator(emulator.data_dir)
    with FabricClient(settings, shared_throttle_gate=gate, max_attempts=50, call_deadline=600) as client:
        # Workspace and token outside the measurement, with throttling momentarily off.
        set_config(emulator, throttle_limit=0)
        ws = client.workspaces.create(f"bench-{'gate' if gate else 'nogate'}-{uuid.uuid4().hex[:8]}")
        set_config(emulator, throttle_limit=limit)
        time.sleep(window * 1.1)  # start from a fresh throttle window
        emulator.reset_stats()
        client.transport.attempts = 0
        start = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            made = list(pool.map(
                lambda i: client.items.create(ws.id, display_name=f"p{i:03d}", type="DataPipeline").id,
                range(items)))
        wall = time.monotonic() - start
        stats = emulator.stats()
        assert len(set(made)) == items
        sent = client.transport.attempts
    return {"calls": float(stats["total"]), "throttled": float(sent - items), "wall": wall}


def scenario(emulator: EmulatorProcess, *, items: int, threads: int, limit: int, window: float,
             retry_after: int) -> None:
    set_config(emulator, throttle_window_seconds=window, throttle_retry_after=retry_after)
    with_gate = run(emulator, gate=True, items=items, threads=threads, limit=limit, window=window)
    without = run(emulator, gate=False, items=items, threads=threads, limit=limit, window=window)
    print(f"\n{items} item creations, {threads} threads; emulator throttle: {limit} requests per {window:g}s "
          f"window per principal, Retry-After {retry_after}s")
    print(f"{'':24}{'shared gate':>14}{'no gate':>14}{'no gate / gate':>16}")
    for key, label, fmt in [("calls", "HTTP calls (emulator)", "{:.0f}"), ("throttled", "429 answers", "{:.0f}"),
                            ("wall", "wall time (s)", "{:.2f}")]:
        a, b = with_gate[key], without[key]
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"{label:24}{fmt.format(a):>14}{fmt.format(b):>14}{ratio:>16}")


def main(args: argparse.Namespace) -> None:
    # Two service behaviours: the throttle lifts when Retry-After says, or (as a per-window
    # limiter does) later than that, so clients that come back at Retry-After are refused again.
    scenarios = [(args.limit, args.window, args.retry_after)] if args.window else [(20, 1.0, 1), (30, 3.0, 1)]
    with tempfile.TemporaryDirectory(prefix="throttle-bench-") as tmp:
        emulator = EmulatorProcess(Path(tmp)).start()
        try:
            for limit, window, retry_after in scenarios:
                scenario(emulator, items=args.items, threads=args.threads, limit=limit, window=window,
                         retry_after=retry_after)
        finally:
            emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--limit", type=int, default=20, help="requests per principal per window")
    parser.add_argument("--window", type=float, default=0.0, help="window seconds (default: two scenarios)")
    parser.add_argument("--retry-after", type=int, default=1)
    main(parser.parse_args())
