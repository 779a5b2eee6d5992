"""Workspace content as Fabric's git integration writes it: reading, fabric-cicd parameters, rebinding.

Pure code (no network, no Pulumi), used by the ``WorkspaceContent`` component
(:mod:`fabric_resources.providers.workspace_content`):

- :mod:`.folder` reads a workspace folder (item directories with ``.platform``, subfolders);
- :mod:`.parameters` loads, checks and applies a fabric-cicd ``parameter.yml``;
- :mod:`.rebinding` rebinds logicalIds, the all-zero workspace id, mapped ids and parameters, and
  plans the deploy order with every check done before any call.
"""

from fabric_resources.content.folder import RepositoryItem, WorkspaceFolder, read_workspace_folder
from fabric_resources.content.parameters import ParameterFile, load_parameter_file
from fabric_resources.content.rebinding import Binding, FolderPlan, ItemPlan, plan_folder, render_item

__all__ = [
    "Binding",
    "FolderPlan",
    "ItemPlan",
    "ParameterFile",
    "RepositoryItem",
    "WorkspaceFolder",
    "load_parameter_file",
    "plan_folder",
    "read_workspace_folder",
    "render_item",
]
