"""Builders of workspace folders as Fabric's git integration writes them, for tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

SCHEMA = "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/platformProperties/2.0.0/schema.json"
ZERO = "00000000-0000-0000-0000-000000000000"


def platform(name: str, logical_id: str, description: str | None = None, item_type: str = "DataPipeline") -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": item_type, "displayName": name}
    if description is not None:
        metadata["description"] = description
    return {"$schema": SCHEMA, "metadata": metadata, "config": {"version": "2.0", "logicalId": logical_id}}


def write_item(root: Path, name: str, content: dict[str, Any] | str, *, logical_id: str | None = None,
               folder: str = "", description: str | None = None, item_type: str = "DataPipeline") -> str:
    """Write ``<folder>/<name>.<type>/`` with .platform and pipeline-content.json; returns the logicalId."""
    logical_id = logical_id or str(uuid.uuid4())
    directory = root / folder / f"{name}.{item_type}"
    directory.mkdir(parents=True, exist_ok=True)
    # Fabric writes two-space indented JSON; the .platform's $schema comes first.
    (directory / ".platform").write_text(json.dumps(platform(name, logical_id, description, item_type), indent=2))
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    (directory / "pipeline-content.json").write_text(text)
    return logical_id


def wait(name: str, seconds: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "Wait", "dependsOn": [], "typeProperties": {"waitTimeInSeconds": seconds}, **extra}


def execute_pipeline(name: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "ExecutePipeline", "dependsOn": [],
            "typeProperties": {"pipeline": {"referenceName": target, "type": "PipelineReference"},
                               "waitOnCompletion": True, "parameters": {}}, **extra}


def invoke_pipeline(name: str, target: str, workspace: str = ZERO) -> dict[str, Any]:
    return {"name": name, "type": "InvokePipeline", "dependsOn": [],
            "typeProperties": {"pipelineId": target, "workspaceId": workspace, "waitOnCompletion": True,
                               "operationType": "InvokeFabricPipeline", "parameters": {}}}


def copy_from_sql(name: str, connection: str, *, schema: str = "landing") -> dict[str, Any]:
    dataset = {"type": "AzureSqlTable", "typeProperties": {"schema": schema, "table": "orders"},
               "externalReferences": {"connection": connection}}
    return {"name": name, "type": "Copy", "dependsOn": [],
            "typeProperties": {"source": {"type": "AzureSqlSource", "datasetSettings": dataset},
                               "sink": {"type": "AzureSqlSink", "datasetSettings": dataset}},
            "externalReferences": {"connection": connection}}


def pipeline(*activities: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"properties": {"activities": list(activities), **properties}}
