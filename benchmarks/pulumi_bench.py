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
              dynamic provider; ``--preview-repeats`` pairs, alternating, medians reported;
* throttled   the same deploy into a second workspace while the emulator throttles the caller to
              ``--throttle-limit`` requests per ``--throttle-window`` seconds (Retry-After: the time
              left in the window); floor: 3 calls per pipeline at that rate. Shows the share of 429s.

By default the program runs as a user runs it: a project folder driven by the real ``pulumi`` CLI in
.tools with this project's language host (``--driver automation``: an Automation API inline program
instead; the same engine and provider process). ``up`` and ``refresh`` skip their preview, so the
figures are the operations themselves; ``--parallel`` (default 64) is passed to the engine, whose
own default is four per CPU.

    .venv/bin/python benchmarks/pulumi_bench.py                        # N=200, every phase (minutes)
    .venv/bin/python benchmarks/pulumi_bench.py -n 40 --phases deploy,refresh
    .venv/bin/python benchmarks/pulumi_bench.py --max-in-flight 16     # sets fabric:maxInFlight
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
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

from benchmarks.programs import pipelines_program, trivial_program  # noqa: E402
from fabric_resources import engine  # noqa: E402
from fabric_resources.client import FabricClient  # noqa: E402
from fabric_resources.settings import FabricSettings  # noqa: E402
from tests.conftest import EmulatorProcess  # noqa: E402  the test suite's emulator launcher

PHASES = ("deploy", "refresh", "preview", "throttled")
#: Operations in flight that the issue's floor assumes (Terraform's default parallelism).
FLOOR_IN_FLIGHT = 10
#: Calls a pipeline create needs at best with a long-running create: POST, one poll, the result.
MIN_CALLS_PER_CREATE = 3


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


PASSPHRASE = "benchmark-only"
CLI_PROGRAM = """\
import sys

import pulumi

sys.path.insert(0, {repo!r})
from benchmarks.programs import pipelines_program, trivial_program

config = pulumi.Config("bench")
count = config.require_int("count")
if config.require("kind") == "trivial":
    trivial_program(count)()
else:
    pipelines_program(config.require("workspaceId"), count)()
"""


class BenchStack:
    """One stack of the benchmark: ``up``, ``refresh`` and a no-op ``preview``, each checked."""

    def up(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        raise NotImplementedError

    def preview_no_op(self) -> None:
        raise NotImplementedError


class InlineStack(BenchStack):
    """The program as an Automation API inline program (the engine talks to this process)."""

    def __init__(self, stack: auto.Stack, count: int, opts: dict[str, Any]) -> None:
        self.stack, self.count, self.opts = stack, count, opts

    def up(self) -> None:
        result = self.stack.up(**self.opts)
        created = {str(k): v for k, v in (result.summary.resource_changes or {}).items()}.get("create", 0)
        if created != self.count + 1:  # the resources and the stack itself
            raise SystemExit(f"deploy created {created} resources, expected {self.count + 1}")

    def refresh(self) -> None:
        result = self.stack.refresh(**self.opts)
        changed = {str(k): v for k, v in (result.summary.resource_changes or {}).items() if str(k) != "same"}
        if changed:
            raise SystemExit(f"refresh of an untouched deployment reported changes: {changed}")

    def preview_no_op(self) -> None:
        result = self.stack.preview(**self.opts)
        summary = {str(k): v for k, v in result.change_summary.items()}
        if summary.get("same", 0) != self.count + 1 or any(v for k, v in summary.items() if k != "same"):
            raise SystemExit(f"preview of an unchanged program was not a no-op: {result.change_summary}")


class CliStack(BenchStack):
    """A project folder run by the real ``pulumi`` CLI and this project's language host, as a user
    runs it (``pulumi up --yes --skip-preview``, ``pulumi refresh --yes --skip-preview``,
    ``pulumi preview --expect-no-changes``)."""

    def __init__(self, work_dir: Path, name: str, kind: str, count: int, workspace_id: str,
                 plain: dict[str, str], secret: dict[str, str], bench: Bench) -> None:
        self.dir, self.name, self.count = work_dir, name, count
        (work_dir / "Pulumi.yaml").write_text(
            f"name: bench-{name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
            f"    virtualenv: {REPO / '.venv'}\n")
        (work_dir / "__main__.py").write_text(CLI_PROGRAM.format(repo=str(REPO)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "FABRIC_", "AZURE_"))}
        env.update(engine.engine_env(name, backend_dir=bench.tmp / "state", passphrase=PASSPHRASE,
                                     pulumi_home=bench.pulumi_home))
        env["PATH"] = os.pathsep.join([str(engine.TOOLS_DIR / "bin"), str(REPO / ".venv" / "bin"), env["PATH"]])
        env["PYTHONPATH"] = str(REPO)  # the provider process imports benchmarks.trivial_provider
        self.env = env
        self.parallel = ["--parallel", str(bench.args.parallel)] if bench.args.parallel else []
        self.run("stack", "init", "--secrets-provider", "passphrase", name)
        config = {**plain, "bench:count": str(count), "bench:kind": kind, "bench:workspaceId": workspace_id}
        args = [f"--plaintext={k}={v}" for k, v in config.items()] + [f"--secret={k}={v}" for k, v in secret.items()]
        self.run("config", "set-all", *args, "--stack", name)

    def run(self, *args: str) -> str:
        done = subprocess.run([str(engine.PULUMI), *args, "--non-interactive"], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def resources(self) -> int:
        state = json.loads(self.run("stack", "export", "--stack", self.name))
        return len([r for r in state["deployment"].get("resources", [])
                    if not str(r["type"]).startswith("pulumi:providers:")])

    def up(self) -> None:
        self.run("up", "--yes", "--skip-preview", *self.parallel, "--stack", self.name)
        if self.resources() != self.count + 1:
            raise SystemExit(f"deploy left {self.resources()} resources, expected {self.count + 1}")

    def refresh(self) -> None:
        self.run("refresh", "--yes", "--skip-preview", "--expect-no-changes", *self.parallel, "--stack", self.name)

    def preview_no_op(self) -> None:
        self.run("preview", "--expect-no-changes", *self.parallel, "--stack", self.name)


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

    def fabric_config(self) -> tuple[dict[str, str], dict[str, str]]:
        """Plain and secret stack config pointing at the emulator (and the in-flight limit, if given)."""
        sp = self.emulator.default_sp
        plain = {
            "fabric:apiUrl": self.emulator.api_url,
            "fabric:authority": self.emulator.authority,
            "fabric:tenantId": self.emulator.tenant_id,
            "fabric:clientId": sp["client_id"],
            "fabric:caCert": str(self.emulator.ca_cert),
        }
        if self.args.max_in_flight:
            plain["fabric:maxInFlight"] = str(self.args.max_in_flight)
        return plain, {"fabric:clientSecret": sp["client_secret"]}

    def stack(self, name: str, kind: str, count: int, workspace_id: str = "") -> BenchStack:
        work_dir = self.tmp / name
        work_dir.mkdir()
        plain, secret = self.fabric_config()
        if self.args.driver == "cli":
            return CliStack(work_dir, name, kind, count, workspace_id, plain, secret, self)
        program = pipelines_program(workspace_id, count) if kind == "pipelines" else trivial_program(count)
        stack = engine.select_stack(
            name, program=program, work_dir=work_dir,
            project_settings=auto.ProjectSettings(name=f"bench-{name}", runtime="python"),
            backend_dir=self.tmp / "state", passphrase=PASSPHRASE, pulumi_home=self.pulumi_home,
            extra_env={"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        )
        values = {k: auto.ConfigValue(v) for k, v in plain.items()}
        values.update({k: auto.ConfigValue(v, secret=True) for k, v in secret.items()})
        stack.set_all_config(values)
        return InlineStack(stack, count, self.engine_opts())

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
        stack: BenchStack | None = None
        if phases & {"deploy", "refresh", "preview"}:
            ws = self.workspace()
            stack = self.stack("pipelines", "pipelines", n, ws)
            seconds, stats, _ = self.measure(stack.up)
            if "deploy" in phases:
                self.record("deploy", seconds, lro_floor, floor_label, stats, n)
        if "refresh" in phases and stack is not None:
            seconds, stats, _ = self.measure(stack.refresh)
            self.record("refresh", seconds, lro_floor, floor_label, stats, n)
        if "preview" in phases and stack is not None:
            trivial = self.stack("trivial", "trivial", n)
            trivial.up()
            # Side by side, alternating, so that a slow moment of a shared machine hits both; the
            # figure is the median of each, the spread shown beside it.
            floors: list[float] = []
            times: list[float] = []
            for _ in range(args.preview_repeats):
                floors.append(self.measure(trivial.preview_no_op)[0])
                seconds, stats, _ = self.measure(stack.preview_no_op)
                times.append(seconds)
                print(f"  preview pair {len(times)}: {seconds:.2f}s, trivial {floors[-1]:.2f}s "
                      f"({seconds / floors[-1]:.2f}x)", flush=True)
            ratios = sorted(t / f for t, f in zip(times, floors, strict=True))
            self.record("preview", statistics.median(times), statistics.median(floors),
                        f"trivial provider (median of {len(times)}; ratio per pair {ratios[0]:.2f}-{ratios[-1]:.2f}x)",
                        stats, n)
        if "throttled" in phases:
            ws = self.workspace()
            throttled_stack = self.stack("throttled", "pipelines", n, ws)
            self.set_emulator(throttle_limit=args.throttle_limit, throttle_window_seconds=args.throttle_window,
                              throttle_retry_after_window=True)
            try:
                seconds, stats, _ = self.measure(throttled_stack.up)
            finally:
                self.set_emulator(throttle_limit=0)
            rate = args.throttle_limit / args.throttle_window
            self.record("throttled", seconds, MIN_CALLS_PER_CREATE * n / rate,
                        f"{MIN_CALLS_PER_CREATE}N calls at {rate:g}/s", stats, n)

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
              f"operation, +{a.latency_ms} ms per call; driver {a.driver}; engine --parallel {a.parallel or 'default'}; "
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
    parser.add_argument("--preview-repeats", type=int, default=5,
                        help="no-op previews of each stack, alternating (the figures are the medians)")
    parser.add_argument("--driver", choices=("cli", "automation"), default="cli",
                        help="the real `pulumi` CLI in a project folder (default), or an Automation API inline program")
    args = parser.parse_args()
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.preview_repeats < 1:
        parser.error("--preview-repeats must be at least 1")
    # The bytecode of this checkout, written once: where PYTHONDONTWRITEBYTECODE is set, every
    # process of every command (host, program, provider) would otherwise compile it again.
    compileall.compile_dir(REPO / "fabric_resources", quiet=1)
    compileall.compile_dir(REPO / "benchmarks", quiet=1)
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
