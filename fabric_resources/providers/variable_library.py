"""VariableLibrary: a Fabric variable library, its definition and its active value set.

The program side loads the definition from a git-format `<Name>.VariableLibrary/` folder (variables.json,
settings.json, valueSets/<name>.json, .platform) or from a dict of those files, and hands the provider the
files' text as authored (one JSON object: part path -> text). That text is what is sent; comparisons use a
canonical form (parsed JSON, `$schema` and formatting ignored, a missing settings.json read as the value
sets in file-name order), so a portal edit of a value shows as drift and reformatting does not.

`active_value_set` is chosen per stack (`dev` activates one set, `prod` another); left unset, the active
set is not managed. `check` validates everything before any call: variable types and values, value sets
naming only declared variables, the active set existing.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from fabric_resources.definitions import canonical_hash
from fabric_resources.errors import AlreadyExistsError, DefinitionError
from fabric_resources.models import DefinitionPart, ItemDefinition
from fabric_resources.models.variable_libraries import (
    DEFAULT_VALUE_SET,
    SETTINGS_PART,
    VALUE_SETS_DIR,
    VARIABLE_LIBRARY_FORMAT,
    VARIABLES_PART,
    VariableLibraryContent,
    VariableLibraryDefinitionError,
)
from fabric_resources.providers._base import (
    FabricProvider,
    InputsModel,
    allow_not_found,
    contains_unknown,
    default_logical_id,
    describe_error,
    lower_id,
    optional_text,
    platform_logical_id,
    platform_part,
    translate_errors,
)
from fabric_resources.providers._ownership import create_owned_item, found_for_conflict, prove_ownership
from fabric_resources.providers._tags import TaggedItem

__all__ = [
    "VariableLibrary",
    "VariableLibraryProvider",
    "canonical_library",
    "load_variable_library",
]

ITEM_TYPE = "VariableLibrary"
LABEL = "variable library"
PLATFORM = ".platform"


# -- definition text ---------------------------------------------------------------------------


def library_files(text: str) -> dict[str, str]:
    """The part path -> text map a definition input holds; DefinitionError when it is not one."""
    try:
        files = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"definition: not a JSON object of files ({exc})", field="definition") from None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise DefinitionError("definition: expected a JSON object of part path -> file text", field="definition")
    return {path.replace("\\", "/"): body for path, body in files.items() if path != PLATFORM}


def parse_library(text: str) -> VariableLibraryContent:
    try:
        return VariableLibraryContent.from_files(library_files(text))
    except VariableLibraryDefinitionError as exc:
        raise DefinitionError(str(exc), field="definition") from None


def _without_schema(doc: Any) -> Any:
    return {k: v for k, v in doc.items() if k != "$schema"} if isinstance(doc, dict) else doc


def canonical_library(text: Any) -> Any:
    """The canonical JSON of a definition input (unchanged when it cannot be read)."""
    if not isinstance(text, str):
        return text
    try:
        files = library_files(text)
        docs = {path: _without_schema(json.loads(body)) for path, body in files.items()}
    except (DefinitionError, ValueError):
        return text
    if SETTINGS_PART not in docs:
        docs[SETTINGS_PART] = {"valueSetsOrder": [
            json.loads(files[p]).get("name") for p in sorted(files) if p.startswith(VALUE_SETS_DIR)]}
    return json.dumps(docs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _definition(text: str, identity: tuple[str, str | None, str] | None = None) -> ItemDefinition:
    """What is sent: the files as authored (plus a settings.json listing the sets, when none was given),
    and, given ``identity`` (display name, description, logicalId), the `.platform` that marks the
    item as this resource's."""
    files: dict[str, bytes | str] = dict(library_files(text))
    if SETTINGS_PART not in files:
        order = [json.loads(files[p]).get("name") for p in sorted(files) if p.startswith(VALUE_SETS_DIR)]
        files[SETTINGS_PART] = json.dumps({"valueSetsOrder": order}, indent=2)
    definition = ItemDefinition.from_files(files, format=VARIABLE_LIBRARY_FORMAT)
    if identity is not None:
        definition.parts.append(DefinitionPart.model_validate(platform_part(ITEM_TYPE, *identity)))
    return definition


def _identity(props: Mapping[str, Any]) -> tuple[str, str | None, str] | None:
    logical_id = lower_id(props.get("logical_id"))
    if not logical_id:
        return None
    return props["display_name"], optional_text(props.get("description")), logical_id


def _live_text(definition: ItemDefinition) -> str:
    files = {p.path: p.data.decode("utf-8", errors="replace") for p in definition.parts if p.path != PLATFORM}
    return json.dumps(files, sort_keys=True, ensure_ascii=False)


# -- provider ----------------------------------------------------------------------------------


class VariableLibraryProvider(TaggedItem, FabricProvider):
    item_type = ITEM_TYPE
    kind = "VariableLibrary"
    inputs_model = InputsModel("VariableLibraryArgs")
    replace_on = ("workspace_id",)
    compared = ("display_name", "description", "definition", "active_value_set", "folder_id", "logical_id")
    # Unset means not managed: whatever set is active, folder or description stays and is no change;
    # a logicalId left unset is Fabric's to choose.
    unmanaged_when_unset = ("description", "active_value_set", "folder_id", "logical_id")
    output_only = ("definition_hash",)
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "description": optional_text,
        "definition": canonical_library,
        "folder_id": lambda v: lower_id(optional_text(v)),
        "active_value_set": lambda v: v or DEFAULT_VALUE_SET,
        "logical_id": lower_id,
    }

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        text = inputs.get("definition")
        if not isinstance(text, str) or contains_unknown(text):
            return []
        try:
            content = parse_library(text)
        except DefinitionError as exc:
            return [CheckFailure("definition", f"VariableLibrary: invalid 'definition': {exc}")]
        active = inputs.get("active_value_set")
        if isinstance(active, str) and not content.has_value_set(active):
            return [CheckFailure("active_value_set", (
                f"VariableLibrary: 'active_value_set' is '{active}', which the definition does not define; "
                f"choose one of: {', '.join(content.value_set_names())}"))]
        return []

    @staticmethod
    def _outputs(ws_id: str, item: Any, text: str, props: Mapping[str, Any],
                 logical_id: str | None = None) -> dict[str, Any]:
        return {
            "workspace_id": ws_id,
            "display_name": item.display_name,
            "description": optional_text(item.description),
            "definition": text,
            "definition_hash": canonical_hash(canonical_library(text)),
            "active_value_set": item.active_value_set_name or DEFAULT_VALUE_SET,
            "folder_id": lower_id(optional_text(getattr(item, "folder_id", None))),
            "logical_id": lower_id(logical_id if logical_id is not None else props.get("logical_id")),
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        libraries = self.client.variable_libraries
        ws_id = props["workspace_id"]
        name = props["display_name"]
        description = optional_text(props.get("description"))
        text = props["definition"]
        active = props.get("active_value_set")
        item = create_owned_item(
            label=LABEL, ws_id=ws_id, name=name,
            create=lambda find: libraries.create(ws_id, display_name=name, description=description,
                                                 definition=_definition(text, _identity(props)),
                                                 folder_id=optional_text(props.get("folder_id")), find=find),
            find=lambda: libraries.find(ws_id, name, type=ITEM_TYPE),
            take_over=lambda found, reason: self._take_over(ws_id, found.id, props, reason),
            on_conflict=lambda exc: self._take_over(ws_id, self._existing(ws_id, props, exc).id, props,
                                                    describe_error(exc)),
        )
        if active and active != (item.active_value_set_name or DEFAULT_VALUE_SET):
            with translate_errors(f"activating value set '{active}' of variable library '{name}'"):
                item = libraries.set_active_value_set(ws_id, item.id, active)
        return CreateResult(item.id, self._outputs(ws_id, item, text, props))

    def _existing(self, ws_id: str, props: dict[str, Any], exc: AlreadyExistsError) -> Any:
        """The create was refused as a duplicate: the library it ran into, for _take_over to judge."""
        name = props["display_name"]
        return found_for_conflict(
            label=LABEL, ws_id=ws_id, name=name, logical_id=lower_id(props.get("logical_id")),
            adopt=bool(props.get("adopt_existing")), exc=exc,
            find=lambda: self.client.variable_libraries.find(ws_id, name, type=ITEM_TYPE),
            find_by_logical_id=lambda wanted: self._find_by_logical_id(ws_id, wanted))

    def _find_by_logical_id(self, ws_id: str, logical_id: str) -> Any:
        libraries = self.client.variable_libraries
        for item in self.client.items.list(ws_id, type=ITEM_TYPE):
            if platform_logical_id(libraries.get_definition(ws_id, item.id)) == logical_id:
                return item
        return None

    def _take_over(self, ws_id: str, item_id: str, props: dict[str, Any], reason: str) -> Any:
        """Converge an existing library of the declared name if it carries this resource's logicalId
        (an earlier create of it that never reached the state) or adoption is asked for; else refuse
        (see _ownership)."""
        libraries = self.client.variable_libraries
        name = props["display_name"]
        with translate_errors(f"reading variable library '{name}' in workspace {ws_id}"):
            live_id = platform_logical_id(libraries.get_definition(ws_id, item_id))
        ours = prove_ownership(label=LABEL, ws_id=ws_id, item_name=name, item_id=item_id,
                               logical_id=lower_id(props.get("logical_id")), live_id=live_id,
                               adopt=bool(props.get("adopt_existing")), reason=reason)
        item = self._adopt(ws_id, item_id, name, props.get("description"), props["definition"],
                           props.get("active_value_set"), _identity(props), new_id=not ours)
        folder = lower_id(optional_text(props.get("folder_id")))
        if props.get("folder_id") is not None and lower_id(optional_text(item.folder_id)) != folder:
            # Taking over includes the declared folder, in the same `up`.
            with translate_errors(f"moving variable library '{name}' in workspace {ws_id}"):
                self.client.items.move(ws_id, item_id, target_folder_id=folder)
                item = libraries.get(ws_id, item_id)
        return item

    def _adopt(self, ws_id: str, item_id: str, name: str, description: str | None, text: str, active: str | None,
               identity: tuple[str, str | None, str] | None = None, *, new_id: bool = False) -> Any:
        """Converge the library taken over: its name (one found by its logicalId may have been renamed),
        description when declared, definition and active set."""
        libraries = self.client.variable_libraries
        with translate_errors(f"adopting variable library '{name}' in workspace {ws_id}"):
            item = libraries.get(ws_id, item_id)
            # None: the description is not managed; "" clears it.
            new_description = description is not None and optional_text(item.description) != optional_text(description)
            if item.display_name != name or new_description:
                libraries.update(ws_id, item.id, display_name=name,
                                 description=(optional_text(description) or "") if new_description else None)
            live = item.active_value_set_name or DEFAULT_VALUE_SET
            self._put_definition(ws_id, item.id, text, live, active, identity,
                                 update_metadata=new_id and identity is not None)
            return libraries.get(ws_id, item.id)

    def _put_definition(self, ws_id: str, item_id: str, text: str, live_active: str, wanted: str | None,
                        identity: tuple[str, str | None, str] | None = None, *, update_metadata: bool = False) -> None:
        """Send a new definition; Fabric refuses one that drops the active set, so switch first.
        ``update_metadata`` applies the `.platform` of ``identity`` (a new logicalId) too."""
        libraries = self.client.variable_libraries
        content = parse_library(text)
        if not content.has_value_set(live_active):
            libraries.set_active_value_set(ws_id, item_id, DEFAULT_VALUE_SET)
        libraries.update_definition(ws_id, item_id, _definition(text, identity), update_metadata=update_metadata)
        if wanted and wanted != live_active:
            libraries.set_active_value_set(ws_id, item_id, wanted)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        libraries = self.client.variable_libraries
        ws_id = props["workspace_id"]
        found = allow_not_found(f"reading variable library {id_} in workspace {ws_id}",
                                lambda: (libraries.get(ws_id, id_), libraries.get_definition(ws_id, id_)))
        if found is None:
            return ReadResult("", {})
        item, definition = found
        outs = self._outputs(ws_id, item, _live_text(definition), props, platform_logical_id(definition))
        inputs = {k: v for k, v in outs.items() if k != "definition_hash"}
        if props.get("active_value_set") is None:
            inputs.pop("active_value_set")  # not managed: never drift
        if props.get("logical_id") is None:
            inputs.pop("logical_id")
        return ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        libraries = self.client.variable_libraries
        ws_id = news["workspace_id"]
        name = news["display_name"]
        # None: not managed, left as it is; "" clears the description / puts the item at the root.
        declared_description = news.get("description")
        new_description = declared_description is not None and \
            optional_text(declared_description) != optional_text(olds.get("description"))
        text = news["definition"]
        norm = self.normalizers
        live_active = olds.get("active_value_set") or DEFAULT_VALUE_SET
        wanted = news.get("active_value_set")
        with translate_errors(f"updating variable library '{name}' ({id_})"):
            if name != olds.get("display_name") or new_description:
                libraries.update(ws_id, id_, display_name=name,
                                 description=(optional_text(declared_description) or "") if new_description else None)
            new_id = news.get("logical_id") is not None and lower_id(news["logical_id"]) != lower_id(
                olds.get("logical_id"))
            if norm["definition"](text) != norm["definition"](olds.get("definition")) or new_id:
                self._put_definition(ws_id, id_, text, live_active, wanted, _identity(news), update_metadata=new_id)
            elif wanted and wanted != live_active:
                libraries.set_active_value_set(ws_id, id_, wanted)
            new_folder = norm["folder_id"](news.get("folder_id"))
            if news.get("folder_id") is not None and new_folder != norm["folder_id"](olds.get("folder_id")):
                # Moving is an items-API call (there is no variableLibraries twin for it).
                self.client.items.move(ws_id, id_, target_folder_id=new_folder)
            item = libraries.get(ws_id, id_)
        return UpdateResult(self._outputs(ws_id, item, text, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id = props["workspace_id"]
        allow_not_found(f"deleting variable library {id_} in workspace {ws_id}",
                        lambda: self.client.variable_libraries.delete(ws_id, id_))


_PROVIDER = VariableLibraryProvider()


# -- program side ------------------------------------------------------------------------------


def _file_text(path: str, content: Any) -> Any:
    """A file's text: strings as written, dicts (which may hold Outputs) as JSON once resolved."""
    if isinstance(content, str | bytes):
        return content.decode("utf-8") if isinstance(content, bytes) else content
    return pulumi.Output.from_input(content).apply(lambda doc: json.dumps(doc, indent=2, ensure_ascii=False))


def load_variable_library(
    definition: Mapping[str, Any] | str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> tuple[dict[str, Any], str | None, str | None, Any]:
    """({part path: text or Output[text]}, display name, description and the raw ``config.logicalId``
    from .platform, read once).

    ``definition`` is a `<Name>.VariableLibrary/` folder (relative to ``base_dir``) or a dict of
    ``{"variables.json": ..., "settings.json": ..., "valueSets/<name>.json": ...}`` (dicts or text).
    """
    if isinstance(definition, Mapping):
        files = {str(p).replace("\\", "/"): _file_text(str(p), c) for p, c in definition.items()}
        return files, None, None, None
    folder = Path(definition)
    if not folder.is_absolute():
        folder = Path(base_dir or os.getcwd()) / folder
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: not a folder (expected a <Name>.VariableLibrary/ folder)",
                              field="definition")
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and (rel in (VARIABLES_PART, SETTINGS_PART) or rel.startswith(VALUE_SETS_DIR)):
            files[rel] = path.read_text(encoding="utf-8")
    name = description = logical_id = None
    platform = folder / PLATFORM
    if platform.is_file():
        try:
            doc = json.loads(platform.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DefinitionError(f"{platform}: not valid JSON ({exc})", field="definition") from None
        meta = doc.get("metadata", {})
        name, description = meta.get("displayName"), meta.get("description") or None
        config = doc.get("config")
        logical_id = config.get("logicalId") if isinstance(config, dict) else None
    if name is None and folder.name.endswith(".VariableLibrary"):
        name = folder.name[: -len(".VariableLibrary")]
    return files, name, description, logical_id


def _folder_logical_id(value: Any, definition: Any, base_dir: str | os.PathLike[str] | None) -> str | None:
    """The raw ``config.logicalId`` load_variable_library read from a folder's `.platform`, in lower
    case; None when absent or the all-zero placeholder; refused when it is not a GUID."""
    try:
        return value.lower() if isinstance(value, str) and uuid.UUID(value).int else None
    except ValueError:
        platform = Path(base_dir or os.getcwd()) / Path(definition) / PLATFORM
        raise DefinitionError(f"{platform}: config.logicalId {value!r} is not a GUID; fix it or remove it",
                              field=f"{PLATFORM}.config.logicalId") from None


class VariableLibrary(Resource, module="fabric", name="VariableLibrary"):
    """A Fabric variable library. The resource id is the item id.

    `definition` is a `<Name>.VariableLibrary/` folder or a dict of its files (values may be Outputs,
    e.g. another item's id as a variable's value); `active_value_set` names the value set this stack
    activates ("Default value set" is the variables' own values). `display_name`/`description` default
    to the folder's .platform metadata (or its name).
    """

    workspace_id: pulumi.Output[str]
    display_name: pulumi.Output[str]
    description: pulumi.Output[str | None]
    definition: pulumi.Output[str]
    definition_hash: pulumi.Output[str]
    active_value_set: pulumi.Output[str]
    folder_id: pulumi.Output[str | None]
    logical_id: pulumi.Output[str | None]
    adopt_existing: pulumi.Output[bool]
    tags: pulumi.Output[list[str] | None]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        definition: Mapping[str, Any] | str | os.PathLike[str],
        display_name: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        active_value_set: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        folder_id: pulumi.Input[str] | None = None,
        adopt_existing: bool = False,
        tags: pulumi.Input[list[str]] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        logical_id: pulumi.Input[str] | None = None,
    ) -> None:
        files, platform_name, platform_description, folder_logical_id = load_variable_library(
            definition, base_dir=base_dir)
        if logical_id is None:
            # The folder's own identity (git integration's), else one derived from project/stack/name.
            logical_id = _folder_logical_id(folder_logical_id, definition, base_dir) or default_logical_id(
                pulumi.get_project(), pulumi.get_stack(), resource_name, ITEM_TYPE)
        display_name = display_name if display_name is not None else platform_name
        if display_name is None:
            raise DefinitionError(f"VariableLibrary '{resource_name}': display_name is required", field="display_name")
        text = pulumi.Output.all(**files).apply(lambda fs: json.dumps(fs, sort_keys=True, ensure_ascii=False))
        props = {
            "workspace_id": workspace_id,
            "display_name": display_name,
            "description": description if description is not None else platform_description,
            "definition": text,
            "active_value_set": active_value_set,
            "folder_id": folder_id,
            "logical_id": logical_id,
            "adopt_existing": adopt_existing,
            "tags": tags,
            "definition_hash": None,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
