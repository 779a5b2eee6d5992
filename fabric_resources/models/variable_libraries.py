"""Variable libraries: the item and its definition (variables.json, settings.json, valueSets/<name>.json).

The definition model is pure data plus its validation, so the provider's `check` (before any call) and
the emulator (on create/updateDefinition) refuse the same definitions with the same words. A value set
holds only overrides of declared variables; the "Default value set" is the variables' own values and
has no file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fabric_resources.models.items import Item

__all__ = [
    "DEFAULT_VALUE_SET",
    "SETTINGS_PART",
    "VALUE_SETS_DIR",
    "VARIABLES_PART",
    "VARIABLE_LIBRARY_FORMAT",
    "VARIABLE_TYPES",
    "LibraryVariable",
    "ValueSet",
    "VariableLibrary",
    "VariableLibraryDefinitionError",
    "VariableLibraryProperties",
    "VariableLibraryContent",
    "VariableOverride",
]

DEFAULT_VALUE_SET = "Default value set"
VARIABLES_PART = "variables.json"
SETTINGS_PART = "settings.json"
VALUE_SETS_DIR = "valueSets/"
VARIABLE_LIBRARY_FORMAT = "VariableLibraryV1"
_SCHEMA_BASE = "https://developer.microsoft.com/json-schemas/fabric/item/variableLibrary/definition"
VARIABLES_SCHEMA = f"{_SCHEMA_BASE}/variables/1.0.0/schema.json"
VALUE_SET_SCHEMA = f"{_SCHEMA_BASE}/valueSet/1.0.0/schema.json"
SETTINGS_SCHEMA = f"{_SCHEMA_BASE}/settings/1.0.0/schema.json"

#: Supported variable types (Fabric's names; the service accepts them in any letter case).
VARIABLE_TYPES = ("Boolean", "DateTime", "Guid", "Integer", "Number", "String", "ItemReference")
_TYPE_BY_KEY = {t.lower(): t for t in VARIABLE_TYPES}
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class VariableLibraryDefinitionError(ValueError):
    """A definition Fabric would refuse; ``field`` names the file and place (``valueSets/prod.json: ...``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class VariableLibraryProperties(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    active_value_set_name: str | None = Field(default=None, alias="activeValueSetName")


class VariableLibrary(Item):
    """The item as the ``variableLibraries`` endpoints return it (with ``properties``)."""

    properties: VariableLibraryProperties | None = None

    @property
    def active_value_set_name(self) -> str | None:
        return self.properties.active_value_set_name if self.properties else None


class LibraryVariable(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    value: Any = None
    note: str | None = None


class VariableOverride(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    value: Any = None


class ValueSet(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    name: str
    description: str | None = None
    variable_overrides: list[VariableOverride] = Field(default_factory=list, alias="variableOverrides")


def canonical_type(type_name: str) -> str | None:
    """Fabric's spelling of a variable type, or None when it is not a supported type."""
    return _TYPE_BY_KEY.get(type_name.lower()) if isinstance(type_name, str) else None


def value_problem(type_name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid value of the (canonical) type, or None when it is."""
    if type_name == "Boolean":
        ok = isinstance(value, bool)
    elif type_name == "Integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "Number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif type_name == "String":
        ok = isinstance(value, str)
    elif type_name == "Guid":
        ok = isinstance(value, str) and bool(_GUID_RE.match(value))
    elif type_name == "DateTime":
        ok = isinstance(value, str) and _is_datetime(value)
    elif type_name == "ItemReference":
        ok = (isinstance(value, Mapping) and all(isinstance(value.get(k), str) and _GUID_RE.match(value[k])
                                                 for k in ("workspaceId", "itemId")))
    else:
        ok = False
    if ok:
        return None
    examples = {"Boolean": "true or false", "Integer": "a whole number such as 5", "Number": "a number such as 1.5",
                "String": "text", "Guid": "a GUID", "DateTime": 'an ISO 8601 time such as "2025-01-20T15:30:00Z"',
                "ItemReference": '{"workspaceId": GUID, "itemId": GUID}'}
    return f"{json.dumps(value)} is not a valid {type_name} value (expected {examples.get(type_name, '?')})"


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _parse_json(path: str, data: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VariableLibraryDefinitionError(path, f"not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise VariableLibraryDefinitionError(path, "must be a JSON object")
    return parsed


class VariableLibraryContent:
    """A parsed, validated variable library definition.

    ``variables`` in declaration order, ``value_sets`` by name in ``settings.json``'s order (sets
    missing from that order follow in file-name order).
    """

    def __init__(self, variables: list[LibraryVariable], value_sets: dict[str, ValueSet],
                 value_sets_order: list[str]) -> None:
        self.variables = variables
        self.value_sets = value_sets
        self.value_sets_order = value_sets_order

    # -- parsing -----------------------------------------------------------------------------
    @classmethod
    def from_files(cls, files: Mapping[str, bytes | str | Mapping[str, Any]]) -> VariableLibraryContent:
        """Parse and validate ``{part path: content}``; raises VariableLibraryDefinitionError.

        Parts other than the three kinds (``.platform`` for one) are ignored here.
        """
        normalized = {path.replace("\\", "/"): data for path, data in files.items()}
        if VARIABLES_PART not in normalized:
            raise VariableLibraryDefinitionError(VARIABLES_PART, "the part is required")
        doc = _parse_json(VARIABLES_PART, normalized[VARIABLES_PART])
        raw_vars = doc.get("variables", [])
        if not isinstance(raw_vars, list):
            raise VariableLibraryDefinitionError(VARIABLES_PART, "'variables' must be an array")
        variables: list[LibraryVariable] = []
        seen: dict[str, str] = {}
        for index, raw in enumerate(raw_vars):
            where = f"{VARIABLES_PART}: variables[{index}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
                raise VariableLibraryDefinitionError(where, "each variable needs a 'name'")
            name = raw["name"]
            if not _NAME_RE.match(name):
                raise VariableLibraryDefinitionError(
                    where, f"variable name '{name}' must start with a letter or '_' and hold only letters, "
                    "digits and '_'")
            if name.lower() in seen:
                raise VariableLibraryDefinitionError(where, f"variable '{name}' is declared twice")
            type_name = canonical_type(raw.get("type", ""))
            if type_name is None:
                raise VariableLibraryDefinitionError(
                    where, f"variable '{name}' has type {json.dumps(raw.get('type'))}; supported types: "
                    + ", ".join(VARIABLE_TYPES))
            if "value" not in raw:
                raise VariableLibraryDefinitionError(where, f"variable '{name}' needs a 'value' (its default)")
            problem = value_problem(type_name, raw["value"])
            if problem:
                raise VariableLibraryDefinitionError(where, f"variable '{name}': {problem}")
            seen[name.lower()] = type_name
            variables.append(LibraryVariable.model_validate(raw))
        by_name = {v.name: v for v in variables}
        value_sets: dict[str, ValueSet] = {}
        for path in sorted(p for p in normalized if p.startswith(VALUE_SETS_DIR)):
            file_name = path[len(VALUE_SETS_DIR):]
            if not file_name.endswith(".json") or "/" in file_name:
                raise VariableLibraryDefinitionError(path, "value sets are files valueSets/<name>.json")
            raw_set = _parse_json(path, normalized[path])
            name = raw_set.get("name")
            if not isinstance(name, str) or not name.strip():
                raise VariableLibraryDefinitionError(path, "a value set needs a 'name'")
            if name.lower() == DEFAULT_VALUE_SET.lower():
                raise VariableLibraryDefinitionError(
                    path, f"'{DEFAULT_VALUE_SET}' is the variables' own values; choose another value set name")
            if any(existing.lower() == name.lower() for existing in value_sets):
                raise VariableLibraryDefinitionError(path, f"value set '{name}' is defined twice")
            overrides = raw_set.get("variableOverrides", [])
            if not isinstance(overrides, list):
                raise VariableLibraryDefinitionError(path, "'variableOverrides' must be an array")
            overridden: set[str] = set()
            for index, override in enumerate(overrides):
                where = f"{path}: variableOverrides[{index}]"
                if not isinstance(override, dict) or not isinstance(override.get("name"), str):
                    raise VariableLibraryDefinitionError(where, "each override needs a 'name'")
                target = by_name.get(override["name"])
                if target is None:
                    declared = ", ".join(by_name) or "none"
                    raise VariableLibraryDefinitionError(
                        where, f"value set '{name}' overrides '{override['name']}', which variables.json does "
                        f"not declare (declared: {declared})")
                if target.name in overridden:
                    raise VariableLibraryDefinitionError(where, f"'{target.name}' is overridden twice")
                overridden.add(target.name)
                problem = value_problem(seen[target.name.lower()], override.get("value"))
                if problem:
                    raise VariableLibraryDefinitionError(where, f"'{target.name}': {problem}")
            value_sets[name] = ValueSet.model_validate(raw_set)
        order: list[str] = []
        if SETTINGS_PART in normalized:
            settings = _parse_json(SETTINGS_PART, normalized[SETTINGS_PART])
            raw_order = settings.get("valueSetsOrder", [])
            if not isinstance(raw_order, list) or not all(isinstance(n, str) for n in raw_order):
                raise VariableLibraryDefinitionError(SETTINGS_PART, "'valueSetsOrder' must be an array of names")
            for set_name in raw_order:
                if set_name not in value_sets:
                    raise VariableLibraryDefinitionError(
                        SETTINGS_PART, f"valueSetsOrder names '{set_name}', which has no valueSets/ file "
                        f"(value sets: {', '.join(value_sets) or 'none'})")
            order = list(raw_order)
        order += [n for n in value_sets if n not in order]
        return cls(variables, value_sets, order)

    # -- queries -----------------------------------------------------------------------------
    def value_set_names(self) -> list[str]:
        """Every value set a library can activate, the default first."""
        return [DEFAULT_VALUE_SET, *self.value_sets_order]

    def has_value_set(self, name: str) -> bool:
        return name == DEFAULT_VALUE_SET or name in self.value_sets

    def variable(self, name: str) -> LibraryVariable | None:
        return next((v for v in self.variables if v.name == name), None)

    def value_of(self, name: str, value_set: str | None = None) -> Any:
        """The variable's value in ``value_set`` (its default when the set does not override it)."""
        variable = self.variable(name)
        if variable is None:
            raise KeyError(name)
        chosen = self.value_sets.get(value_set or DEFAULT_VALUE_SET)
        if chosen is not None:
            for override in chosen.variable_overrides:
                if override.name == name:
                    return override.value
        return variable.value

    def values(self, value_set: str | None = None) -> dict[str, Any]:
        return {v.name: self.value_of(v.name, value_set) for v in self.variables}
