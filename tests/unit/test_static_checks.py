"""The code's static checks, part of the test command: ruff's lint rules over the whole checkout and
mypy over the package, the benchmarks, the tests and the program (both configured in pyproject.toml,
both pinned there). A finding fails the test with the tool's own report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)


def test_ruff_finds_nothing() -> None:
    done = run_tool("ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing() -> None:
    done = run_tool("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout
