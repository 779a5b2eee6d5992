"""fabric-cicd's ``parameter.yml``: loading, checking and applying it to one definition file.

The semantics follow fabric-cicd 1.4 (read from its code and checked side by side against it on the
emulator, see tests/integration/test_fabric_cicd_side_by_side.py):

- ``key_value_replace`` entries run before ``find_replace`` entries, each list in file order.
- ``key_value_replace``: ``find_key`` is a JSONPath (jsonpath-ng's extended dialect, the library
  fabric-cicd uses); every match gets the environment's value, and the file is written back as
  ``json.dumps`` of the result (so its layout changes even where nothing matched; compare canonically).
- ``find_replace``: a literal ``find_value`` is replaced everywhere (``ignore_case`` optional); with
  ``is_regex: "true"`` only capture group 1 of each match is replaced (exactly one group required).
- Filters ``item_type``, ``item_name`` (display names), ``file_path`` (relative to the workspace folder,
  globs allowed): a string or a list; all given filters must match.
- ``replace_value`` maps environments to values; an entry without the target environment is skipped;
  ``_ALL_`` (any case) applies to every environment and must then be the only key.
- Dynamic values: ``$items.<type>.<name>.$id`` (the deployed item's id) and ``$workspace.$id`` /
  ``$workspace.id`` (the target workspace).

What this project does not support is refused when the file is loaded, before any call: the sections
``spark_pool``, ``semantic_model_binding``, ``gateway_binding`` and ``extend``, item attributes other
than ``$id`` (``$sqlendpoint``, ...), ``$workspace.$name``, cross-workspace variables and ``$ENV:``.
Pure code: no network, no Pulumi.
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabric_resources.errors import DefinitionError

__all__ = [
    "SUPPORTED_SECTIONS",
    "FindReplace",
    "KeyValueReplace",
    "ParameterFile",
    "apply_parameters",
    "load_parameter_file",
    "parse_dynamic_value",
]

SUPPORTED_SECTIONS = ("find_replace", "key_value_replace")
_KNOWN_UNSUPPORTED = ("spark_pool", "semantic_model_binding", "gateway_binding", "extend")
_FILTERS = ("item_type", "item_name", "file_path")
_KEYS = {
    "find_replace": {"find_value", "replace_value", "is_regex", "ignore_case", *_FILTERS},
    "key_value_replace": {"find_key", "replace_value", *_FILTERS},
}
_WORKSPACE_ID_VARIABLES = ("$workspace.$id", "$workspace.id")

#: Called with a dynamic value's parsed form: ("workspace",) or ("item", type, name).
Resolver = Callable[[tuple[str, ...]], str]


@dataclass(frozen=True)
class _Entry:
    section: str
    index: int  # 1-based position in its section, for messages
    replace_value: Mapping[str, Any]
    item_type: tuple[str, ...] | None
    item_name: tuple[str, ...] | None
    file_path: tuple[str, ...] | None

    @property
    def where(self) -> str:
        return f"{self.section} entry {self.index}"

    @property
    def filtered(self) -> bool:
        return any(f is not None for f in (self.item_type, self.item_name, self.file_path))

    def value_for(self, environment: str) -> tuple[bool, Any]:
        """(has a value for the environment, the value); ``_ALL_`` stands for every environment."""
        if len(self.replace_value) == 1:
            (key, value), = self.replace_value.items()
            if key.lower() == "_all_":
                return True, value
        if environment in self.replace_value:
            return True, self.replace_value[environment]
        return False, None


@dataclass(frozen=True)
class FindReplace(_Entry):
    find_value: str = ""
    is_regex: bool = False
    ignore_case: bool = False


@dataclass(frozen=True)
class KeyValueReplace(_Entry):
    find_key: str = ""
    expression: Any = None  # the parsed JSONPath


@dataclass(frozen=True)
class ParameterFile:
    path: Path
    root: Path  # the workspace folder that file_path filters are relative to
    key_value_replace: tuple[KeyValueReplace, ...]
    find_replace: tuple[FindReplace, ...]

    def entries(self) -> tuple[_Entry, ...]:
        return (*self.key_value_replace, *self.find_replace)

    def file_matches(self, entry: _Entry, item_type: str, item_name: str, file: Path) -> bool:
        """True when ``entry``'s filters (all of those given) select this file."""
        if entry.item_type is not None and item_type not in entry.item_type:
            return False
        if entry.item_name is not None and item_name not in entry.item_name:
            return False
        if entry.file_path is not None:
            return file.resolve() in _resolve_paths(self.root, entry.file_path)
        return True


def _resolve_paths(root: Path, patterns: Sequence[str]) -> set[Path]:
    base = root.resolve()
    found: set[Path] = set()
    for pattern in patterns:
        text = pattern.replace("\\", "/")
        if Path(text).is_absolute():
            try:
                text = Path(text).resolve().relative_to(base).as_posix()
            except ValueError:
                continue  # outside the workspace folder: selects nothing, as in fabric-cicd
        text = text.lstrip("/")
        if glob.has_magic(text):
            found.update(p.resolve() for p in base.glob(text) if p.is_file())
        else:
            candidate = (base / text).resolve()
            if candidate.is_file():
                found.add(candidate)
    return found


# ---------------------------------------------------------------------------------------------
# Loading and checking
# ---------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (YAML would keep the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _fail(path: Path, message: str) -> DefinitionError:
    return DefinitionError(f"{path}: {message}", field="parameter_file")


def _strings(path: Path, entry: str, key: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(path, f"{entry}: {key} must be a string or a list of strings, not {value!r}")


def _flag(path: Path, entry: str, key: str, value: Any) -> bool:
    # fabric-cicd wants the strings "true"/"false"; a YAML boolean means the same thing.
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _fail(path, f'{entry}: {key} must be "true" or "false", not {value!r}')


def parse_dynamic_value(value: str, *, where: str) -> tuple[str, ...] | None:
    """The parsed form of a ``$``-value (None for a plain value); unsupported forms raise ValueError."""
    if not value.startswith("$"):
        return None
    if value in _WORKSPACE_ID_VARIABLES:
        return ("workspace",)
    if value.startswith("$items."):
        rest = value[len("$items."):]
        if ".$" in rest:
            head, attribute = rest.rsplit(".$", 1)
        else:  # fabric-cicd's older spelling: $items.<type>.<name>.<attribute>
            head, _, attribute = rest.rpartition(".")
        item_type, _, name = head.partition(".")
        if not item_type.strip() or not name.strip():
            raise ValueError(f"{where}: '{value}' must read $items.<type>.<name>.$id")
        if attribute.lower() != "id":
            raise ValueError(
                f"{where}: '{value}' asks for the item attribute '{attribute}'; only $id is supported here "
                "(use the id itself through `references`, or a literal value per environment)")
        return ("item", item_type.strip(), name.strip())
    if value.startswith("$ENV:"):
        raise ValueError(f"{where}: '{value}' ($ENV: values) is not supported; put the value in the file or "
                         "pass it through WorkspaceContent's `references` from the stack config")
    raise ValueError(
        f"{where}: '{value}' is not a supported dynamic value; supported are $items.<type>.<name>.$id and "
        "$workspace.$id (cross-workspace variables and $workspace.$name are not)")


def load_parameter_file(path: str | Path, *, root: str | Path, environment: str) -> ParameterFile:
    """Load and check a parameter file; errors name the file, the entry and the fix."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise _fail(file, f"cannot be read ({exc.strerror or exc}); check `parameter_file`") from exc
    except UnicodeDecodeError as exc:
        raise _fail(file, "is not UTF-8 text; save it as UTF-8") from exc
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise _fail(file, f"is not valid YAML{at}: {problem}; fix the syntax there") from exc
    if doc is None:
        raise _fail(file, "is empty; remove it or add find_replace / key_value_replace entries")
    if not isinstance(doc, dict):
        raise _fail(file, "must be a mapping of sections (find_replace:, key_value_replace:)")
    unsupported = [str(k) for k in doc if k not in SUPPORTED_SECTIONS]
    if unsupported:
        known = [k for k in unsupported if k in _KNOWN_UNSUPPORTED]
        kind = "is a fabric-cicd section this project does not support" if known else "is not a parameter section"
        raise _fail(file, f"'{unsupported[0]}' {kind} (found: {', '.join(unsupported)}); supported sections are "
                          f"{', '.join(SUPPORTED_SECTIONS)}: remove the others (README, 'parameter.yml')")
    kvr = tuple(_key_value_entry(file, i, raw, environment)
                for i, raw in enumerate(_section(file, doc, "key_value_replace"), start=1))
    fr = tuple(_find_replace_entry(file, i, raw, environment)
               for i, raw in enumerate(_section(file, doc, "find_replace"), start=1))
    return ParameterFile(path=file, root=Path(root), key_value_replace=kvr, find_replace=fr)


def _section(file: Path, doc: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    raw = doc.get(name)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise _fail(file, f"{name} must be a list of entries (each a mapping starting with '- ')")
    return raw


def _common(file: Path, section: str, index: int, raw: dict[str, Any], environment: str,
            required: str) -> dict[str, Any]:
    where = f"{section} entry {index}"
    extra = sorted(str(k) for k in raw if k not in _KEYS[section])
    if extra:
        raise _fail(file, f"{where}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(_KEYS[section]))}")
    for key in (required, "replace_value"):
        if not raw.get(key):
            raise _fail(file, f"{where}: '{key}' is missing or empty")
    replace_value = raw["replace_value"]
    if not isinstance(replace_value, dict) or not all(isinstance(k, str) for k in replace_value):
        raise _fail(file, f"{where}: replace_value must map environment names to values, e.g. "
                          "{dev: ..., prod: ...} or {_ALL_: ...}")
    keys = list(replace_value)
    if any(k.lower() == "_all_" for k in keys) and len(keys) > 1:
        raise _fail(file, f"{where}: _ALL_ must be the only key of replace_value (found {', '.join(keys)}); "
                          "drop _ALL_ or the environment keys")
    return {
        "section": section, "index": index, "replace_value": dict(replace_value),
        "item_type": _strings(file, where, "item_type", raw.get("item_type")),
        "item_name": _strings(file, where, "item_name", raw.get("item_name")),
        "file_path": _strings(file, where, "file_path", raw.get("file_path")),
    }


def _target_value(file: Path, common: dict[str, Any], environment: str) -> Any:
    """Checks the value the target environment will use (values of other environments are theirs)."""
    entry = _Entry(**common)
    has, value = entry.value_for(environment)
    if has and isinstance(value, str):
        try:
            parse_dynamic_value(value, where=entry.where)
        except ValueError as exc:
            raise _fail(file, str(exc)) from None
    return value


def _find_replace_entry(file: Path, index: int, raw: dict[str, Any], environment: str) -> FindReplace:
    common = _common(file, "find_replace", index, raw, environment, "find_value")
    where = f"find_replace entry {index}"
    find_value = raw["find_value"]
    if not isinstance(find_value, str):
        raise _fail(file, f"{where}: find_value must be a string (quote GUIDs and numbers)")
    for env, value in common["replace_value"].items():
        if not isinstance(value, str) or not value:
            raise _fail(file, f"{where}: the {env} replace_value must be a non-empty string")
    is_regex = _flag(file, where, "is_regex", raw.get("is_regex"))
    ignore_case = _flag(file, where, "ignore_case", raw.get("ignore_case"))
    if find_value.startswith("$items."):
        raise _fail(file, f"{where}: find_value cannot be an $items value (it names a deployed id, which no "
                          "source file holds)")
    if find_value.startswith("$workspace."):
        if is_regex:
            raise _fail(file, f"{where}: a $workspace find_value cannot be combined with is_regex")
        try:
            parse_dynamic_value(find_value, where=where)
        except ValueError as exc:
            raise _fail(file, str(exc)) from None
    if is_regex:
        try:
            compiled = re.compile(find_value, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise _fail(file, f"{where}: find_value is not a valid regular expression ({exc})") from None
        if compiled.groups != 1:
            raise _fail(file, f"{where}: a regex find_value needs exactly one capture group (the part that is "
                              f"replaced), it has {compiled.groups}; use (?:...) for other groups")
    _target_value(file, common, environment)
    return FindReplace(**common, find_value=find_value, is_regex=is_regex, ignore_case=ignore_case)


def _key_value_entry(file: Path, index: int, raw: dict[str, Any], environment: str) -> KeyValueReplace:
    from jsonpath_ng.ext import parse as parse_jsonpath

    common = _common(file, "key_value_replace", index, raw, environment, "find_key")
    where = f"key_value_replace entry {index}"
    find_key = raw["find_key"]
    if not isinstance(find_key, str) or not find_key.strip().startswith("$"):
        raise _fail(file, f"{where}: find_key must be an absolute JSONPath starting with '$', e.g. "
                          "$.properties.activities[?(@.name=='Copy')].typeProperties.source")
    try:
        expression = parse_jsonpath(find_key)
    except Exception as exc:  # jsonpath-ng raises several unrelated types for syntax errors
        raise _fail(file, f"{where}: find_key {find_key!r} is not a valid JSONPath ({exc})") from None
    values = list(common["replace_value"].values())
    if any(v is None for v in values):
        raise _fail(file, f"{where}: every replace_value needs a value")
    if len({type(v) for v in values}) > 1:
        raise _fail(file, f"{where}: replace_value has values of different types; use one type for every "
                          "environment")
    _target_value(file, common, environment)
    return KeyValueReplace(**common, find_key=find_key, expression=expression)


# ---------------------------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------------------------


def _value(raw: Any, resolve: Resolver, where: str) -> Any:
    if isinstance(raw, str):
        parsed = parse_dynamic_value(raw, where=where)
        if parsed is not None:
            return resolve(parsed)
    return raw


def _replace_ignoring_case(text: str, old: str, new: str) -> str:
    # A function, not a replacement string: the value is literal (no backslash escapes, no \\1).
    return re.sub(re.escape(old), lambda _m: new, text, flags=re.IGNORECASE)


def apply_parameters(
    parameters: ParameterFile,
    text: str,
    *,
    item_type: str,
    item_name: str,
    file: Path,
    environment: str,
    resolve: Resolver,
    matched: set[tuple[str, int]] | None = None,
) -> str:
    """``text`` with every entry applied that selects this file (key_value_replace first).

    ``matched`` collects (section, index) of key_value_replace entries whose JSONPath found something,
    so that the caller can refuse an entry that matches nothing.
    """
    for kv in parameters.key_value_replace:
        if not parameters.file_matches(kv, item_type, item_name, file):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            continue  # not a JSON file: key_value_replace does not apply (fabric-cicd also reads YAML)
        found = kv.expression.find(data)
        if found and matched is not None:
            matched.add((kv.section, kv.index))
        has, raw = kv.value_for(environment)
        if has and found:
            # Resolved only when something matched, as fabric-cicd does: an $items value names a
            # dependency of this file only if it lands in it.
            value = _value(raw, resolve, kv.where)
            for match in found:
                data = match.full_path.update(data, value)
        text = json.dumps(data)
    for fr in parameters.find_replace:
        if not parameters.file_matches(fr, item_type, item_name, file):
            continue
        has, raw = fr.value_for(environment)
        if not has:
            continue
        pattern = fr.find_value
        if pattern.startswith("$"):
            pattern = str(_value(pattern, resolve, fr.where))
            if not pattern:
                continue
        flags = re.IGNORECASE if fr.ignore_case else 0
        if fr.is_regex:
            compiled = re.compile(pattern, flags)
            first = compiled.search(text)
            if first is None:
                continue
            if not first.group(1):
                raise DefinitionError(f"{parameters.path}: {fr.where}: the regex captured an empty value in "
                                      f"{file}; make group 1 match the value to replace", field="parameter_file")
            replacement = str(_value(raw, resolve, fr.where))

            def swap(m: re.Match[str], replacement: str = replacement) -> str:
                whole, start = m.group(0), m.start(0)
                return whole[: m.start(1) - start] + replacement + whole[m.end(1) - start:]

            text = compiled.sub(swap, text)
        elif fr.ignore_case:
            if pattern.lower() in text.lower():
                text = _replace_ignoring_case(text, pattern, str(_value(raw, resolve, fr.where)))
        elif pattern in text:
            text = text.replace(pattern, str(_value(raw, resolve, fr.where)))
    return text
