"""The benchmark's Pulumi programs, shared by both drivers of benchmarks/pulumi_bench.py: the inline
program (Automation API) calls these functions, and the CLI project's ``__main__.py`` imports this
module (the repository is on its PYTHONPATH) and calls them with its stack config."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


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
