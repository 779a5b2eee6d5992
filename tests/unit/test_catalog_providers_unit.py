"""check/diff of Folder, VariableLibrary and the tags/connections helpers as plain calls (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from fabric_resources.providers import _base
from fabric_resources.providers.folder import FolderProvider

WS = "0b2f1c5e-3a4d-4e8f-9b1a-2c3d4e5f6a7b"
PARENT = "1C3F2D6E-4B5E-4F90-8C2B-3D4E5F6A7B8C"


@pytest.fixture(autouse=True)
def no_clients() -> Any:
    """check and diff must never build a client."""
    before = dict(_base._CLIENTS)
    yield
    assert before == _base._CLIENTS


def failures_of(result: Any) -> dict[str, str]:
    return {f.property: f.reason for f in result.failures}


@pytest.mark.parametrize(("name", "problem"), [
    (" Sales", "must not start or end with a space"),
    ("Q1/Q2", "must not contain '/'"),
    ("a*b?c", "must not contain '*' '?'"),
    ("x" * 256, "at most 255 characters"),
    ("", "at least 1 character"),
])
def test_folder_check_refuses_names_fabric_refuses(name: str, problem: str) -> None:
    result = FolderProvider().check({}, {"workspace_id": WS, "display_name": name})
    assert problem in failures_of(result)["display_name"]


def test_folder_check_accepts_a_good_name_and_an_unknown_parent() -> None:
    result = FolderProvider().check({}, {"workspace_id": WS, "display_name": "Sales (EMEA) - 2025",
                                         "parent_folder_id": Unknown()})
    assert result.failures == []


def test_folder_diff_ignores_id_case_and_replaces_on_workspace() -> None:
    provider = FolderProvider()
    olds = {"workspace_id": WS, "display_name": "Sales", "parent_folder_id": PARENT.lower()}
    assert not provider.diff("f", olds, {**olds, "parent_folder_id": PARENT}).changes
    moved = provider.diff("f", olds, {**olds, "parent_folder_id": None})
    assert moved.changes and moved.replaces == []
    other_ws = provider.diff("f", olds, {**olds, "workspace_id": "2d4a3e7f-5c6f-4a01-9d3c-4e5f6a7b8c9d"})
    assert other_ws.replaces == ["workspace_id"]
