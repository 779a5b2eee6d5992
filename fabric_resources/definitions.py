"""Data pipeline definitions: load, substitute ``{{ tokens }}``, validate, canonicalise, hash.

Pure functions, no network and no Pulumi: this module is imported by the Pulumi program, by the
provider process and by the CLI, so it stays cheap to import (pydantic models are loaded only when
:func:`validate_content` first runs).

The life of a definition::

    loaded = load_definition("pipelines/Ingest Sales.DataPipeline")   # raw text + .platform
    text = substitute(loaded.content_text, {"sales_connection_id": "..."})
    content = parse_content(text)                                     # dict, JSON errors with line/col
    validate_content(content)                                         # shape + dependency graph
    content_hash(content)                                             # "sha256:..." of canonical form
    parts = build_definition_parts(text, loaded.platform, display_name=..., description=...)

Tokens are replaced in the raw JSON *text* (not in parsed values) so that a token can stand for a
number, a boolean or even an array where the JSON grammar expects a value: ``"retry": {{ retries }}``.
Inside a JSON string the value is escaped; outside it is written as a JSON literal.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fabric_resources.activities import dependency_problem, map_nested_activities, nested_activity_lists
from fabric_resources.errors import DefinitionError

if TYPE_CHECKING:
    from fabric_resources.models.pipeline_content import PipelineContent

__all__ = [
    "CONTENT_FILE",
    "PLATFORM_FILE",
    "SERVICE_DEFAULT_POLICY",
    "LoadedDefinition",
    "build_definition_parts",
    "canonical_hash",
    "canonical_json",
    "canonicalize",
    "content_hash",
    "content_text_of",
    "find_tokens",
    "load_definition",
    "parse_content",
    "parse_definition_parts",
    "substitute",
    "validate_content",
]

CONTENT_FILE = "pipeline-content.json"
PLATFORM_FILE = ".platform"
ITEM_TYPE = "DataPipeline"
PLATFORM_SCHEMA = (
    "https://developer.microsoft.com/json-schemas/fabric/gitIntegration/platformProperties/2.0.0/schema.json"
)

#: What Fabric assumes for an activity without a policy (and writes back on export).
SERVICE_DEFAULT_POLICY: dict[str, Any] = {
    "timeout": "0.12:00:00",
    "retry": 0,
    "retryIntervalInSeconds": 30,
    "secureInput": False,
    "secureOutput": False,
}

# A token is `{{ name }}`; whitespace inside the braces is optional.
_TOKEN = r"\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}"
_TOKEN_RE = re.compile(_TOKEN)
# One pass over the text: a whole JSON string literal (escapes included) or a token outside one.
# Matching strings first is what tells "inside a string" from "outside" without a full parser.
_STRING_OR_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|' + _TOKEN, re.DOTALL)

ParameterValue = str | int | float | bool


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedDefinition:
    """A definition as found on disk (or given as a dict), tokens not yet substituted.

    ``content_text`` is the raw text of ``pipeline-content.json``; ``platform`` the parsed
    ``.platform`` of an item folder (None otherwise); ``source_path`` the file or folder loaded
    (None for a dict).
    """

    content_text: str
    platform: dict[str, Any] | None
    source_path: Path | None

    @property
    def source(self) -> str:
        """A short description of where the definition came from, for messages."""
        return str(self.source_path) if self.source_path is not None else "the definition dict"

    @property
    def tokens(self) -> set[str]:
        return find_tokens(self.content_text)

    @property
    def display_name(self) -> str | None:
        """The item's name: ``.platform`` metadata, else the ``<Name>.DataPipeline`` folder name."""
        metadata = (self.platform or {}).get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("displayName"), str):
            return str(metadata["displayName"])
        if self.source_path is not None and self.source_path.suffix == f".{ITEM_TYPE}":
            return self.source_path.stem
        return None

    @property
    def logical_id(self) -> str | None:
        """The item folder's ``.platform`` ``config.logicalId`` (lower case): the identity Fabric's
        git integration gives the item in every workspace. None when absent or the all-zero
        placeholder ("not assigned yet")."""
        config = (self.platform or {}).get("config")
        value = config.get("logicalId") if isinstance(config, dict) else None
        if not isinstance(value, str) or uuid.UUID(value).int == 0:
            return None
        return value.lower()

    @property
    def description(self) -> str | None:
        metadata = (self.platform or {}).get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("description"), str):
            return str(metadata["description"])
        return None

    def substitute(self, parameters: Mapping[str, Any] | None = None) -> str:
        """The content text with every token replaced (see :func:`substitute`)."""
        return substitute(self.content_text, parameters or {}, source=self.source)

    def render(self, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Substitute, parse and validate; returns the content dict ready to deploy."""
        content = parse_content(self.substitute(parameters), source=self.source, substituted=bool(self.tokens))
        validate_content(content)
        return content


def load_definition(
    source: Mapping[str, Any] | str | os.PathLike[str], *, base_dir: str | os.PathLike[str] | None = None
) -> LoadedDefinition:
    """Load a pipeline definition from a dict, a ``pipeline-content.json`` file or an item folder.

    Relative paths are resolved against ``base_dir`` (default: the current directory). An item
    folder is Fabric's git format: ``<Name>.DataPipeline/`` holding ``pipeline-content.json`` and,
    optionally, ``.platform``. The JSON is checked here with tokens outside strings standing in for
    values, so syntax errors surface at load time with the file's own line and column.
    """
    if isinstance(source, Mapping):
        try:
            text = json.dumps(source, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(
                f"the definition dict cannot be written as JSON ({exc}); it must hold only JSON values "
                "(str, int, float, bool, None, lists and dicts) and values known only at deploy time "
                "(Outputs, such as another resource's id); convert other objects first, or pass them "
                "through `parameters` and {{ name }} tokens",
                field="definition",
            ) from exc
        return LoadedDefinition(content_text=text, platform=None, source_path=None)

    if not isinstance(source, str | os.PathLike):
        raise DefinitionError(
            f"definition must be a dict, a path to {CONTENT_FILE} or a path to an item folder, "
            f"not {type(source).__name__}",
            field="definition",
        )
    raw = os.fspath(source)
    if isinstance(raw, str) and raw.lstrip().startswith(("{", "[")):
        raise DefinitionError(
            "definition looks like JSON text, but strings are read as paths; pass json.loads(text) "
            "as a dict, or the path of the file holding it",
            field="definition",
        )
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir).expanduser() / path

    if path.is_dir():
        content_path = path / CONTENT_FILE
        if not content_path.is_file():
            raise DefinitionError(
                f"item folder {path} has no {CONTENT_FILE}; an item folder in Fabric's git format "
                f"(<Name>.{ITEM_TYPE}/) must hold {CONTENT_FILE} and may hold {PLATFORM_FILE}",
                field="definition",
            )
        text = _read_text(content_path)
        _check_json_syntax(text, source=str(content_path))
        platform_path = path / PLATFORM_FILE
        platform = _load_platform(platform_path) if platform_path.is_file() else None
        return LoadedDefinition(content_text=text, platform=platform, source_path=path)

    if path.is_file():
        text = _read_text(path)
        _check_json_syntax(text, source=str(path))
        return LoadedDefinition(content_text=text, platform=None, source_path=path)

    where = f" (resolved against base_dir {base_dir})" if base_dir is not None and not Path(raw).is_absolute() else ""
    raise DefinitionError(
        f"definition path {path} does not exist{where}; pass the content as a dict, the path of a "
        f"{CONTENT_FILE} file, or the path of an item folder such as 'pipelines/My Pipeline.{ITEM_TYPE}'",
        field="definition",
    )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(
            f"cannot read {path}: {exc.strerror or exc}; check that the file exists and is readable",
            field="definition",
        ) from exc
    try:
        # utf-8-sig: editors on Windows (and some git exports) write a byte order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8",
            field="definition",
        ) from exc


def _json_error(exc: json.JSONDecodeError, *, source: str, field: str, substituted: bool = False) -> DefinitionError:
    after = " after {{ token }} substitution" if substituted else ""
    return DefinitionError(
        f"{source}: invalid JSON{after} at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
        "fix the syntax there (a trailing comma, a missing comma or an unquoted key is the usual cause)",
        field=field,
    )


def _check_json_syntax(text: str, *, source: str) -> None:
    """Check JSON syntax before substitution, keeping line and column numbers of the original text.

    A token outside a string (``"retry": {{ retries }}``) is not JSON yet; it is replaced by ``null``
    padded with spaces to the token's length, so positions after it do not move.
    """

    def neutralise(match: re.Match[str]) -> str:
        text = match.group(0)
        return text if text.startswith('"') else "null".ljust(len(text))

    try:
        value = json.loads(_STRING_OR_TOKEN_RE.sub(neutralise, text))
    except json.JSONDecodeError as exc:
        raise _json_error(exc, source=source, field="definition") from exc
    if not isinstance(value, dict):
        raise DefinitionError(
            f"{source}: the top level must be a JSON object such as "
            '{"properties": {"activities": []}}, not ' + _json_type(value),
            field="definition",
        )


def _load_platform(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        platform = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, source=str(path), field=PLATFORM_FILE) from exc
    if not isinstance(platform, dict):
        raise DefinitionError(f"{path}: must be a JSON object, not {_json_type(platform)}", field=PLATFORM_FILE)
    metadata = platform.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise DefinitionError(f"{path}: metadata must be an object", field=f"{PLATFORM_FILE}.metadata")
    config = platform.get("config")
    logical_id = config.get("logicalId") if isinstance(config, dict) else None
    if logical_id is not None and not _is_guid(logical_id):
        raise DefinitionError(
            f"{path}: config.logicalId {logical_id!r} is not a GUID; fix it or remove it (a logicalId "
            "is then derived from the project, stack and resource name)",
            field=f"{PLATFORM_FILE}.config.logicalId",
        )
    item_type = (metadata or {}).get("type")
    if item_type is not None and item_type != ITEM_TYPE:
        raise DefinitionError(
            f"{path}: this item folder is a {item_type!r}, not a {ITEM_TYPE}; point the pipeline at a "
            f"<Name>.{ITEM_TYPE} folder",
            field=f"{PLATFORM_FILE}.metadata.type",
        )
    return platform


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return "an object"


def parse_content(text: str, *, source: str = CONTENT_FILE, substituted: bool = False) -> dict[str, Any]:
    """Parse content text into a dict; JSON errors carry line and column.

    ``substituted`` says the text went through :func:`substitute`, so that a syntax error caused by
    a value (positions then refer to the substituted text) is reported as such.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, source=source, field="definition", substituted=substituted) from exc
    if not isinstance(value, dict):
        raise DefinitionError(
            f"{source}: the top level must be a JSON object, not {_json_type(value)}", field="definition"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def find_tokens(text: str) -> set[str]:
    """The names of all ``{{ name }}`` tokens in ``text``."""
    return {m.group("name") for m in _TOKEN_RE.finditer(text)}


def _literal(name: str, value: Any) -> str:
    """A parameter value as a JSON literal (used for tokens outside strings)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(
            f"parameter {name!r} has a value of type {type(value).__name__} that is not a JSON value "
            f"({exc}); pass a str, int, float or bool",
            field=f"parameters.{name}",
        ) from exc


def _in_string(name: str, value: Any) -> str:
    """A parameter value as the escaped inside of a JSON string."""
    if isinstance(value, bool):
        # JSON spelling, so that "{{ flag }}" inside an expression reads "true", not "True".
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _literal(name, value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    raise DefinitionError(
        f"parameter {name!r} is used inside a JSON string but its value is a {type(value).__name__}; "
        "pass a str, int, float or bool, or move the token outside the quotes to insert it as JSON",
        field=f"parameters.{name}",
    )


def substitute(text: str, parameters: Mapping[str, Any], *, source: str | None = None) -> str:
    """Replace every ``{{ name }}`` token in JSON ``text`` with ``parameters[name]``.

    Inside a JSON string the value is JSON-escaped (quotes, backslashes, control characters);
    outside strings it is inserted as a JSON literal (``"abc"``, ``5``, ``true``). Every token
    must have a value; parameters that no token uses are ignored, so one mapping can serve many
    pipelines. Text that is not a valid token (``{{ 1x }}``, a lone ``{{``) is left as it is.
    """
    missing = sorted(name for name in find_tokens(text) if name not in parameters)
    if missing:
        where = f" in {source}" if source else ""
        listed = ", ".join("{{ " + n + " }}" for n in missing)
        keys = ", ".join(repr(n) for n in missing)
        raise DefinitionError(
            f"token{'s' if len(missing) > 1 else ''} {listed}{where} ha{'ve' if len(missing) > 1 else 's'} "
            f"no value; add {keys} to the parameters mapping (for example in stack config) or remove the token",
            field=f"parameters.{missing[0]}",
        )

    def in_string(match: re.Match[str]) -> str:
        return _in_string(match.group("name"), parameters[match.group("name")])

    def replace(match: re.Match[str]) -> str:
        matched = match.group(0)
        if matched.startswith('"'):
            return _TOKEN_RE.sub(in_string, matched)
        name = match.group("name")
        return _literal(name, parameters[name])

    return _STRING_OR_TOKEN_RE.sub(replace, text)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _format_path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_HINTS = {
    "missing": "add the field",
    "literal_error": "use one of the values listed",
    "extra_forbidden": "remove the field",
    "too_short": "add at least one entry",
}


def _from_validation_error(exc: Any, prefix: Sequence[str | int] = ()) -> DefinitionError:
    """Turn a pydantic ValidationError into one DefinitionError naming the first failing field.

    ``field`` is the first error's path (str(error) starts with it); any further errors (up to a
    few) are appended so that one run shows what to fix.
    """

    def describe(err: Any) -> str:
        msg = str(err["msg"]).removeprefix("Value error, ")
        hint = _HINTS.get(err["type"])
        return msg + (f" ({hint})" if hint else "")

    errors = exc.errors(include_url=False)
    if not errors:
        return DefinitionError("invalid pipeline definition", field=_format_path(prefix) or None)
    first, rest = errors[0], errors[1:]
    message = describe(first)
    if rest:
        others = [f"{_format_path([*prefix, *e['loc']]) or 'content'}: {describe(e)}" for e in rest[:4]]
        more = f" (and {len(rest) - 4} more)" if len(rest) > 4 else ""
        message += "; also " + "; ".join(others) + more
    return DefinitionError(message, field=_format_path([*prefix, *first["loc"]]) or "content")


def validate_content(content: Mapping[str, Any]) -> PipelineContent:
    """Validate pipeline content: its shape, then the dependency graph of every activity scope.

    Rules, checked per scope (the pipeline's activity list and each nested list of a container
    activity: IfCondition branches, ForEach/Until bodies, Switch cases and default): activity names
    are unique, each ``dependsOn`` names an activity of the same scope, and dependencies form no
    cycle. Errors are :class:`DefinitionError` with ``field`` the path of the offending value, e.g.
    ``properties.activities[2].dependsOn[0].activity``.
    """
    # Imported here so that importing this module does not build the pydantic schemas.
    from pydantic import ValidationError as PydanticValidationError

    from fabric_resources.models.pipeline_content import Activity, PipelineContent

    if not isinstance(content, Mapping):
        raise DefinitionError(
            f"pipeline content must be a JSON object, not {_json_type(content)}", field="definition"
        )
    try:
        model = PipelineContent.model_validate(dict(content))
    except PydanticValidationError as exc:
        raise _from_validation_error(exc) from exc

    activity_list = _activity_list_adapter()

    def check_scope(activities: list[Activity], path: tuple[str | int, ...]) -> None:
        _check_graph(activities, path)
        for index, activity in enumerate(activities):
            here = (*path, index, "typeProperties")
            if activity.type == "Switch" and "cases" in activity.type_properties:
                cases = activity.type_properties["cases"]
                if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
                    raise DefinitionError(
                        "Switch cases must be a list of objects like "
                        '{"value": "...", "activities": [...]}',
                        field=_format_path((*here, "cases")),
                    )
            for where, raw in nested_activity_lists(activity.type, activity.type_properties):
                nested_path = (*here, *where)
                try:
                    nested = activity_list.validate_python(raw)
                except PydanticValidationError as exc:
                    raise _from_validation_error(exc, nested_path) from exc
                check_scope(nested, nested_path)

    check_scope(model.properties.activities, ("properties", "activities"))
    return model


@functools.cache
def _activity_list_adapter() -> Any:
    """The validator of a nested activity list, built once: building it costs more than validating
    a whole pipeline, and a preview validates every definition of the program."""
    from pydantic import TypeAdapter

    from fabric_resources.models.pipeline_content import Activity

    return TypeAdapter(list[Activity])


def _check_graph(activities: list[Any], path: tuple[str | int, ...]) -> None:
    problem = dependency_problem(
        [a.name for a in activities], [[d.activity for d in a.depends_on] for a in activities],
        scope=_format_path(path),
    )
    if problem is not None:
        raise DefinitionError(problem.message, field=_format_path((*path, *problem.location)))


# ---------------------------------------------------------------------------------------------
# Canonical form and hash
# ---------------------------------------------------------------------------------------------

def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted(v) for v in value]
    return value


def _canonical_activity(activity: Any) -> Any:
    if not isinstance(activity, Mapping):
        return _sorted(activity)
    out: dict[str, Any] = {}
    for key, value in activity.items():
        if key in ("dependsOn", "userProperties") and value == []:
            continue
        if key == "state" and isinstance(value, str):
            if value.lower() == "active":
                continue
            if value.lower() == "inactive":
                value = "Inactive"  # "InActive" and "Inactive" are the same state
        if key == "policy" and isinstance(value, Mapping):
            # Key by key, so that a policy spelling out some defaults equals one that omits them.
            value = {k: v for k, v in value.items() if not _is_default_policy_value(k, v)}
            if not value:
                continue
        if key == "typeProperties" and isinstance(value, Mapping):
            value = _canonical_type_properties(value)
        out[key] = _sorted(value)
    return _sorted(out)


def _is_default_policy_value(key: str, value: Any) -> bool:
    if key not in SERVICE_DEFAULT_POLICY:
        return False
    default = SERVICE_DEFAULT_POLICY[key]
    # bool is an int in Python: False must not equal a retry of 0, nor 0 equal secureInput false.
    return type(value) is type(default) and value == default


def _canonical_type_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    # By shape, whatever the activity type: canonicalisation must also accept content that does not
    # validate.
    return map_nested_activities(props, _canonical_activity)


def canonicalize(content: Mapping[str, Any]) -> dict[str, Any]:
    """The form definitions are compared and hashed in.

    Keys sorted at every level; fields the service adds or rewrites and users do not author are
    dropped: top-level ``objectId`` and ``name``; ``properties.lastModifiedByObjectId`` and ``lastPublishTime``;
    empty ``annotations``, ``parameters`` and ``variables``; and on every activity (nested ones
    too) empty ``dependsOn`` / ``userProperties``, ``state: "Active"`` and policy values equal to
    the service defaults. The input is not modified.
    """
    # Top-level "name" goes too: the service writes the item's display name there on export, and the
    # name is managed (and diffed) as the item's displayName, never through the definition.
    out: dict[str, Any] = {k: v for k, v in content.items() if k not in ("objectId", "name")}
    props = out.get("properties")
    if isinstance(props, Mapping):
        new_props: dict[str, Any] = {}
        for key, value in props.items():
            if key in ("lastModifiedByObjectId", "lastPublishTime"):
                continue
            if key == "annotations" and value == []:
                continue
            if key in ("parameters", "variables") and value == {}:
                continue
            if key == "activities" and isinstance(value, list):
                value = [_canonical_activity(a) for a in value]
            new_props[key] = value
        out["properties"] = new_props
    result: dict[str, Any] = _sorted(out)
    return result


def canonical_json(content: Mapping[str, Any]) -> str:
    """Compact JSON of the canonical form: sorted keys, no whitespace, UTF-8 characters kept."""
    return json.dumps(canonicalize(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(content: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"`` of :func:`canonical_json`; equal for content that differs only in form."""
    return canonical_hash(canonical_json(content))


def canonical_hash(canonical: str) -> str:
    """:func:`content_hash` of content whose :func:`canonical_json` text is already at hand."""
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Definition parts (the API's wire format)
# ---------------------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def build_definition_parts(
    content_json: str, platform: Mapping[str, Any] | None, *, display_name: str, description: str | None
) -> list[dict[str, Any]]:
    """The ``definition.parts`` list for create/updateDefinition.

    ``content_json`` is sent as given (substituted text). ``.platform`` is included only when a
    platform dict is given; its metadata name and description are set from the arguments so the
    item's metadata never disagrees with the resource's declared values.
    """
    parts: list[dict[str, Any]] = [
        {"path": CONTENT_FILE, "payload": _b64(content_json), "payloadType": "InlineBase64"}
    ]
    if platform is not None:
        doc = json.loads(json.dumps(platform))  # deep copy; the caller's dict stays untouched
        metadata = doc.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        metadata.setdefault("type", ITEM_TYPE)
        metadata["displayName"] = display_name
        if description is None:
            metadata.pop("description", None)
        else:
            metadata["description"] = description
        doc["metadata"] = metadata
        doc.setdefault("$schema", PLATFORM_SCHEMA)
        parts.append(
            {"path": PLATFORM_FILE, "payload": _b64(json.dumps(doc, indent=2, ensure_ascii=False)),
             "payloadType": "InlineBase64"}
        )
    return parts


def _part_field(part: Any, name: str) -> Any:
    # Parts may be plain dicts (JSON) or model objects with snake_case attributes.
    if isinstance(part, Mapping):
        return part.get(name)
    return getattr(part, {"payloadType": "payload_type"}.get(name, name), None)


def _decode_part(part: Any, path: str, index: int) -> Any:
    text = _decode_text(part, path, index)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"definition part {path!r}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            field=f"definition.parts[{index}].payload",
        ) from exc


def _decode_text(part: Any, path: str, index: int) -> str:
    field = f"definition.parts[{index}]"
    payload_type = _part_field(part, "payloadType")
    if payload_type not in (None, "InlineBase64"):
        raise DefinitionError(
            f"definition part {path!r} has payloadType {payload_type!r}; only InlineBase64 is supported",
            field=f"{field}.payloadType",
        )
    payload = _part_field(part, "payload")
    if not isinstance(payload, str):
        raise DefinitionError(f"definition part {path!r} has no payload", field=f"{field}.payload")
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8-sig")
    except (binascii.Error, ValueError) as exc:
        raise DefinitionError(
            f"definition part {path!r}: payload is not base64-encoded UTF-8 ({exc})", field=f"{field}.payload"
        ) from exc


def content_text_of(parts: Sequence[Any]) -> str:
    """The text of the ``pipeline-content.json`` part exactly as stored (decoded, not re-serialised).

    Raises DefinitionError when there is no such part or it is not base64 UTF-8; whether the text
    is valid JSON is for the caller to find out (``parse_content``).
    """
    for index, part in enumerate(parts):
        if _part_field(part, "path") == CONTENT_FILE:
            return _decode_text(part, CONTENT_FILE, index)
    found = ", ".join(repr(_part_field(p, "path")) for p in parts) or "none"
    raise DefinitionError(f"the definition has no {CONTENT_FILE} part (parts: {found})", field="definition.parts")


def parse_definition_parts(parts: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Decode a definition's parts into (pipeline content, .platform or None); other parts are ignored."""
    content: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    for index, part in enumerate(parts):
        path = _part_field(part, "path")
        if path not in (CONTENT_FILE, PLATFORM_FILE):
            continue
        value = _decode_part(part, path, index)
        if not isinstance(value, dict):
            raise DefinitionError(
                f"definition part {path!r} must hold a JSON object, not {_json_type(value)}",
                field=f"definition.parts[{index}].payload",
            )
        if path == CONTENT_FILE:
            content = value
        else:
            platform = value
    if content is None:
        found = ", ".join(repr(_part_field(p, "path")) for p in parts) or "none"
        raise DefinitionError(
            f"the definition has no {CONTENT_FILE} part (parts: {found})", field="definition.parts"
        )
    return content, platform
