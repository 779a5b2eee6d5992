"""``fabric-resources deploy``: up / preview / refresh / destroy a stack with the real Pulumi engine.

Runs the project's ``__main__.py`` through the Automation API (see fabric_resources.engine for why),
streaming the engine's own progress output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="run pulumi up/preview/refresh/destroy for a stack (stacks/Pulumi.<stack>.yaml)",
        description="Deploy the program in __main__.py to a stack with the real Pulumi engine.",
    )
    parser.add_argument("action", choices=["up", "preview", "refresh", "destroy"], nargs="?", default="up")
    parser.add_argument("--stack", default="local", help="stack name (default: local, the emulator)")
    parser.add_argument("--project-dir", type=Path, default=None, help="folder holding Pulumi.yaml")
    parser.add_argument(
        "--expect-no-changes", action="store_true", help="fail if the operation would change anything"
    )
    parser.add_argument("--output", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pulumi import automation as auto

    from fabric_resources import engine

    project_dir = (args.project_dir or engine.PROJECT_ROOT).resolve()
    if not (project_dir / "Pulumi.yaml").exists():
        print(f"error: no Pulumi.yaml in {project_dir}", file=sys.stderr)
        return 2
    # The program resolves pipelines/ and stack-relative paths from the project folder, as `pulumi up` does.
    os.chdir(project_dir)
    try:
        stack = engine.select_stack(args.stack, work_dir=project_dir)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def echo(line: str) -> None:
        print(line, flush=True)

    expect = bool(args.expect_no_changes)
    try:
        if args.action == "up":
            stack.up(on_output=echo, expect_no_changes=expect or None)
        elif args.action == "preview":
            stack.preview(on_output=echo, expect_no_changes=expect or None)
        elif args.action == "refresh":
            stack.refresh(on_output=echo, expect_no_changes=expect or None)
        else:
            stack.destroy(on_output=echo)
    except auto.errors.CommandError as exc:
        # The engine already streamed its diagnostics; keep the last word short.
        print(f"error: pulumi {args.action} failed for stack {args.stack!r}: {_last_line(str(exc))}", file=sys.stderr)
        return 1

    # The engine already printed the outputs; JSON mode adds a machine-readable copy for scripts.
    if args.output == "json" and args.action in ("up", "refresh"):
        outputs = {k: v.value for k, v in stack.outputs().items() if not v.secret}
        print(json.dumps(outputs, indent=2, sort_keys=True))
    return 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "see the output above"
