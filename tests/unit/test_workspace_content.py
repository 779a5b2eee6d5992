"""Reading a git-format workspace folder, fabric-cicd parameter files and rebinding (pure code)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.content import (
    Binding,
    load_parameter_file,
    plan_folder,
    read_workspace_folder,
    render_item,
)
from fabric_resources.content.rebinding import split_references
from fabric_resources.definitions import canonicalize
from fabric_resources.errors import DefinitionError
from tests.content_folders import (
    ZERO,
    copy_from_sql,
    execute_pipeline,
    invoke_pipeline,
    pipeline,
    wait,
    write_item,
)

ROOT = Path(__file__).resolve().parents[2]
DEV_SQL = "cf0ff896-3890-43d6-95cf-1c75f3ef600d"
TARGET_WS = "7d3f41aa-0c5e-4f7b-9a0e-1b2c3d4e5f60"


def rendered(root: Path, environment: str = "dev", *, parameters: str | None = None,
             ids: dict[str, str] | None = None, mapped: dict[str, str] | None = None,
             named: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Plan the folder (all checks), then render every item with the given ids; content by display name."""
    folder = read_workspace_folder(root)
    params = None
    if parameters is not None:
        (root / "parameter.yml").write_text(parameters)
        params = load_parameter_file(root / "parameter.yml", root=root, environment=environment)
    plan_folder(folder, environment=environment, parameters=params, mapped_ids=mapped, named_items=named)
    item_ids = {i.logical_id.lower(): (ids or {}).get(i.display_name, f"id-of-{i.display_name}") for i in folder.items}
    binding = Binding(workspace_id=TARGET_WS, item_ids=item_ids, environment=environment, parameters=params,
                      mapped_ids=mapped or {}, named_items=named or {})
    return {i.display_name: json.loads(render_item(i, folder, binding)["pipeline-content.json"]) for i in folder.items}


# -- reading the folder -----------------------------------------------------------------------


def test_reads_items_folders_and_platform(tmp_path: Path) -> None:
    a = write_item(tmp_path, "Load", pipeline(wait("w")), description="Loads it")
    b = write_item(tmp_path, "Deep", pipeline(wait("w")), folder="Sales/Daily")
    folder = read_workspace_folder(tmp_path)
    by_name = {i.display_name: i for i in folder.items}
    assert by_name["Load"].logical_id == a and by_name["Load"].description == "Loads it"
    assert by_name["Load"].folder_path == "" and by_name["Deep"].folder_path == "/Sales/Daily"
    assert by_name["Deep"].logical_id == b
    assert folder.folders == ("/Sales", "/Sales/Daily")  # ancestors first
    assert set(by_name["Load"].files) == {"pipeline-content.json"}


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (lambda r: (write_item(r, "Same", pipeline()), write_item(r, "Same", pipeline(), folder="Other")),
         "display name 'Same' is also used"),
        (lambda r: (write_item(r, "A", pipeline(), logical_id="11111111-1111-1111-1111-111111111111"),
                    write_item(r, "B", pipeline(), logical_id="11111111-1111-1111-1111-111111111111")),
         "give the copy a new GUID"),
        (lambda r: write_item(r, "Lake", pipeline(), item_type="Lakehouse"), "deploys DataPipeline items only"),
        (lambda r: write_item(r, "Empty", pipeline(), logical_id=" "), "config.logicalId is missing or empty"),
    ],
)
def test_folder_errors_name_the_file_and_the_fix(tmp_path: Path, arrange: Any, expected: str) -> None:
    arrange(tmp_path)
    with pytest.raises(DefinitionError, match=expected) as info:
        read_workspace_folder(tmp_path)
    assert ".platform" in str(info.value)


def test_unparsable_platform_names_line_and_file(tmp_path: Path) -> None:
    write_item(tmp_path, "Broken", pipeline())
    (tmp_path / "Broken.DataPipeline" / ".platform").write_text('{"metadata": {,}')
    with pytest.raises(DefinitionError, match=r"Broken.DataPipeline/.platform: invalid JSON at line 1"):
        read_workspace_folder(tmp_path)


def test_item_without_content_is_refused(tmp_path: Path) -> None:
    write_item(tmp_path, "Bare", pipeline())
    (tmp_path / "Bare.DataPipeline" / "pipeline-content.json").unlink()
    with pytest.raises(DefinitionError, match="needs pipeline-content.json"):
        read_workspace_folder(tmp_path)


# -- automatic rebinding ----------------------------------------------------------------------


def test_logical_ids_and_zero_workspace_are_rebound(tmp_path: Path) -> None:
    child = write_item(tmp_path, "Child", pipeline(wait("w")))
    other = write_item(tmp_path, "Other", pipeline(wait("w")), folder="Sub")
    write_item(tmp_path, "Parent", pipeline(
        execute_pipeline("run child", child), invoke_pipeline("invoke other", other),
        # An all-zero GUID that is not a workspace reference stays as written.
        {**wait("w"), "userProperties": [{"name": "marker", "value": ZERO}]},
    ))
    out = rendered(tmp_path, ids={"Child": "c0000000-0000-0000-0000-00000000000c",
                                  "Other": "d0000000-0000-0000-0000-00000000000d"})
    acts = out["Parent"]["properties"]["activities"]
    assert acts[0]["typeProperties"]["pipeline"]["referenceName"] == "c0000000-0000-0000-0000-00000000000c"
    assert acts[1]["typeProperties"]["pipelineId"] == "d0000000-0000-0000-0000-00000000000d"
    assert acts[1]["typeProperties"]["workspaceId"] == TARGET_WS
    assert acts[2]["userProperties"][0]["value"] == ZERO


def test_plan_orders_items_after_what_they_need(tmp_path: Path) -> None:
    leaf = write_item(tmp_path, "A leaf", pipeline(wait("w")))
    middle = write_item(tmp_path, "B middle", pipeline(execute_pipeline("x", leaf)))
    write_item(tmp_path, "0 top", pipeline(execute_pipeline("y", middle)))
    plan = plan_folder(read_workspace_folder(tmp_path), environment="dev")
    order = [p.item.display_name for p in plan.items]
    assert order.index("A leaf") < order.index("B middle") < order.index("0 top")
    needs = {p.item.display_name: p.needs for p in plan.items}
    assert needs["0 top"] == {middle} and needs["A leaf"] == frozenset()


def test_cycle_is_refused_naming_the_pipelines(tmp_path: Path) -> None:
    a_id, b_id = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
    write_item(tmp_path, "A", pipeline(execute_pipeline("to b", b_id)), logical_id=a_id)
    write_item(tmp_path, "B", pipeline(execute_pipeline("to a", a_id)), logical_id=b_id)
    with pytest.raises(DefinitionError, match=r"cycle \('A' -> 'B' -> 'A'|cycle \('B' -> 'A' -> 'B'"):
        plan_folder(read_workspace_folder(tmp_path), environment="dev")


def test_unknown_pipeline_reference_is_refused_unless_mapped(tmp_path: Path) -> None:
    stranger = "99999999-9999-4999-8999-999999999999"
    write_item(tmp_path, "Caller", pipeline(execute_pipeline("run it", stranger)))
    with pytest.raises(DefinitionError, match=rf"runs pipeline {stranger}, which is the logicalId of no item") as info:
        plan_folder(read_workspace_folder(tmp_path), environment="dev")
    assert "Caller.DataPipeline/pipeline-content.json" in str(info.value) and "references=" in str(info.value)
    # Mapped through `references` (by source id, any case): accepted and rebound.
    target = "12121212-3434-4565-8787-909090909090"
    out = rendered(tmp_path, mapped={stranger.upper().lower(): target})
    assert out["Caller"]["properties"]["activities"][0]["typeProperties"]["pipeline"]["referenceName"] == target


def test_pipeline_in_another_workspace_is_left_alone(tmp_path: Path) -> None:
    elsewhere = "88888888-8888-4888-8888-888888888888"
    write_item(tmp_path, "Caller", pipeline(invoke_pipeline("x", "77777777-7777-4777-8777-777777777777", elsewhere)))
    out = rendered(tmp_path)
    assert out["Caller"]["properties"]["activities"][0]["typeProperties"]["workspaceId"] == elsewhere


def test_connections_and_references_maps_by_source_id(tmp_path: Path) -> None:
    write_item(tmp_path, "Ingest", pipeline(copy_from_sql("copy", DEV_SQL.upper())))
    by_id, by_name = split_references({DEV_SQL: "new-conn", "Sales Lake": "lake-id"}, argument="connections")
    assert by_id == {DEV_SQL: "new-conn"} and by_name == {"Sales Lake": "lake-id"}
    out = rendered(tmp_path, mapped=by_id)
    assert DEV_SQL not in json.dumps(out).lower()
    assert out["Ingest"]["properties"]["activities"][0]["externalReferences"]["connection"] == "new-conn"


def test_invalid_content_is_refused_with_the_file(tmp_path: Path) -> None:
    write_item(tmp_path, "Bad", pipeline(wait("same"), wait("same")))
    with pytest.raises(DefinitionError, match=r"Bad.DataPipeline/pipeline-content.json: .*'same' is used by both"):
        plan_folder(read_workspace_folder(tmp_path), environment="dev")


# -- fabric-cicd parameter.yml ----------------------------------------------------------------


def test_find_replace_literal_regex_and_filters(tmp_path: Path) -> None:
    write_item(tmp_path, "Ingest", pipeline(copy_from_sql("copy", DEV_SQL)))
    write_item(tmp_path, "Other", pipeline(copy_from_sql("copy", DEV_SQL)), folder="Sub")
    params = f"""
find_replace:
  - find_value: "{DEV_SQL}"
    replace_value:
      dev: "{DEV_SQL}"
      prod: "prod-conn"
    item_name: "Ingest"
  - find_value: '"schema":\\s*"(landing)"'
    is_regex: "true"
    replace_value:
      _ALL_: "landing_v2"
    file_path: "Sub/**/pipeline-content.json"
"""
    prod = rendered(tmp_path, "prod", parameters=params)
    ingest = json.dumps(prod["Ingest"])
    assert "prod-conn" in ingest and DEV_SQL not in ingest and '"landing"' in ingest  # regex filtered out
    other = json.dumps(prod["Other"])
    assert DEV_SQL in other and "prod-conn" not in other  # item_name filter
    assert '"landing_v2"' in other and '"landing"' not in other  # only group 1 replaced, quotes kept
    # An environment without a value skips the entry.
    test = rendered(tmp_path, "test", parameters=params)
    assert DEV_SQL in json.dumps(test["Ingest"])


def test_key_value_replace_runs_first_and_resolves_dynamic_values(tmp_path: Path) -> None:
    helper = write_item(tmp_path, "Helper", pipeline(wait("w")))
    write_item(tmp_path, "Main", pipeline({**wait("tune", 5)}, execute_pipeline("call", "placeholder")))
    params = """
key_value_replace:
  - find_key: $.properties.activities[?(@.name=="tune")].typeProperties.waitTimeInSeconds
    replace_value:
      dev: 30
    item_type: "DataPipeline"
  - find_key: $.properties.activities[?(@.name=="call")].typeProperties.pipeline.referenceName
    replace_value:
      _ALL_: "$items.DataPipeline.Helper.$id"
find_replace:
  # Runs after key_value_replace, so it sees the value written there.
  - find_value: '"waitTimeInSeconds": 30'
    replace_value:
      dev: '"waitTimeInSeconds": 31'
  - find_value: "marker-workspace"
    replace_value:
      dev: "$workspace.$id"
"""
    out = rendered(tmp_path, "dev", parameters=params, ids={"Helper": "h0000000-0000-0000-0000-000000000000"})
    acts = out["Main"]["properties"]["activities"]
    assert acts[0]["typeProperties"]["waitTimeInSeconds"] == 31
    assert acts[1]["typeProperties"]["pipeline"]["referenceName"] == "h0000000-0000-0000-0000-000000000000"
    plan = plan_folder(read_workspace_folder(tmp_path), environment="dev",
                       parameters=load_parameter_file(tmp_path / "parameter.yml", root=tmp_path, environment="dev"))
    needs = {p.item.display_name: p.needs for p in plan.items}
    assert needs["Main"] == {helper.lower()}  # an $items value orders the deploy too
    assert [p.item.display_name for p in plan.items].index("Helper") == 0


def test_items_value_outside_the_folder_comes_from_references(tmp_path: Path) -> None:
    write_item(tmp_path, "Main", pipeline({**wait("w"), "userProperties": [{"name": "lake", "value": "dev-lake"}]}))
    params = """
find_replace:
  - find_value: "dev-lake"
    replace_value:
      prod: "$items.Lakehouse.Sales Lake.$id"
"""
    with pytest.raises(DefinitionError, match=r"\$items.Lakehouse.Sales Lake.\$id names no item of the folder"):
        rendered(tmp_path, "prod", parameters=params)
    out = rendered(tmp_path, "prod", parameters=params, named={"Lakehouse.Sales Lake": "lake-prod"})
    assert out["Main"]["properties"]["activities"][0]["userProperties"][0]["value"] == "lake-prod"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spark_pool:\n  - instance_pool_id: x\n    replace_value: {dev: {type: Capacity, name: p}}\n",
         "'spark_pool' is a fabric-cicd section this project does not support"),
        ("find_replace:\n  - find_value: x\n    replace_value: {dev: y}\n  bad: [\n", "is not valid YAML at line"),
        ("find_replace:\n  - find_value: x\n    replace_value: {_ALL_: y, dev: z}\n", "_ALL_ must be the only key"),
        ("find_replace:\n  - find_value: 'a(b)(c)'\n    is_regex: 'true'\n    replace_value: {dev: y}\n",
         "exactly one capture group"),
        ("find_replace:\n  - find_value: $items.DataPipeline.A.$id\n    replace_value: {dev: y}\n",
         "find_value cannot be an \\$items value"),
        ("find_replace:\n  - find_value: x\n    replace_value: {dev: $items.Lakehouse.L.$sqlendpoint}\n",
         "only \\$id is supported"),
        ("find_replace:\n  - find_value: x\n    replace_value: {dev: $workspace.$name}\n",
         "not a supported dynamic value"),
        ("find_replace:\n  - find_value: x\n    replace: {dev: y}\n", "unknown key\\(s\\) replace"),
        ("key_value_replace:\n  - find_key: properties.x\n    replace_value: {dev: 1}\n", "absolute JSONPath"),
        ("key_value_replace:\n  - find_key: $.[[\n    replace_value: {dev: 1}\n", "is not a valid JSONPath"),
        ("key_value_replace:\n  - find_key: $.a\n    replace_value: {dev: 1, prod: x}\n", "different types"),
        ("", "is empty"),
    ],
)
def test_parameter_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "parameter.yml").write_text(text)
    with pytest.raises(DefinitionError, match=expected) as info:
        load_parameter_file(tmp_path / "parameter.yml", root=tmp_path, environment="dev")
    assert "parameter.yml" in str(info.value)


def test_values_of_other_environments_are_not_checked(tmp_path: Path) -> None:
    (tmp_path / "parameter.yml").write_text("find_replace:\n  - find_value: x\n    replace_value: {prod: $workspace.$name, dev: y}\n")
    assert load_parameter_file(tmp_path / "parameter.yml", root=tmp_path, environment="dev").find_replace


def test_jsonpath_matching_nothing_is_refused(tmp_path: Path) -> None:
    write_item(tmp_path, "Main", pipeline(wait("w")))
    filtered = "key_value_replace:\n  - find_key: $.properties.nothing\n    replace_value: {dev: 1}\n    item_name: Main\n"
    with pytest.raises(DefinitionError, match=r"matches nothing in .*Main.DataPipeline/pipeline-content.json"):
        rendered(tmp_path, "dev", parameters=filtered)
    unfiltered = "key_value_replace:\n  - find_key: $.properties.nothing\n    replace_value: {dev: 1}\n"
    with pytest.raises(DefinitionError, match="matches nothing in any item"):
        rendered(tmp_path, "dev", parameters=unfiltered)
    # Without a value for the environment the entry does nothing there, so it is not an error.
    assert rendered(tmp_path, "prod", parameters=unfiltered)


# -- the sample folder ------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["local", "dev", "test", "prod"])
def test_sample_folder_renders_per_environment(tmp_path: Path, environment: str) -> None:
    root = tmp_path / "pipelines"
    shutil.copytree(ROOT / "pipelines", root)
    params = load_parameter_file(root / "parameter.yml", root=root, environment=environment)
    folder = read_workspace_folder(root)
    plan = plan_folder(folder, environment=environment, parameters=params)
    assert [p.item.display_name for p in plan.items][-1] == "Nightly Orchestrator"
    ids = {i.logical_id.lower(): f"{n:08d}-0000-4000-8000-000000000000" for n, i in enumerate(folder.items)}
    binding = Binding(workspace_id=TARGET_WS, item_ids=ids, environment=environment, parameters=params)
    out = {i.display_name: canonicalize(json.loads(render_item(i, folder, binding)["pipeline-content.json"]))
           for i in folder.items}
    text = json.dumps(out)
    for item in folder.items:
        assert item.logical_id not in text  # every logicalId rebound
    assert ZERO not in text and TARGET_WS in text
    connections = {"local": "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5", "dev": DEV_SQL,
                   "test": "3baf9e6d-929d-49a5-94c6-46db518cc953", "prod": "918a9fa6-0a0f-4694-baf0-4d181fa5b9f0"}
    assert connections[environment] in json.dumps(out["Ingest Sales"])
    assert all(c not in text for e, c in connections.items() if e != environment)
    load = out["Parameterised Load"]["properties"]["activities"][2]["typeProperties"]
    assert load["batchCount"] == {"local": 2, "dev": 2, "test": 4, "prod": 8}[environment]
    assert ('"landing_masked"' in json.dumps(out["Ingest Sales"])) == (environment == "test")
