"""Deploy, refresh, no-op preview and throttled deploy of N pipelines through the real Pulumi engine.

Not a test: it prints figures, each next to its physical floor, from one run against a private
emulator (started here on a temporary directory, stopped at the end) that answers every create and
getDefinition with a long-running operation (``lro_mode: always``, ``--lro-seconds`` each) and adds
``--latency-ms`` to every call:

* deploy      ``up`` of N data pipelines into one workspace; floor N x lro / 10 (ten operations in
              flight, Terraform's default parallelism);
* refresh     ``refresh`` of those N; same floor (every definition is a long-running read);
* preview     no-op ``preview`` of the N deployed pipelines, next to a no-op preview of N resources
              of a trivial dynamic provider (benchmarks/trivial_provider.py), the floor of any
              dynamic provider;
* throttled   the same deploy into a second workspace while the emulator throttles the caller to
              ``--throttle-limit`` requests per ``--throttle-window`` seconds (Retry-After: the time
              left in the window); floor: 3 calls per pipeline at that rate. Shows the share of 429s.

The program runs as an Automation API inline program through the project's CLI in .tools (the
same engine and provider process as ``pulumi up``; see fabric_resources/engine.py).

    .venv/bin/python benchmarks/pulumi_bench.py                        # N=200, every phase (minutes)
    .venv/bin/python benchmarks/pulumi_bench.py -n 40 --phases deploy,refresh
    .venv/bin/python benchmarks/pulumi_bench.py --max-in-flight 16     # sets fabric:maxInFlight
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pulumi import automation as auto  # noqa: E402

from fabric_resources import engine  # noqa: E402
from fabric_resources.client import FabricClient  # noqa: E402
from fabric_resources.settings import FabricSettings  # noqa: E402
from tests.conftest import EmulatorProcess  # noqa: E402  the test suite's emulator launcher

PHASES = ("deploy", "refresh", "preview", "throttled")
#: Operations in flight that the issue's floor assumes (Terraform's default parallelism).
FLOOR_IN_FLIGHT = 10
#: Calls a pipeline create needs at best with a long-running create: POST, one poll, the result.
MIN_CALLS_PER_CREATE = 3


def pipeline_content(index: int) -> dict[str, Any]:
    """A small but real pipeline: one Wait activity, a parameter, distinct per pipeline."""
    return {
        "properties": {
            "description": f"benchmark pipeline {index}",
            "parameters": {"batch": {"type": "int", "defaultValue": index}},
            "activities": [
                {"name": "Pause", "type": "Wait", "dependsOn": [], "typeProperties": {"waitTimeInSeconds": 1}},
            ],
        }
    }


def pipelines_program(workspace_id: str, count: int) -> Callable[[], None]:
    def program() -> None:
        from fabric_resources import DataPipeline

        for i in range(count):
            DataPipeline(f"p{i:04d}", workspace_id=workspace_id, display_name=f"bench {i:04d}",
                         definition=pipeline_content(i))

    return program


def trivial_program(count: int) -> Callable[[], None]:
    def program() -> None:
        from benchmarks.trivial_provider import TrivialResource

        for i in range(count):
            TrivialResource(f"t{i:04d}", name=f"bench {i:04d}", content=json.dumps(pipeline_content(i)))

    return program


@dataclass
class Figure:
    phase: str
    seconds: float
    floor: float
    floor_label: str
    calls: int | None = None
    per_item: float | None = None
    peak: int | None = None
    throttled: int | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.emulator = EmulatorProcess(tmp / "emulator").start()
        self.client = FabricClient(FabricSettings.from_emulator(self.emulator.data_dir))
        self.pulumi_home = tmp / "pulumi-home"
        self.pulumi_home.mkdir()
        self.figures: list[Figure] = []

    def close(self) -> None:
        self.client.close()
        self.emulator.stop()

    def set_emulator(self, **config: Any) -> None:
        self.emulator.admin("PUT", "/config", json=config).raise_for_status()

    def stack(self, name: str, program: Callable[[], None]) -> auto.Stack:
        work_dir = self.tmp / name
        work_dir.mkdir()
        stack = engine.select_stack(
            name, program=program, work_dir=work_dir,
            project_settings=auto.ProjectSettings(name=f"bench-{name}", runtime="python"),
            backend_dir=self.tmp / "state", passphrase="benchmark-only", pulumi_home=self.pulumi_home,
            extra_env={"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        )
        sp = self.emulator.default_sp
        values = {
            "fabric:apiUrl": auto.ConfigValue(self.emulator.api_url),
            "fabric:authority": auto.ConfigValue(self.emulator.authority),
            "fabric:tenantId": auto.ConfigValue(self.emulator.tenant_id),
            "fabric:clientId": auto.ConfigValue(sp["client_id"]),
            "fabric:caCert": auto.ConfigValue(str(self.emulator.ca_cert)),
            "fabric:clientSecret": auto.ConfigValue(sp["client_secret"], secret=True),
        }
        if self.args.max_in_flight:
            values["fabric:maxInFlight"] = auto.ConfigValue(str(self.args.max_in_flight))
        stack.set_all_config(values)
        return stack

    def workspace(self) -> str:
        self.set_emulator(throttle_limit=0)
        return self.client.workspaces.create(f"bench-{uuid.uuid4().hex[:8]}").id

    def measure(self, action: Callable[[], Any]) -> tuple[float, dict[str, Any], Any]:
        self.emulator.reset_stats()
        start = time.monotonic()
        result = action()
        seconds = time.monotonic() - start
        return seconds, self.emulator.stats(), result

    def engine_opts(self) -> dict[str, Any]:
        return {"parallel": self.args.parallel} if self.args.parallel else {}

    # -- phases ---------------------------------------------------------------------------------
    def run(self) -> None:
        args = self.args
        n = args.pipelines
        lro_floor = n * args.lro_seconds / FLOOR_IN_FLIGHT
        floor_label = f"N x {args.lro_seconds:g}s / {FLOOR_IN_FLIGHT}"
        self.set_emulator(lro_mode="always", lro_duration_seconds=args.lro_seconds, latency_ms=args.latency_ms)
        phases = set(args.phases)
        stack: auto.Stack | None = None
        if phases & {"deploy", "refresh", "preview"}:
            ws = self.workspace()
            stack = self.stack("pipelines", pipelines_program(ws, n))
            seconds, stats, result = self.measure(lambda: stack.up(**self.engine_opts()))
            created = {str(k): v for k, v in (result.summary.resource_changes or {}).items()}.get("create", 0)
            if created != n + 1:  # the pipelines and the stack itself
                raise SystemExit(f"deploy created {created} resources, expected {n + 1}")
            if "deploy" in phases:
                self.record("deploy", seconds, lro_floor, floor_label, stats, n)
        if "refresh" in phases and stack is not None:
            seconds, stats, result = self.measure(lambda: stack.refresh(**self.engine_opts()))
            changed = {str(k): v for k, v in (result.summary.resource_changes or {}).items() if str(k) != "same"}
            if changed:
                raise SystemExit(f"refresh of an untouched deployment reported changes: {changed}")
            self.record("refresh", seconds, lro_floor, floor_label, stats, n)
        if "preview" in phases and stack is not None:
            trivial = self.stack("trivial", trivial_program(n))
            trivial.up(**self.engine_opts())
            floor, _stats, _ = self.measure(lambda: self.preview_no_op(trivial, n))
            seconds, stats, _ = self.measure(lambda: self.preview_no_op(stack, n))
            self.record("preview", seconds, floor, "trivial provider", stats, n)
        if "throttled" in phases:
            ws = self.workspace()
            throttled_stack = self.stack("throttled", pipelines_program(ws, n))
            self.set_emulator(throttle_limit=args.throttle_limit, throttle_window_seconds=args.throttle_window,
                              throttle_retry_after_window=True)
            try:
                seconds, stats, _ = self.measure(lambda: throttled_stack.up(**self.engine_opts()))
            finally:
                self.set_emulator(throttle_limit=0)
            rate = args.throttle_limit / args.throttle_window
            self.record("throttled", seconds, MIN_CALLS_PER_CREATE * n / rate,
                        f"{MIN_CALLS_PER_CREATE}N calls at {rate:g}/s", stats, n)

    def preview_no_op(self, stack: auto.Stack, n: int) -> None:
        result = stack.preview(**self.engine_opts())
        summary = {str(k): v for k, v in result.change_summary.items()}
        if summary.get("same", 0) != n + 1 or any(v for k, v in summary.items() if k != "same"):
            raise SystemExit(f"preview of an unchanged program was not a no-op: {result.change_summary}")

    def record(self, phase: str, seconds: float, floor: float, floor_label: str, stats: dict[str, Any],
               n: int) -> None:
        calls = int(stats["total"])
        figure = Figure(phase, seconds, floor, floor_label, calls, calls / n, int(stats.get("peak_concurrent", 0)),
                        int(stats.get("throttled", 0)))
        self.figures.append(figure)
        print(f"  {phase}: {seconds:.1f}s, {calls} calls", flush=True)

    def report(self) -> None:
        a = self.args
        print(f"\n{a.pipelines} pipelines; emulator: every create/getDefinition a {a.lro_seconds:g}s long-running "
              f"operation, +{a.latency_ms} ms per call; engine --parallel {a.parallel or 'default'}; "
              f"fabric:maxInFlight {a.max_in_flight or 'default'}")
        print(f"load average before the run: {self.load_before}")
        header = (f"{'phase':<10}{'time':>9}{'floor':>9}{'x floor':>9}{'calls':>8}{'/pipeline':>10}"
                  f"{'peak':>6}{'429s':>7}{'429 %':>7}   floor is")
        print(header)
        print("-" * len(header))
        for f in self.figures:
            ratio = f"{f.seconds / f.floor:.2f}x" if f.floor else "-"
            share = f"{100 * (f.throttled or 0) / f.calls:.1f}" if f.calls else "-"
            print(f"{f.phase:<10}{f.seconds:>8.1f}s{f.floor:>8.1f}s{ratio:>9}{f.calls or 0:>8}"
                  f"{f.per_item or 0:>10.2f}{f.peak or 0:>6}{f.throttled or 0:>7}{share:>7}   {f.floor_label}")
        print("(peak: most calls the emulator served at once; calls include the listing/polling of that phase)")

    load_before = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--pipelines", type=int, default=200)
    parser.add_argument("--phases", type=lambda s: [p for p in s.split(",") if p], default=list(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--lro-seconds", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=64,
                        help="the engine's --parallel (0: the CLI's default, 4 x CPUs)")
    parser.add_argument("--max-in-flight", type=int, default=0, help="fabric:maxInFlight (0: leave unset)")
    parser.add_argument("--throttle-limit", type=int, default=50)
    parser.add_argument("--throttle-window", type=float, default=10.0)
    args = parser.parse_args()
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="pulumi-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        try:
            bench.run()
        finally:
            bench.close()
        bench.report()


if __name__ == "__main__":
    main()
