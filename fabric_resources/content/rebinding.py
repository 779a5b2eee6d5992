"""Rebinding a workspace folder's items to one target workspace.

What Fabric's git integration writes refers to the items of its own workspace by logicalId, to the
workspace itself by the all-zero GUID, and to connections and outside items by the ids of the
environment it was exported from. :func:`render_item` turns one item's definition files into what
gets deployed to a target workspace, in fabric-cicd 1.4's order:

1. every logicalId of the folder's items is replaced by that item's deployed id (a plain text replace,
   anywhere in the file: ``ExecutePipeline`` ``typeProperties.pipeline.referenceName``,
   ``InvokePipeline`` ``typeProperties.pipelineId``, and anything else that names it);
2. ids mapped by ``connections`` / ``references`` (this project's per-stack maps, keyed by source id)
   are replaced, ignoring case;
3. the parameter file: key_value_replace, then find_replace (:mod:`.parameters`);
4. an all-zero GUID under a ``workspaceId``, ``workspace`` or ``default_lakehouse_workspace_id`` key
   becomes the target workspace's id.

:func:`plan_folder` renders every item once with stand-in ids to learn which items each one needs
(the deploy order) and to check, before any call: reference cycles, pipelines called by an id that
nothing rebinds, JSONPaths that match nothing, contents that do not validate. Pure code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fabric_resources import formats
from fabric_resources.content.folder import ZERO_GUID, RepositoryItem, WorkspaceFolder
from fabric_resources.content.parameters import ParameterFile, apply_parameters
from fabric_resources.definitions import parse_content, validate_content
from fabric_resources.errors import DefinitionError

__all__ = [
    "CONTENT_FILE",
    "Binding",
    "FolderPlan",
    "ItemPlan",
    "plan_folder",
    "render_item",
    "split_references",
]

CONTENT_FILE = "pipeline-content.json"
# A quoted (or bare) workspace key, then ':' or '=', then a quoted value; only all-zero values change.
_WORKSPACE_REFERENCE = re.compile(
    r'"?(?:default_lakehouse_workspace_id|workspaceId|workspace)"?\s*[:=]\s*"(?P<value>.*?)"')
# Where a pipeline names the pipeline it runs: (activity type, path inside typeProperties).
_PIPELINE_REFERENCES = (("ExecutePipeline", ("pipeline", "referenceName")), ("InvokePipeline", ("pipelineId",)))
# Stand-in ids are derived from this namespace so that a plan is the same on every run.
_STAND_IN = uuid.UUID("5d0c6f8e-27b1-4d53-9a3e-0f1c2b4a6e71")


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and formats.is_guid(value)


def split_references(mapping: Mapping[str, Any] | None, *, argument: str) -> tuple[dict[str, str], dict[str, str]]:
    """(by source id, lower-cased; by name) of a ``connections`` / ``references`` map."""
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for key, value in (mapping or {}).items():
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{argument} keys must be source ids or names (strings), not {key!r}",
                                  field=argument)
        if is_guid(key):
            by_id[key.lower()] = value
        else:
            by_name[key] = value
    return by_id, by_name


@dataclass(frozen=True)
class Binding:
    """What rebinding needs to know about the target: ids are the target workspace's."""

    workspace_id: str
    #: deployed id of each folder item, by logicalId in lower case
    item_ids: Mapping[str, str]
    environment: str
    parameters: ParameterFile | None = None
    #: source id (lower case) -> target id, from `connections` and `references`
    mapped_ids: Mapping[str, str] = field(default_factory=dict)
    #: "<Type>.<Name>" or "<Name>" -> target id of items outside the folder, for $items values
    named_items: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Trace:
    needs: set[str] = field(default_factory=set)  # logicalIds (lower case) of folder items used
    matched: set[tuple[str, int]] = field(default_factory=set)


def _replace_ignoring_case(text: str, old: str, new: str) -> str:
    return re.sub(re.escape(old), lambda _m: new, text, flags=re.IGNORECASE)


def render_file(item: RepositoryItem, path: str, text: str, folder: WorkspaceFolder, binding: Binding,
                trace: _Trace | None = None) -> str:
    """One definition file of ``item`` rebound to ``binding`` (steps 1-4 of the module docstring)."""
    trace = trace if trace is not None else _Trace()
    for other in folder.items:
        lid = other.logical_id
        if lid.lower() == ZERO_GUID or lid not in text:
            continue
        trace.needs.add(lid.lower())
        text = text.replace(lid, binding.item_ids[lid.lower()])
    for source, target in binding.mapped_ids.items():
        if source in text.lower():
            text = _replace_ignoring_case(text, source, target)
    if binding.parameters is not None:
        by_name = {(i.item_type, i.display_name): i for i in folder.items}

        def resolve(parsed: tuple[str, ...]) -> str:
            if parsed[0] == "workspace":
                return binding.workspace_id
            _, item_type, name = parsed
            target = by_name.get((item_type, name))
            if target is not None:
                trace.needs.add(target.logical_id.lower())
                return binding.item_ids[target.logical_id.lower()]
            for key in (f"{item_type}.{name}", name):
                if key in binding.named_items:
                    return binding.named_items[key]
            raise DefinitionError(
                f"{binding.parameters.path if binding.parameters else 'parameter.yml'}: $items.{item_type}.{name}.$id "
                f"names no item of the folder; add the item, or give its id in "
                f"references={{'{item_type}.{name}': '<id>'}}", field="references")

        text = apply_parameters(
            binding.parameters, text, item_type=item.item_type, item_name=item.display_name,
            file=item.directory / path, environment=binding.environment, resolve=resolve, matched=trace.matched)

    def workspace(match: re.Match[str]) -> str:
        if match.group("value") != ZERO_GUID:
            return match.group(0)
        return match.group(0).replace(ZERO_GUID, binding.workspace_id)

    return _WORKSPACE_REFERENCE.sub(workspace, text)


def render_item(item: RepositoryItem, folder: WorkspaceFolder, binding: Binding) -> dict[str, str]:
    """Every definition file of ``item`` (``.platform`` excluded) rebound to ``binding``."""
    return {path: render_file(item, path, text, folder, binding) for path, text in item.files.items()}


@dataclass(frozen=True)
class ItemPlan:
    item: RepositoryItem
    #: logicalIds (lower case) of the folder items whose ids this item's content needs
    needs: frozenset[str]


@dataclass(frozen=True)
class FolderPlan:
    folder: WorkspaceFolder
    #: items in an order that deploys every item after those it needs
    items: tuple[ItemPlan, ...]


def stand_in_id(logical_id: str) -> str:
    return str(uuid.uuid5(_STAND_IN, logical_id.lower()))


def _pipeline_references(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(where, referenced id) for each activity that runs another pipeline, nested ones included."""
    if isinstance(value, dict):
        kind = value.get("type")
        props = value.get("typeProperties")
        for activity_type, keys in _PIPELINE_REFERENCES:
            if kind == activity_type and isinstance(props, dict):
                ref: Any = props
                for key in keys:
                    ref = ref.get(key) if isinstance(ref, dict) else None
                other_workspace = props.get("workspaceId")
                if is_guid(other_workspace) and other_workspace != ZERO_GUID:
                    continue  # a pipeline of another workspace: not this folder's business
                yield f"{path}[{value.get('name')!r}]", ref
        for key, child in value.items():
            yield from _pipeline_references(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _pipeline_references(child, f"{path}[{index}]")


def plan_folder(folder: WorkspaceFolder, *, environment: str, parameters: ParameterFile | None = None,
                mapped_ids: Mapping[str, str] | None = None,
                named_items: Mapping[str, str] | None = None) -> FolderPlan:
    """Render every item with stand-in ids: its needs, the deploy order, and every check before a call."""
    stand_ins = {i.logical_id.lower(): stand_in_id(i.logical_id) for i in folder.items}
    known_targets = set(stand_ins.values())
    binding = Binding(workspace_id=stand_in_id("workspace"), item_ids=stand_ins, environment=environment,
                      parameters=parameters, mapped_ids=dict(mapped_ids or {}), named_items=dict(named_items or {}))
    known_targets.update(str(v).lower() for v in binding.mapped_ids.values() if isinstance(v, str))
    matched: set[tuple[str, int]] = set()
    plans: dict[str, ItemPlan] = {}
    for item in folder.items:
        trace = _Trace()
        for path, text in item.files.items():
            rendered = render_file(item, path, text, folder, binding, trace)
            if path == CONTENT_FILE:
                _check_content(item, text, rendered, known_targets)
        matched |= trace.matched
        plans[item.logical_id.lower() if item.logical_id.lower() != ZERO_GUID else item.label] = ItemPlan(
            item=item, needs=frozenset(trace.needs))
        _check_filtered_jsonpaths(item, parameters, trace.matched, environment)
    if parameters is not None:
        for kv in parameters.key_value_replace:
            has, _ = kv.value_for(environment)
            if has and (kv.section, kv.index) not in matched:
                raise DefinitionError(
                    f"{parameters.path}: {kv.where}: find_key {kv.find_key} matches nothing in any item of "
                    f"{folder.root}; fix the JSONPath (or remove the entry)", field="parameter_file")
    return FolderPlan(folder=folder, items=tuple(_ordered(plans)))


def _check_filtered_jsonpaths(item: RepositoryItem, parameters: ParameterFile | None,
                              matched: set[tuple[str, int]], environment: str) -> None:
    if parameters is None:
        return
    for kv in parameters.key_value_replace:
        has, _ = kv.value_for(environment)
        # Naming items or files says "this is there"; a type filter only narrows "everywhere".
        if not has or (kv.item_name is None and kv.file_path is None) or (kv.section, kv.index) in matched:
            continue
        selected = [p for p in item.files if parameters.file_matches(kv, item.item_type, item.display_name,
                                                                      item.directory / p)]
        if selected:
            raise DefinitionError(
                f"{parameters.path}: {kv.where}: find_key {kv.find_key} matches nothing in "
                f"{item.directory / selected[0]}, which its filters select; fix the JSONPath or the filters",
                field="parameter_file")


def _check_content(item: RepositoryItem, source: str, rendered: str, known_targets: set[str]) -> None:
    where = item.directory / CONTENT_FILE
    content = parse_content(rendered, source=str(where))
    try:
        validate_content(content)
    except DefinitionError as exc:
        raise DefinitionError(f"{where}: {exc}", field="path") from None
    before = dict(_pipeline_references(parse_content(source, source=str(where))))
    for place, ref in _pipeline_references(content):
        if not is_guid(ref) or ref.lower() in known_targets:
            continue
        if before.get(place) == ref:
            raise DefinitionError(
                f"{where}: {place} runs pipeline {ref}, which is the logicalId of no item in the folder and is "
                "mapped neither by `references` nor by the parameter file; add that pipeline's item folder, or "
                f"map it with references={{'{ref}': '<pipeline id in this environment>'}}", field="path")


def _ordered(plans: dict[str, ItemPlan]) -> list[ItemPlan]:
    """Items ordered so that each comes after what it needs; a cycle is an error naming it."""
    done: list[ItemPlan] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def label(key: str) -> str:
        return str(plans[key].item.directory / CONTENT_FILE)

    def visit(key: str) -> None:
        state[key] = 1
        stack.append(key)
        for need in sorted(plans[key].needs):
            if state.get(need) == 1:
                cycle = [*stack[stack.index(need):], need]
                names = " -> ".join(f"'{plans[k].item.display_name}'" for k in cycle)
                raise DefinitionError(
                    f"{label(key)}: pipelines refer to each other in a cycle ({names}; each names the next "
                    "by logicalId or $items); Fabric needs each id before the next item exists, so remove one "
                    "of these references", field="path")
            if state.get(need) is None:
                visit(need)
        stack.pop()
        state[key] = 2
        done.append(plans[key])

    for key in plans:
        if key not in state:
            visit(key)
    return done
