"""``fabric-resources deploy``: up / preview / refresh / destroy a stack with the real ``pulumi`` CLI.

Runs the plain CLI in the project folder, as a user would (``pulumi up --stack NAME``), so the engine
starts the Python language host and the program's own virtualenv. Stacks keep their own backend and
secrets (see fabric_resources.engine): only ``local`` gets the project's file backend and the fixed
passphrase, and only ``local`` is created when missing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ACTIONS = {
    "up": ["up", "--yes"],
    "preview": ["preview"],
    "refresh": ["refresh", "--yes"],
    "destroy": ["destroy", "--yes"],
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="run pulumi up/preview/refresh/destroy for a stack (stacks/Pulumi.<stack>.yaml)",
        description="Deploy the program in __main__.py to a stack with the real Pulumi CLI.",
    )
    parser.add_argument("action", choices=sorted(ACTIONS), nargs="?", default="up")
    parser.add_argument("--stack", default="local", help="stack name (default: local, the emulator)")
    parser.add_argument("--project-dir", type=Path, default=None, help="folder holding Pulumi.yaml")
    parser.add_argument(
        "--expect-no-changes", action="store_true", help="fail if the operation would change anything"
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fabric_resources import engine

    project_dir = (args.project_dir or engine.PROJECT_ROOT).resolve()
    if not (project_dir / "Pulumi.yaml").exists():
        print(f"error: no Pulumi.yaml in {project_dir}", file=sys.stderr)
        return 2
    try:
        pulumi = str(engine.require_cli())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = engine.cli_environment(args.stack)

    def call(argv: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
        if not capture:
            print(f"+ pulumi {shlex.join(argv)}", flush=True)
        return subprocess.run([pulumi, *argv], cwd=project_dir, env=env, text=True,
                              capture_output=capture, check=False)

    # The local stack is created on first use (its stack file already holds the passphrase's salt);
    # any other stack must exist in the backend the user logged in to.
    select = ["stack", "select", args.stack, "--non-interactive"]
    if engine.is_local(args.stack):
        select[3:3] = ["--create", "--secrets-provider", "passphrase"]
    selected = call(select, capture=True)
    if selected.returncode != 0:
        print(f"error: cannot select stack {args.stack!r}: {_last_line(selected.stderr + selected.stdout)}",
              file=sys.stderr)
        return 2

    argv = [*ACTIONS[args.action], "--stack", args.stack]
    if args.expect_no_changes:
        argv.append("--expect-no-changes")
    done = call(argv)
    if done.returncode != 0:
        # The CLI already printed its diagnostics; keep the last word short.
        print(f"error: pulumi {args.action} failed for stack {args.stack!r}", file=sys.stderr)
        return 1

    # The CLI already printed the outputs; JSON mode adds a machine-readable copy for scripts.
    if args.output == "json" and args.action in ("up", "refresh"):
        outputs = call(["stack", "output", "--json", "--stack", args.stack], capture=True)
        if outputs.returncode != 0:
            print(f"error: {_last_line(outputs.stderr)}", file=sys.stderr)
            return 1
        print(json.dumps(json.loads(outputs.stdout or "{}"), indent=2, sort_keys=True))
    return 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "see the output above"
