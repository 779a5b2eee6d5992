"""Variable library rules of the emulator: what a definition must hold and which value set may be active.

The parsing and validation live in ``fabric_resources.models.variable_libraries`` (pure data helpers),
so the provider refuses at preview exactly what the emulator refuses here.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from fabric_resources.models.variable_libraries import (
    DEFAULT_VALUE_SET,
    SETTINGS_PART,
    SETTINGS_SCHEMA,
    VARIABLES_PART,
    VARIABLES_SCHEMA,
    VariableLibraryContent,
    VariableLibraryDefinitionError,
)

from .http import ApiError
from .payloads import decode_payload

__all__ = [
    "DEFAULT_VALUE_SET",
    "VARIABLE_LIBRARY",
    "check_active_value_set",
    "default_variable_library_definition",
    "library_content",
    "library_variable_values",
    "validate_variable_library",
]

VARIABLE_LIBRARY = "VariableLibrary"


def validate_variable_library(decoded: dict[str, bytes]) -> VariableLibraryContent:
    """The parsed definition, or 400: CorruptedPayload for unreadable JSON, InvalidDefinition otherwise."""
    try:
        return VariableLibraryContent.from_files(decoded)
    except VariableLibraryDefinitionError as exc:
        code = "CorruptedPayload" if "not valid JSON" in str(exc) or "must be a JSON object" in str(exc) \
            else "InvalidDefinition"
        raise ApiError(400, code, f"Invalid variable library definition: {exc}") from None


def library_content(files: dict[str, bytes]) -> VariableLibraryContent:
    """The stored definition parsed (an item made without a definition has no variables)."""
    if VARIABLES_PART not in files:
        return VariableLibraryContent([], {}, [])
    return VariableLibraryContent.from_files(files)


def check_active_value_set(files: dict[str, bytes], name: str) -> None:
    """400 InvalidRequest unless ``name`` is a value set of the stored definition (or the default)."""
    content = library_content(files)
    if not content.has_value_set(name):
        raise ApiError(400, "InvalidRequest",
                       f"The value set '{name}' does not exist in the variable library "
                       f"(value sets: {', '.join(content.value_set_names())}).")


def default_variable_library_definition() -> dict[str, bytes]:
    """What getDefinition returns for a library created without a definition."""
    return {
        VARIABLES_PART: json.dumps({"$schema": VARIABLES_SCHEMA, "variables": []}, indent=2).encode(),
        SETTINGS_PART: json.dumps({"$schema": SETTINGS_SCHEMA, "valueSetsOrder": []}, indent=2).encode(),
    }


def definition_keeps_active_set(item: dict[str, Any], content: VariableLibraryContent) -> None:
    """A new definition may not drop the active value set (Fabric asks to switch the active set first)."""
    active = item.get("activeValueSetName") or DEFAULT_VALUE_SET
    if not content.has_value_set(active):
        raise ApiError(400, "InvalidDefinition",
                       f"The definition removes the active value set '{active}'; make another value set "
                       "active first (PATCH properties.activeValueSetName).")


def library_variable_values(conn: sqlite3.Connection, workspace_id: str, declared: Any) -> dict[str, Any]:
    """Values of a pipeline's ``properties.libraryVariables`` for a run: each alias's variable from the
    named library of the pipeline's workspace, in the library's active value set at run start.

    ``declared`` is ``{alias: {"type", "variableName", "libraryName"}}``. Raises ValueError naming the
    alias and what is missing (an unknown library or variable fails the run, as in the service).
    """
    if not isinstance(declared, dict):
        return {}
    values: dict[str, Any] = {}
    libraries: dict[str, tuple[VariableLibraryContent, str]] = {}
    for alias, spec in declared.items():
        if not isinstance(spec, dict):
            raise ValueError(f"libraryVariables.{alias} must be an object with libraryName and variableName")
        library_name, variable_name = spec.get("libraryName"), spec.get("variableName")
        if not isinstance(library_name, str) or not isinstance(variable_name, str):
            raise ValueError(f"libraryVariables.{alias} needs 'libraryName' and 'variableName'")
        key = library_name.lower()
        if key not in libraries:
            row = conn.execute("SELECT id, data FROM items WHERE workspace_id = ? AND type = ? AND name_key = ?",
                               (workspace_id, VARIABLE_LIBRARY, key)).fetchone()
            if row is None:
                raise ValueError(f"libraryVariables.{alias}: the workspace has no variable library "
                                 f"named '{library_name}'")
            definition = conn.execute("SELECT data FROM definitions WHERE item_id = ?", (row["id"],)).fetchone()
            parts = (json.loads(definition["data"]) if definition is not None else {}).get("parts") or []
            files = {p["path"]: decode_payload(p["payload"]) for p in parts if p.get("path") != ".platform"}
            item = json.loads(row["data"])
            libraries[key] = (library_content(files), item.get("activeValueSetName") or DEFAULT_VALUE_SET)
        content, active = libraries[key]
        if content.variable(variable_name) is None:
            raise ValueError(f"libraryVariables.{alias}: variable library '{library_name}' has no variable "
                             f"'{variable_name}'")
        values[alias] = content.value_of(variable_name, active)
    return values
