"""DataPipeline: a Fabric data pipeline item and its definition (pipeline-content.json).

The program side (`DataPipeline.__init__`) loads the definition (dict, file or item folder), fills its
`{{ token }}`s from `parameters` (values may be Outputs, e.g. another pipeline's id, which also orders
the deployment) and hands the provider the final content as canonical JSON text. The provider compares
definitions in that canonical form, so key order, whitespace and fields the service adds on export
never count as a change, while an activity edited in the portal does (refresh reads the live
definition back).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Annotated, Any, ClassVar

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult
from pydantic import BaseModel, ConfigDict, Field

from fabric_resources.definitions import (
    build_definition_parts,
    canonical_hash,
    canonical_json,
    load_definition,
    parse_content,
    parse_definition_parts,
    validate_content,
)
from fabric_resources.errors import AlreadyExistsError, DefinitionError, FabricError
from fabric_resources.models import ItemDefinition
from fabric_resources.models.common import Guid
from fabric_resources.providers._base import (
    FabricProvider,
    FabricProviderError,
    allow_not_found,
    describe_error,
    lower_id,
    optional_text,
    translate_errors,
)

__all__ = ["EMPTY_PIPELINE", "DataPipeline", "DataPipelineArgs", "DataPipelineProvider"]

ITEM_TYPE = "DataPipeline"
EMPTY_PIPELINE: dict[str, Any] = {"properties": {"activities": []}}


def canonical_text(text: Any) -> Any:
    """The canonical JSON of definition text (unchanged when it is not valid JSON)."""
    if not isinstance(text, str):
        return text
    try:
        return canonical_json(parse_content(text))
    except DefinitionError:
        return text


class DataPipelineArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_id: Guid
    display_name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Annotated[str, Field(max_length=256)] | None = None
    definition: Annotated[str, Field(min_length=2)]
    folder_id: Guid | None = None
    adopt_existing: bool = False


class DataPipelineProvider(FabricProvider):
    kind = "DataPipeline"
    inputs_model = DataPipelineArgs
    replace_on = ("workspace_id",)
    compared = ("display_name", "description", "definition", "folder_id")
    output_only = ("definition_hash",)
    normalizers: ClassVar[dict[str, Any]] = {
        "workspace_id": lower_id,
        "description": optional_text,
        "definition": canonical_text,
        "folder_id": lambda v: lower_id(optional_text(v)),
    }

    def normalize_input(self, name: str, value: Any) -> Any:
        if name == "definition":
            return canonical_text(value)
        return super().normalize_input(name, value)

    def check_more(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        text = inputs.get("definition")
        if not isinstance(text, str):
            return []
        try:
            validate_content(parse_content(text, source="definition"))
        except DefinitionError as exc:
            return [CheckFailure("definition", f"DataPipeline: invalid 'definition': {exc}")]
        return []

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _definition(text: str, display_name: str, description: str | None) -> ItemDefinition:
        parts = build_definition_parts(text, None, display_name=display_name, description=description)
        return ItemDefinition.model_validate({"parts": parts})

    @staticmethod
    def _outputs(ws_id: str, item: Any, canonical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        """The outputs; ``canonical`` is the definition's canonical JSON (computed once by the caller)."""
        return {
            "workspace_id": ws_id,
            "display_name": item.display_name,
            "description": optional_text(item.description),
            "definition": canonical,
            "definition_hash": canonical_hash(canonical),
            "folder_id": optional_text(getattr(item, "folder_id", None)),
            "adopt_existing": bool(props.get("adopt_existing")),
        }

    # -- CRUD --------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client
        ws_id = props["workspace_id"]
        name = props["display_name"]
        description = optional_text(props.get("description"))
        text = props["definition"]
        canonical = canonical_json(parse_content(text))
        try:
            item = client.items.create(
                ws_id,
                display_name=name,
                type=ITEM_TYPE,
                description=description,
                definition=self._definition(text, name, description),
                folder_id=optional_text(props.get("folder_id")),
            )
        except AlreadyExistsError as exc:
            if not props.get("adopt_existing"):
                raise FabricProviderError(
                    f"a data pipeline named '{name}' already exists in workspace {ws_id} "
                    f"({describe_error(exc)}); set adopt_existing=True to take it over, or rename it"
                ) from None
            item = self._adopt(ws_id, name, description, text)
        except FabricError as exc:
            raise FabricProviderError(
                f"creating data pipeline '{name}' in workspace {ws_id} failed: {describe_error(exc)}"
            ) from None
        return CreateResult(item.id, self._outputs(ws_id, item, canonical, props))

    def _adopt(self, ws_id: str, name: str, description: str | None, text: str) -> Any:
        """Take over the same-named item: bring its description and definition to the declared state."""
        client = self.client
        with translate_errors(f"adopting data pipeline '{name}' in workspace {ws_id}"):
            item = client.items.find(ws_id, name, type=ITEM_TYPE)
            if item is None:
                raise FabricProviderError(
                    f"'{name}' is reported as taken in workspace {ws_id} but no data pipeline has that name "
                    "(another item type uses it); choose another display_name"
                )
            if optional_text(item.description) != description:
                item = client.items.update(ws_id, item.id, description=description or "")
            client.items.update_definition(ws_id, item.id, self._definition(text, name, description))
        return item

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self.client
        ws_id = props["workspace_id"]
        found = allow_not_found(f"reading data pipeline {id_} in workspace {ws_id}",
                                lambda: (client.items.get(ws_id, id_), client.items.get_definition(ws_id, id_)))
        if found is None:
            return ReadResult("", {})
        item, definition = found
        content, _platform = parse_definition_parts(definition.parts)
        outs = self._outputs(ws_id, item, canonical_json(content), props)
        inputs = {k: v for k, v in outs.items() if k != "definition_hash"}
        return ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client
        ws_id = news["workspace_id"]
        name = news["display_name"]
        description = optional_text(news.get("description"))
        text = news["definition"]
        canonical = canonical_json(parse_content(text))
        norm = self.normalizers
        with translate_errors(f"updating data pipeline '{name}' ({id_})"):
            item: Any = None
            if name != olds.get("display_name") or description != optional_text(olds.get("description")):
                item = client.items.update(ws_id, id_, display_name=name, description=description or "")
            if canonical != norm["definition"](olds.get("definition")):
                client.items.update_definition(ws_id, id_, self._definition(text, name, description))
            new_folder = norm["folder_id"](news.get("folder_id"))
            if new_folder != norm["folder_id"](olds.get("folder_id")):
                # None moves it back to the workspace root (e.g. undoing a move made in the portal).
                item = client.items.move(ws_id, id_, target_folder_id=new_folder)
            if item is None:
                # Nothing answered with the item: the declared values are what Fabric now holds.
                item = SimpleNamespace(display_name=name, description=description, folder_id=new_folder)
        return UpdateResult(self._outputs(ws_id, item, canonical, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ws_id = props["workspace_id"]
        allow_not_found(f"deleting data pipeline {id_} in workspace {ws_id}",
                        lambda: self.client.items.delete(ws_id, id_))


_PROVIDER = DataPipelineProvider()


def render_definition(
    definition: Mapping[str, Any] | str | os.PathLike[str] | None,
    parameters: Mapping[str, Any] | None,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> tuple[pulumi.Input[str], str | None, str | None]:
    """(canonical content text - an Output when parameters are, display name and description from .platform).

    Raises DefinitionError in the program (so `preview` fails before any API call) for unreadable files,
    JSON syntax errors and tokens without a parameter.
    """
    loaded = load_definition(definition if definition is not None else EMPTY_PIPELINE, base_dir=base_dir)
    params = dict(parameters or {})
    tokens = sorted(loaded.tokens)
    missing = [t for t in tokens if t not in params]
    if missing:
        listed = ", ".join("{{ " + t + " }}" for t in missing)
        raise DefinitionError(
            f"{loaded.source}: {listed} ha{'ve' if len(missing) > 1 else 's'} no value in parameters "
            f"(given: {', '.join(sorted(params)) or 'none'})",
            field=f"parameters.{missing[0]}",
        )

    def render(values: Mapping[str, Any]) -> str:
        text = loaded.substitute(values)
        # Invalid text is passed on as-is: check() then reports it against the `definition` property.
        return canonical_text(text)

    if not tokens:
        return render({}), loaded.display_name, loaded.description
    used = {t: params[t] for t in tokens}
    text_output = pulumi.Output.all(**used).apply(render)
    return text_output, loaded.display_name, loaded.description


class DataPipeline(Resource, module="fabric", name="DataPipeline"):
    """A Fabric data pipeline. The resource id is the item id.

    `definition` is the pipeline-content.json content as a dict, a path to that file, or a path to an
    item folder (`<Name>.DataPipeline/` with pipeline-content.json and .platform); relative paths are
    resolved against `base_dir` (default: the working directory). `{{ name }}` tokens are filled from
    `parameters`. `display_name`/`description` default to the folder's .platform metadata.
    """

    workspace_id: pulumi.Output[str]
    display_name: pulumi.Output[str]
    description: pulumi.Output[str | None]
    definition: pulumi.Output[str]
    definition_hash: pulumi.Output[str]
    folder_id: pulumi.Output[str | None]
    adopt_existing: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        workspace_id: pulumi.Input[str],
        display_name: pulumi.Input[str] | None = None,
        description: pulumi.Input[str] | None = None,
        definition: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        parameters: Mapping[str, pulumi.Input[Any]] | None = None,
        folder_id: pulumi.Input[str] | None = None,
        adopt_existing: bool = False,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        text, platform_name, platform_description = render_definition(definition, parameters, base_dir=base_dir)
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
            "adopt_existing": adopt_existing,
            "definition_hash": None,
        }
        super().__init__(_PROVIDER, resource_name, props, opts)
