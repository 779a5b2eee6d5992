"""DataPipeline: a Fabric data pipeline item and its definition (pipeline-content.json).

The program side (`DataPipeline.__init__`) loads the definition (dict, file or item folder), fills its
`{{ token }}`s from `parameters` and hands the provider the final text, formatted as the user wrote it.
Values known only at deploy time (Outputs, e.g. another pipeline's id) may sit anywhere inside a
definition dict or a parameter value; they also order the deployment. That text is what is sent to
Fabric and what the state records. The canonical form (sorted keys, fields the service adds or
defaults dropped) is used only to compare, so key order, whitespace and service defaults never
count as a change, while an activity edited in the portal does (refresh reads the live definition).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from fabric_resources.definitions import (
    CONTENT_FILE,
    build_definition_parts,
    canonical_hash,
    canonical_json,
    content_text_of,
    load_definition,
    parse_content,
    parse_definition_parts,
    validate_content,
)
from fabric_resources.errors import AlreadyExistsError, DefinitionError
from fabric_resources.providers._base import (
    FabricProvider,
    InputsModel,
    allow_not_found,
    default_logical_id,
    describe_error,
    holds_outputs,
    is_deploy_time,
    lower_id,
    optional_text,
    platform_logical_id,
    translate_errors,
)
from fabric_resources.providers._listing import LISTINGS
from fabric_resources.providers._ownership import create_owned_item, found_for_conflict, prove_ownership
from fabric_resources.providers._tags import TaggedItem

if TYPE_CHECKING:
    from fabric_resources.models import Item, ItemDefinition

__all__ = ["EMPTY_PIPELINE", "DataPipeline", "DataPipelineProvider", "default_logical_id"]

ITEM_TYPE = "DataPipeline"
LABEL = "data pipeline"
EMPTY_PIPELINE: dict[str, Any] = {"properties": {"activities": []}}


def canonical_text(text: Any) -> Any:
    """The canonical JSON of definition text (unchanged when it is not valid JSON)."""
    if not isinstance(text, str):
        return text
    if len(text) <= _MEMO_MAX_TEXT:
        return _canonical_memo(text)
    return _canonical_uncached(text)


def _canonical_uncached(text: str) -> str:
    try:
        return canonical_json(parse_content(text))
    except DefinitionError:
        return text


# A preview canonicalises each definition several times (check, then diff of the state's text and of
# the new one, which are usually the same text): once per distinct text is enough. Bounded, and only
# for texts of ordinary size, so a process never holds more than a few megabytes of them.
_MEMO_MAX_TEXT = 64 * 1024
_canonical_memo = functools.lru_cache(maxsize=512)(_canonical_uncached)


def _content_problem_uncached(text: str) -> str | None:
    try:
        validate_content(parse_content(text, source="definition"))
    except DefinitionError as exc:
        return str(exc)
    return None


_content_problem_memo = functools.lru_cache(maxsize=512)(_content_problem_uncached)


def content_problem(text: str) -> str | None:
    """Why definition text is not a valid pipeline, or None (validated once per distinct text)."""
    return _content_problem_memo(text) if len(text) <= _MEMO_MAX_TEXT else _content_problem_uncached(text)


class DataPipelineProvider(TaggedItem, FabricProvider):
    item_type = ITEM_TYPE
    kind = "DataPipeline"
    inputs_model = InputsModel("DataPipelineArgs")
    replace_on = ("workspace_id",)
    compared = ("display_name", "description", "definition", "folder_id", "logical_id")
    # A logicalId left unset is Fabric's to choose; a description or folder left unset is whatever
    # the portal or the .platform made it: none of them is ever a change, none is ever undone.
    unmanaged_when_unset = ("description", "folder_id", "logical_id")
    output_only = ("definition_hash",)
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "description": optional_text,
        "definition": canonical_text,
        "folder_id": lambda v: lower_id(optional_text(v)),
        "logical_id": lower_id,
    }

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        text = inputs.get("definition")
        if not isinstance(text, str):
            return []
        problem = content_problem(text)
        if problem is not None:
            return [CheckFailure("definition", f"DataPipeline: invalid 'definition': {problem}")]
        return []

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _definition(text: str, display_name: str, description: str | None,
                    logical_id: str | None = None) -> ItemDefinition:
        # The content is the user's; the `.platform` part is ours to write, and only to carry the
        # logicalId that marks the item as this resource's (Fabric keeps it from create on).
        platform = {"config": {"version": "2.0", "logicalId": logical_id}} if logical_id else None
        parts = build_definition_parts(text, platform, display_name=display_name, description=description)
        from fabric_resources.models import ItemDefinition  # pydantic: the provider process only

        return ItemDefinition.model_validate({"parts": parts})

    @staticmethod
    def _outputs(ws_id: str, item: Any, text: str, canonical: str, props: Mapping[str, Any],
                 logical_id: str | None = None) -> dict[str, Any]:
        """The outputs: ``text`` is the definition as sent (or read), ``canonical`` its canonical JSON
        (computed once by the caller), whose hash is the definition's identity."""
        return {
            "workspace_id": ws_id,
            "display_name": item.display_name,
            "description": optional_text(item.description),
            "definition": text,
            "definition_hash": canonical_hash(canonical),
            "folder_id": optional_text(getattr(item, "folder_id", None)),
            "logical_id": lower_id(logical_id if logical_id is not None else props.get("logical_id")),
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    # -- CRUD --------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client
        ws_id = props["workspace_id"]
        name = props["display_name"]
        description = optional_text(props.get("description"))
        text = props["definition"]
        logical_id = lower_id(props.get("logical_id"))
        canonical = canonical_json(parse_content(text))
        item = create_owned_item(
            label=LABEL, ws_id=ws_id, name=name,
            create=lambda find: client.items.create(
                ws_id, display_name=name, type=ITEM_TYPE, description=description,
                definition=self._definition(text, name, description, logical_id),
                folder_id=optional_text(props.get("folder_id")), find=find),
            find=lambda: client.items.find(ws_id, name, type=ITEM_TYPE),
            take_over=lambda found, reason: self._take_over(ws_id, found, props, canonical, reason=reason),
            on_conflict=lambda exc: self._existing(ws_id, props, canonical, exc),
        )
        return CreateResult(item.id, self._outputs(ws_id, item, text, canonical, props))

    def _existing(self, ws_id: str, props: dict[str, Any], canonical: str, exc: AlreadyExistsError) -> Any:
        """The create was refused as a duplicate: the item it ran into, if _take_over accepts it."""
        name = props["display_name"]
        found = found_for_conflict(
            label=LABEL, ws_id=ws_id, name=name, logical_id=lower_id(props.get("logical_id")),
            adopt=bool(props.get("adopt_existing")), exc=exc,
            find=lambda: self.client.items.find(ws_id, name, type=ITEM_TYPE),
            find_by_logical_id=lambda wanted: self._find_by_logical_id(ws_id, wanted))
        return self._take_over(ws_id, found, props, canonical, reason=describe_error(exc))

    def _find_by_logical_id(self, ws_id: str, logical_id: str) -> Item | None:
        client = self.client
        for item in client.items.list(ws_id, type=ITEM_TYPE):
            if platform_logical_id(client.items.get_definition(ws_id, item.id)) == logical_id:
                return item
        return None

    def _take_over(self, ws_id: str, item: Item, props: dict[str, Any], canonical: str, *, reason: str) -> Any:
        """Bring ``item`` to the declared state if it is ours or adoption is asked for (see _ownership)."""
        with translate_errors(f"reading data pipeline '{item.display_name}' in workspace {ws_id}"):
            live = self.client.items.get_definition(ws_id, item.id)
        live_id = platform_logical_id(live)
        prove_ownership(label=LABEL, ws_id=ws_id, item_name=item.display_name, item_id=item.id,
                        logical_id=lower_id(props.get("logical_id")), live_id=live_id,
                        adopt=bool(props.get("adopt_existing")), reason=reason)
        return self._converge(ws_id, item, live, props, canonical, live_id=live_id)

    def _converge(self, ws_id: str, item: Item, live: ItemDefinition, props: dict[str, Any], canonical: str,
                  *, live_id: str | None) -> Any:
        """Make a found item what the resource declares: name, description, definition (compared
        canonically, sent as declared), logicalId and folder; each call only when it differs."""
        client = self.client
        name = props["display_name"]
        declared_description = props.get("description")  # None: not managed
        description = optional_text(declared_description)
        logical_id = lower_id(props.get("logical_id"))
        declared_folder = props.get("folder_id")  # None: not managed; "": the workspace root
        folder = lower_id(optional_text(declared_folder))
        with translate_errors(f"taking over data pipeline '{item.display_name}' in workspace {ws_id}"):
            new_description = declared_description is not None and optional_text(item.description) != description
            if item.display_name != name or new_description:
                item = client.items.update(ws_id, item.id, display_name=name,
                                           description=(description or "") if new_description else None)
            try:
                live_content, _platform = parse_definition_parts(live.parts)
                same_content = canonical_json(live_content) == canonical
            except DefinitionError:
                same_content = False  # unreadable live content: replace it with the declared one
            new_id = logical_id is not None and live_id != logical_id
            if not same_content or new_id:
                client.items.update_definition(
                    ws_id, item.id, self._definition(props["definition"], name, description, logical_id),
                    update_metadata=new_id,
                )
            if declared_folder is not None and lower_id(optional_text(item.folder_id)) != folder:
                item = client.items.move(ws_id, item.id, target_folder_id=folder)
        return item

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self.client
        ws_id = props["workspace_id"]

        def fetch() -> tuple[Any, ItemDefinition]:
            # The item from the workspace listing this refresh shares (one GET if it is not listed);
            # the definition is always read: nothing else tells whether it changed.
            item = LISTINGS.item(client, ws_id, id_, type=ITEM_TYPE) or client.items.get(ws_id, id_)
            return item, client.items.get_definition(ws_id, id_)

        found = allow_not_found(f"reading data pipeline {id_} in workspace {ws_id}", fetch)
        if found is None:
            return ReadResult("", {})
        item, definition = found
        text, canonical = self._live_definition(id_, item, definition.parts, props.get("definition"))
        outs = self._outputs(ws_id, item, text, canonical, props, platform_logical_id(definition))
        inputs = {k: v for k, v in outs.items() if k != "definition_hash"}
        if props.get("logical_id") is None:
            inputs.pop("logical_id")  # not managed: nothing to drift from
        return ReadResult(id_, outs, inputs)

    @staticmethod
    def _live_definition(id_: str, item: Any, parts: Any, recorded: Any) -> tuple[str, str]:
        """(text, canonical JSON) of the live definition for read.

        When it means what the state records, the recorded text (the user's) is kept, so a service
        that reformats on export shows no drift. A live definition that cannot be parsed is drift
        too: its text is returned behind a line naming the pipeline and the problem, and the next
        `up` writes the declared definition over it.
        """
        def unreadable(exc: DefinitionError, live: str) -> tuple[str, str]:
            text = (
                f"[the live definition of data pipeline '{item.display_name}' ({id_}) cannot be read: "
                f"{describe_error(exc)}; `pulumi up` writes the declared definition over it]\n{live}"
            )
            return text, text

        try:
            live = content_text_of(parts)
        except DefinitionError as exc:
            return unreadable(exc, "")
        try:
            canonical = canonical_json(parse_content(live, source=f"the live {CONTENT_FILE}"))
        except DefinitionError as exc:
            return unreadable(exc, live)
        if isinstance(recorded, str) and canonical_text(recorded) == canonical:
            return recorded, canonical
        return live, canonical

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client
        ws_id = news["workspace_id"]
        name = news["display_name"]
        # None: not managed, left as it is; "" clears the description / puts the item at the root.
        declared_description = news.get("description")
        new_description = declared_description is not None and \
            optional_text(declared_description) != optional_text(olds.get("description"))
        description = optional_text(declared_description if declared_description is not None
                                    else olds.get("description"))
        text = news["definition"]
        canonical = canonical_json(parse_content(text))
        norm = self.normalizers
        with translate_errors(f"updating data pipeline '{name}' ({id_})"):
            item: Any = None
            if name != olds.get("display_name") or new_description:
                item = client.items.update(ws_id, id_, display_name=name,
                                           description=(description or "") if new_description else None)
            logical_id = lower_id(news.get("logical_id"))
            new_id = logical_id is not None and logical_id != lower_id(olds.get("logical_id"))
            if canonical != norm["definition"](olds.get("definition")) or new_id:
                # A new logicalId is applied only with updateMetadata (the .platform's name and
                # description sent are the current ones, so nothing else changes with it).
                client.items.update_definition(ws_id, id_, self._definition(text, name, description, logical_id),
                                               update_metadata=new_id)
            folder = norm["folder_id"](olds.get("folder_id"))
            if news.get("folder_id") is not None and norm["folder_id"](news["folder_id"]) != folder:
                # "" moves it back to the workspace root (e.g. undoing a move made in the portal).
                folder = norm["folder_id"](news["folder_id"])
                item = client.items.move(ws_id, id_, target_folder_id=folder)
            if item is None:
                # Nothing answered with the item: the declared values are what Fabric now holds.
                item = SimpleNamespace(display_name=name, description=description, folder_id=folder)
        return UpdateResult(self._outputs(ws_id, item, text, canonical, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id = props["workspace_id"]
        allow_not_found(f"deleting data pipeline {id_} in workspace {ws_id}",
                        lambda: self.client.items.delete(ws_id, id_))


_PROVIDER = DataPipelineProvider()


def _plain(value: Any, stand_in: str | None = None) -> Any:
    """Mappings as dicts and tuples as lists (what Output.from_input unwraps); with ``stand_in``,
    each deploy-time value replaced by that string (to look for tokens before the values exist)."""
    if is_deploy_time(value):
        return value if stand_in is None else stand_in
    if isinstance(value, Mapping):
        return {k: _plain(v, stand_in) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, stand_in) for v in value]
    return value


def _require_parameters(source: str, tokens: list[str], params: Mapping[str, Any]) -> None:
    missing = [t for t in tokens if t not in params]
    if missing:
        listed = ", ".join("{{ " + t + " }}" for t in missing)
        raise DefinitionError(
            f"{source}: {listed} ha{'ve' if len(missing) > 1 else 's'} no value in parameters "
            f"(given: {', '.join(sorted(params)) or 'none'})",
            field=f"parameters.{missing[0]}",
        )


def render_definition(
    definition: Mapping[str, Any] | str | os.PathLike[str] | None,
    parameters: Mapping[str, Any] | None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> tuple[pulumi.Input[str], str | None, str | None, str | None]:
    """(content text as authored, tokens filled - an Output when deploy-time values are involved,
    display name, description and logicalId from .platform).

    A file's text keeps its formatting; a dict is written as indented JSON. Outputs may sit anywhere
    inside a definition dict and inside parameter values. Raises DefinitionError in the program (so
    `preview` fails before any API call) for unreadable files, JSON syntax errors and tokens without
    a parameter.
    """
    source = definition if definition is not None else EMPTY_PIPELINE
    params = dict(parameters or {})
    if isinstance(source, Mapping) and holds_outputs(source):
        # Tokens are looked for in a stand-in (each deploy-time value a string), so a missing
        # parameter still fails now, in the program, rather than after the values resolve.
        stand_in = load_definition(_plain(source, stand_in="deploy-time value"))
        tokens = sorted(stand_in.tokens)
        _require_parameters(stand_in.source, tokens, params)
        used = {t: params[t] for t in tokens}

        def render_resolved(args: list[Any]) -> str:
            resolved, values = args
            return load_definition(resolved).substitute(values)

        resolved = pulumi.Output.from_input(_plain(source))
        text = pulumi.Output.all(resolved, pulumi.Output.from_input(used)).apply(render_resolved)
        return text, None, None, None

    loaded = load_definition(source, base_dir=base_dir)
    tokens = sorted(loaded.tokens)
    _require_parameters(loaded.source, tokens, params)
    if not tokens:
        # Nothing to fill: the text as authored. Invalid text is passed on as-is: check() then
        # reports it against the `definition` property.
        return loaded.content_text, loaded.display_name, loaded.description, loaded.logical_id
    used = {t: params[t] for t in tokens}
    text_output = pulumi.Output.all(**used).apply(loaded.substitute)
    return text_output, loaded.display_name, loaded.description, loaded.logical_id


class DataPipeline(Resource, module="fabric", name="DataPipeline"):
    """A Fabric data pipeline. The resource id is the item id.

    `definition` is the pipeline-content.json content as a dict, a path to that file, a path to an
    item folder (`<Name>.DataPipeline/` with pipeline-content.json and .platform), or an Output of the
    content's JSON text (what WorkspaceContent passes); relative paths are
    resolved against `base_dir` (default: the working directory). `{{ name }}` tokens are filled from
    `parameters`. `display_name`/`description` default to the folder's .platform metadata.

    `logical_id` is the item's identity in Fabric (`.platform` `config.logicalId`): by default the
    item folder's own, else derived from project, stack and resource name. A live item carrying it
    is recognised as this resource's (an earlier `up` created it but was interrupted before
    recording it) and taken over; any other same-named item is refused unless `adopt_existing`.
    """

    workspace_id: pulumi.Output[str]
    display_name: pulumi.Output[str]
    description: pulumi.Output[str | None]
    definition: pulumi.Output[str]
    definition_hash: pulumi.Output[str]
    folder_id: pulumi.Output[str | None]
    logical_id: pulumi.Output[str | None]
    adopt_existing: pulumi.Output[bool]
    tags: pulumi.Output[list[str] | None]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        display_name: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        definition: Mapping[str, Any] | str | os.PathLike[str] | pulumi.Output[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        parameters: Mapping[str, pulumi.Input[Any]] | None = None,
        folder_id: pulumi.Input[str] | None = None,
        adopt_existing: bool = False,
        tags: pulumi.Input[list[str]] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        logical_id: pulumi.Input[str] | None = None,
    ) -> None:
        folder_logical_id: str | None
        if isinstance(definition, pulumi.Output):
            # Content computed from other resources' outputs (WorkspaceContent's rebound files), sent
            # as rendered: the program has checked it already; check() validates it again once known.
            text: pulumi.Input[str] = definition
            platform_name = platform_description = folder_logical_id = None
        else:
            text, platform_name, platform_description, folder_logical_id = render_definition(
                definition, parameters, base_dir=base_dir)
        if logical_id is None:
            logical_id = folder_logical_id or default_logical_id(
                pulumi.get_project(), pulumi.get_stack(), resource_name, ITEM_TYPE)
        if display_name is None:
            display_name = platform_name
        if display_name is None:
            raise DefinitionError(
                f"DataPipeline '{resource_name}': display_name is required (no .platform metadata to take it from)",
                field="display_name",
            )
        if description is None:
            description = platform_description
        props = {
            "workspace_id": workspace_id,
            "display_name": display_name,
            "description": description,
            "definition": text,
            "folder_id": folder_id,
            "logical_id": logical_id,
            "adopt_existing": adopt_existing,
            "tags": tags,
            "definition_hash": None,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
