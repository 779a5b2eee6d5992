"""WorkspaceContent: a workspace folder from Fabric's git integration, deployed as it is, per stack.

One ``DataPipeline`` per item directory (name, description and logicalId from ``.platform``), each
placed in the Fabric folder its parent directory stands for, with its content rebound to the target
workspace (:mod:`fabric_resources.content.rebinding`: logicalIds, the all-zero workspace id,
``connections`` / ``references`` maps, a fabric-cicd ``parameter.yml``). A pipeline whose content needs
another's id receives it as an Output, so the engine creates them in the right order by itself.

Everything is read and checked in the constructor, so a bad folder or parameter file fails
``pulumi preview`` before any Fabric call. Resource names derive from each item's logicalId (the
display name when the logicalId is Fabric's all-zero placeholder): adding, removing, reordering or
moving item directories never renames another pipeline's resource.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from fabric_resources.content.folder import (
    PARAMETER_FILE,
    ZERO_GUID,
    RepositoryItem,
    WorkspaceFolder,
    read_workspace_folder,
)
from fabric_resources.content.parameters import ParameterFile, load_parameter_file
from fabric_resources.content.rebinding import (
    CONTENT_FILE,
    Binding,
    plan_folder,
    render_file,
    split_references,
    stand_in_id,
)
from fabric_resources.errors import DefinitionError
from fabric_resources.providers.data_pipeline import DataPipeline
from fabric_resources.providers.folder import Folder, folder_name_problem

__all__ = ["WorkspaceContent"]


def _stand_ins(mapping: Mapping[str, Any]) -> dict[str, str]:
    """Plain values kept, Outputs (known only at deploy time) replaced by stand-in ids for planning."""
    return {k: v if isinstance(v, str) else stand_in_id(f"reference:{k}") for k, v in mapping.items()}


class WorkspaceContent(pulumi.ComponentResource):
    """The pipelines of a workspace folder, rebound to ``workspace_id``.

    ``path``: the folder Fabric's git integration writes (relative to ``base_dir``, default the working
    directory). ``environment``: the key of the parameter file's replace values (default: the stack
    name). ``parameter_file``: a fabric-cicd ``parameter.yml`` (default: ``path/parameter.yml`` when
    present). ``connections`` / ``references``: per-stack maps from a source id found in the files
    (connection, lakehouse, notebook, pipeline outside the folder) to this environment's id;
    ``references`` may also be keyed by ``"<Type>.<Name>"`` or ``"<Name>"`` for ``$items`` values that
    name items outside the folder. Values may be Outputs.

    ``pipelines`` maps display name to ``DataPipeline``; ``ids`` is an Output of display name to item id;
    ``folders`` maps a folder path (``/A/B``) to its ``Folder``.
    """

    pipelines: dict[str, DataPipeline]
    ids: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        workspace_id: pulumi.Input[str],
        path: str | os.PathLike[str],
        environment: str | None = None,
        parameter_file: str | os.PathLike[str] | None = None,
        connections: Mapping[str, pulumi.Input[str]] | None = None,
        references: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__("fabric:index:WorkspaceContent", name, {}, opts)
        env = environment or pulumi.get_stack()
        root = _resolve(path, base_dir)
        folder = read_workspace_folder(root)
        parameters = _parameters(root, parameter_file, base_dir, env)

        connection_ids, connection_names = split_references(connections, argument="connections")
        if connection_names:
            first = next(iter(connection_names))
            raise DefinitionError(
                f"connections: '{first}' is not a connection id; key the map by the connection id found in the "
                "files (externalReferences.connection), e.g. {'<dev connection id>': '<this environment's id>'}",
                field="connections")
        reference_ids, reference_names = split_references(references, argument="references")
        mapped: dict[str, pulumi.Input[str]] = {**connection_ids, **reference_ids}
        plan = plan_folder(folder, environment=env, parameters=parameters, mapped_ids=_stand_ins(mapped),
                           named_items=_stand_ins(reference_names))

        for folder_path in folder.folders:  # every check before the first registration
            display_name = folder_path.rpartition("/")[2]
            problem = folder_name_problem(display_name)
            if problem:
                raise DefinitionError(f"{root / folder_path.lstrip('/')}: the directory name '{display_name}' "
                                      f"cannot be a Fabric folder name: it {problem}; rename the directory",
                                      field="path")

        child = pulumi.ResourceOptions(parent=self)
        self.folders: dict[str, Folder] = {}
        for folder_path in folder.folders:  # parents first
            parent_path, _, display_name = folder_path.rpartition("/")
            parent = self.folders.get(parent_path)
            self.folders[folder_path] = Folder(
                f"{name}-folder{folder_path}",
                workspace_id=workspace_id,
                display_name=display_name,
                parent_folder_id=parent.id if parent is not None else None,
                opts=child,
            )
        by_logical_id: dict[str, DataPipeline] = {}
        self.pipelines = {}
        for step in plan.items:
            item = step.item
            needs = {lid: by_logical_id[lid].id for lid in sorted(step.needs)}
            inputs: dict[str, Any] = {"workspace": workspace_id, "ids": needs, "mapped": mapped,
                                      "named": reference_names}
            content: pulumi.Output[str] = pulumi.Output.from_input(inputs).apply(
                _renderer(item, folder, env, parameters))
            pipeline = DataPipeline(
                f"{name}-{_key(item)}",
                workspace_id=workspace_id,
                display_name=item.display_name,
                description=item.description,
                definition=content,
                folder_id=self.folders[item.folder_path].id if item.folder_path else None,
                # The folder's identity travels with the item, as fabric-cicd sends .platform; Fabric's
                # all-zero export placeholder is no identity, so the resource derives its own.
                logical_id=item.logical_id.lower() if item.logical_id.lower() != ZERO_GUID else None,
                opts=child,
            )
            if item.logical_id.lower() != ZERO_GUID:
                by_logical_id[item.logical_id.lower()] = pipeline
            self.pipelines[item.display_name] = pipeline
        ids: dict[str, Any] = {n: p.id for n, p in self.pipelines.items()}
        self.ids = pulumi.Output.from_input(ids)
        self.register_outputs({"ids": self.ids})


def _key(item: RepositoryItem) -> str:
    lid = item.logical_id.lower()
    return lid if lid != ZERO_GUID else item.display_name


def _renderer(item: RepositoryItem, folder: WorkspaceFolder, environment: str,
              parameters: ParameterFile | None) -> Callable[[Mapping[str, Any]], str]:
    """The function that renders ``item`` once its inputs (ids that are Outputs) are known."""
    return lambda known: _render(item, folder, known, environment, parameters)


def _render(item: RepositoryItem, folder: WorkspaceFolder, known: Mapping[str, Any], environment: str,
            parameters: ParameterFile | None) -> str:
    binding = Binding(
        workspace_id=str(known["workspace"]).lower(),
        item_ids={k: str(v) for k, v in known["ids"].items()},
        environment=environment,
        parameters=parameters,
        mapped_ids={k: str(v) for k, v in known["mapped"].items()},
        named_items={k: str(v) for k, v in known["named"].items()},
    )
    return render_file(item, CONTENT_FILE, item.files[CONTENT_FILE], folder, binding)


def _resolve(path: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir).expanduser() / resolved
    return resolved


def _parameters(root: Path, parameter_file: str | os.PathLike[str] | None,
                base_dir: str | os.PathLike[str] | None, environment: str) -> ParameterFile | None:
    if parameter_file is None:
        default = root / PARAMETER_FILE
        if not default.is_file():
            return None
        file = default
    else:
        file = _resolve(parameter_file, base_dir)
        if not file.is_file():
            raise DefinitionError(f"parameter_file {file} does not exist; pass the path of a fabric-cicd "
                                  "parameter.yml, or leave it unset", field="parameter_file")
    return load_parameter_file(file, root=root, environment=environment)
