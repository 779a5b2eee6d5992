"""Pulumi.yaml and requirements.txt give the official Python host what it needs (`pulumi install`)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def program_imports() -> set[str]:
    tree = ast.parse((ROOT / "__main__.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "__future__"}


def test_pulumi_yaml_names_pip_and_the_project_virtualenv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


def test_requirements_provide_every_module_the_program_imports() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = requirement_lines()
    by_name = {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower(): r for r in requirements if not r.startswith("-")}
    imports = program_imports()
    assert imports == {"pulumi", "fabric_resources"}, imports
    # fabric_resources: this project itself, installed from the project folder (where the host runs pip).
    assert "-e ." in requirements
    assert pyproject["project"]["name"] == "fabric-resources"
    assert (ROOT / "fabric_resources" / "__init__.py").exists()
    # pulumi: listed explicitly, with the same pin as the package (DECISIONS #2).
    pinned = next(d for d in pyproject["project"]["dependencies"] if d.startswith("pulumi"))
    assert by_name["pulumi"] == pinned
