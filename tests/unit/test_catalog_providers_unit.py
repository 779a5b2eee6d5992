"""check/diff of Folder, VariableLibrary and the tags/connections helpers as plain calls (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from fabric_resources.providers.folder import FolderProvider
from tests.unit.conftest import failures_of

WS = "0b2f1c5e-3a4d-4e8f-9b1a-2c3d4e5f6a7b"
PARENT = "1C3F2D6E-4B5E-4F90-8C2B-3D4E5F6A7B8C"


# check and diff must never build a client: every test here runs under the no_clients fixture.
pytestmark = pytest.mark.usefixtures("no_clients")


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


# -- VariableLibrary ----------------------------------------------------------------------------

def library_text(**files: Any) -> str:
    import json

    return json.dumps({path.replace("__", "/").replace("_json", ".json"): body if isinstance(body, str)
                       else json.dumps(body) for path, body in files.items()})


VARIABLES = {"variables": [{"name": "server", "type": "String", "value": "dev"},
                           {"name": "when", "type": "DateTime", "value": "2025-01-20T15:30:00Z"},
                           {"name": "owner", "type": "Guid", "value": WS}]}


def test_variable_library_check_accepts_a_good_definition_and_active_set() -> None:
    from fabric_resources.providers.variable_library import VariableLibraryProvider

    text = library_text(variables_json=VARIABLES,
                        valueSets__prod_json={"name": "prod", "variableOverrides": [{"name": "server", "value": "p"}]})
    result = VariableLibraryProvider().check({}, {"workspace_id": WS, "display_name": "L", "definition": text,
                                                  "active_value_set": "prod"})
    assert result.failures == []


@pytest.mark.parametrize(("variables", "value_set", "problem"), [
    ({"variables": [{"name": "when", "type": "DateTime", "value": "yesterday"}]}, None, "not a valid DateTime"),
    ({"variables": [{"name": "owner", "type": "Guid", "value": "not-a-guid"}]}, None, "not a valid Guid"),
    ({"variables": [{"name": "n", "type": "Integer", "value": True}]}, None, "not a valid Integer"),
    ({"variables": [{"name": "n", "type": "Integer", "value": 1}, {"name": "N", "type": "String", "value": ""}]},
     None, "declared twice"),
    ({"variables": [{"name": "1st", "type": "String", "value": ""}]}, None, "must start with a letter"),
    (VARIABLES, {"name": "prod", "variableOverrides": [{"name": "server", "value": 5}]}, "'server': 5 is not a valid String"),
    (VARIABLES, {"name": "Default value set", "variableOverrides": []}, "choose another value set name"),
])
def test_variable_library_check_names_the_file_and_the_problem(variables: Any, value_set: Any, problem: str) -> None:
    from fabric_resources.providers.variable_library import VariableLibraryProvider

    files: dict[str, Any] = {"variables_json": variables}
    if value_set is not None:
        files["valueSets__prod_json"] = value_set
    result = VariableLibraryProvider().check({}, {"workspace_id": WS, "display_name": "L",
                                                  "definition": library_text(**files)})
    failure = failures_of(result)["definition"]
    assert failure.startswith("VariableLibrary: invalid 'definition': ") and problem in failure


def test_variable_library_diff_ignores_formatting_and_schema_but_not_values() -> None:
    from fabric_resources.providers.variable_library import VariableLibraryProvider

    provider = VariableLibraryProvider()
    olds = {"workspace_id": WS, "display_name": "L", "definition": library_text(variables_json=VARIABLES),
            "active_value_set": "Default value set"}
    import json

    reformatted = library_text(variables_json=json.dumps({"$schema": "x", **VARIABLES}, indent=4))
    assert not provider.diff("l", olds, {**olds, "definition": reformatted}).changes
    # An unset active set is not managed: whatever is live is no change.
    assert not provider.diff("l", olds, {**olds, "active_value_set": None}).changes
    assert provider.diff("l", olds, {**olds, "active_value_set": "prod"}).changes
    edited = json.loads(json.dumps(VARIABLES))
    edited["variables"][0]["value"] = "prod"
    assert provider.diff("l", olds, {**olds, "definition": library_text(variables_json=edited)}).changes


# -- tags and connection names --------------------------------------------------------------------

def test_close_matches_prefer_case_then_spelling_then_shared_words() -> None:
    from fabric_resources.providers.connection import close_matches

    names = ["Sales SQL (local)", "Sales SQL (prod)", "sales sql (staging)", "Contoso Web"]
    assert close_matches("Sales SQL (Staging)", names)[0] == "sales sql (staging)"
    assert close_matches("Sales SQL (prd)", names)[0] == "Sales SQL (prod)"
    assert "Contoso Web" in close_matches("Contoso", names)
    assert close_matches("Nothing alike", names) == []


def test_tags_are_compared_as_sets_and_unset_tags_are_not_managed() -> None:
    from fabric_resources.providers.variable_library import VariableLibraryProvider

    provider = VariableLibraryProvider()
    olds = {"workspace_id": WS, "display_name": "L", "definition": library_text(variables_json=VARIABLES),
            "tags": ["Finance", "Sales"]}
    assert not provider.diff("l", olds, {**olds, "tags": ["Sales", "Finance", "Sales"]}).changes
    assert not provider.diff("l", olds, {**olds, "tags": None}).changes
    assert provider.diff("l", olds, {**olds, "tags": ["Sales"]}).changes
    assert provider.diff("l", olds, {**olds, "tags": Unknown()}).changes


def test_unchanged_tags_and_connection_names_are_checked_without_a_call() -> None:
    from fabric_resources.providers.connection import ConnectionLookupProvider
    from fabric_resources.providers.data_pipeline import DataPipelineProvider

    olds = {"display_name": "Sales SQL (prod)", "connection_id": "b5d7206f-493e-4997-987b-82e33b3da75d",
            "connection_type": "SQL", "connectivity_type": "ShareableCloud"}
    result = ConnectionLookupProvider().check(olds, {"display_name": "Sales SQL (prod)"})
    assert result.failures == [] and result.inputs["connection_id"] == olds["connection_id"]
    pipeline = {"workspace_id": WS, "display_name": "P", "definition": '{"properties":{"activities":[]}}',
                "tags": ["Sales", "Finance"]}
    result = DataPipelineProvider().check({**pipeline, "tags": ["Finance", "Sales"]}, pipeline)
    assert result.failures == [] and result.inputs["tags"] == ["Finance", "Sales"]
