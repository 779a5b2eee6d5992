"""Pipeline definitions: loading, {{ token }} substitution, validation, canonical form, parts."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fabric_resources.definitions import (
    CONTENT_FILE,
    PLATFORM_FILE,
    build_definition_parts,
    canonical_json,
    canonicalize,
    content_hash,
    find_tokens,
    load_definition,
    parse_content,
    parse_definition_parts,
    substitute,
    validate_content,
)
from fabric_resources.errors import DefinitionError, FabricError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Single pipelines with {{ token }}s (the repository's pipelines/ is a git-format workspace folder
# deployed by WorkspaceContent, with no tokens; see test_workspace_content.py).
PIPELINES = REPO_ROOT / "tests" / "fixtures" / "token_pipelines"
SAMPLE_FOLDERS = sorted(PIPELINES.glob("*.DataPipeline"))
# Values a stack config supplies for the samples' tokens.
SAMPLE_PARAMETERS = {
    "sales_connection_id": "6f2b1c9e-0d3a-4e58-9b7f-1a2c3d4e5f60",
    "ingest_pipeline_id": "0b9f8e7d-6c5b-4a39-8271-605f4e3d2c1b",
}


def act(name: str, *deps: str, type: str = "Wait", **extra: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "name": name,
        "type": type,
        "dependsOn": [{"activity": d, "dependencyConditions": ["Succeeded"]} for d in deps],
        "typeProperties": {"waitTimeInSeconds": 1} if type == "Wait" else {},
    }
    activity.update(extra)
    return activity


def pipeline(*activities: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"properties": {"activities": list(activities), **props}}


def definition_error(content: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        validate_content(content)
    return info.value


# ---------------------------------------------------------------------------------------------
# load_definition
# ---------------------------------------------------------------------------------------------


def test_load_from_dict_round_trips_and_has_no_platform() -> None:
    content = pipeline(act("A"), act("B", "A"))
    loaded = load_definition(content)
    assert json.loads(loaded.content_text) == content
    assert loaded.platform is None
    assert loaded.source_path is None


def test_load_from_dict_rejects_values_that_are_not_json() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition({"properties": {"activities": [object()]}})
    assert "parameters" in str(info.value)
    assert info.value.field == "definition"


def test_load_from_file_keeps_raw_text_and_tokens(tmp_path: Path) -> None:
    text = '{\n  "properties": {"activities": [], "description": "{{ env }}"}\n}\n'
    (tmp_path / "p.json").write_text(text)
    loaded = load_definition(tmp_path / "p.json")
    assert loaded.content_text == text
    assert loaded.tokens == {"env"}
    assert loaded.platform is None
    assert loaded.source_path == tmp_path / "p.json"


def test_load_relative_path_uses_base_dir(tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / CONTENT_FILE).write_text('{"properties": {"activities": []}}')
    loaded = load_definition(f"defs/{CONTENT_FILE}", base_dir=tmp_path)
    assert loaded.source_path == tmp_path / "defs" / CONTENT_FILE


def test_load_item_folder_reads_content_and_platform() -> None:
    folder = PIPELINES / "Ingest Sales.DataPipeline"
    loaded = load_definition(folder)
    assert loaded.content_text == (folder / CONTENT_FILE).read_text()
    assert loaded.platform is not None
    assert loaded.platform["metadata"]["displayName"] == "Ingest Sales"
    assert loaded.platform["config"]["version"] == "2.0"
    assert loaded.display_name == "Ingest Sales"
    assert loaded.source_path == folder


def test_item_folder_without_platform_takes_name_from_folder(tmp_path: Path) -> None:
    folder = tmp_path / "Daily Copy.DataPipeline"
    folder.mkdir()
    (folder / CONTENT_FILE).write_text('{"properties": {"activities": []}}')
    loaded = load_definition(str(folder))
    assert loaded.platform is None
    assert loaded.display_name == "Daily Copy"


def test_file_with_byte_order_mark_loads(tmp_path: Path) -> None:
    (tmp_path / CONTENT_FILE).write_bytes(b'\xef\xbb\xbf{"properties": {"activities": []}}')
    assert load_definition(tmp_path).content_text.startswith("{")


def test_missing_path_names_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition("nope.DataPipeline", base_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "nope.DataPipeline") in message
    assert "does not exist" in message and "item folder" in message


def test_folder_without_content_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(tmp_path)
    assert CONTENT_FILE in str(info.value) and str(tmp_path) in str(info.value)


def test_invalid_json_reports_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / CONTENT_FILE
    path.write_text('{\n  "properties": {\n    "activities": [],\n  }\n}\n')
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 4, column 3" in message


def test_json_check_before_substitution_keeps_positions(tmp_path: Path) -> None:
    # The unquoted token is valid once substituted; the error after it must keep its real column.
    path = tmp_path / CONTENT_FILE
    path.write_text('{"properties": {"concurrency": {{ conc }}, "activities": [] x}}')
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    col = '{"properties": {"concurrency": {{ conc }}, "activities": [] x}}'.index("x") + 1
    assert f"line 1, column {col}" in str(info.value)


def test_unquoted_token_is_accepted_at_load(tmp_path: Path) -> None:
    path = tmp_path / CONTENT_FILE
    path.write_text('{"properties": {"concurrency": {{ conc }}, "activities": []}}')
    loaded = load_definition(path)
    assert loaded.render({"conc": 3})["properties"]["concurrency"] == 3


def test_top_level_must_be_object(tmp_path: Path) -> None:
    (tmp_path / CONTENT_FILE).write_text("[]")
    with pytest.raises(DefinitionError, match="JSON object"):
        load_definition(tmp_path)


def test_json_text_instead_of_path_gets_a_hint() -> None:
    with pytest.raises(DefinitionError, match=r"json\.loads"):
        load_definition('{"properties": {"activities": []}}')


def test_invalid_platform_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / CONTENT_FILE).write_text('{"properties": {"activities": []}}')
    (tmp_path / PLATFORM_FILE).write_text('{"metadata": ')
    with pytest.raises(DefinitionError) as info:
        load_definition(tmp_path)
    assert str(tmp_path / PLATFORM_FILE) in str(info.value)
    assert info.value.field == PLATFORM_FILE


def test_platform_of_another_item_type_is_rejected(tmp_path: Path) -> None:
    (tmp_path / CONTENT_FILE).write_text('{"properties": {"activities": []}}')
    (tmp_path / PLATFORM_FILE).write_text('{"metadata": {"type": "Notebook", "displayName": "x"}}')
    with pytest.raises(DefinitionError, match="Notebook"):
        load_definition(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / CONTENT_FILE).write_bytes(b'{"properties": {"description": "\xff"}}')
    with pytest.raises(DefinitionError, match="UTF-8"):
        load_definition(tmp_path)


def test_definition_error_is_a_fabric_error() -> None:
    assert issubclass(DefinitionError, FabricError)


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def test_find_tokens_whitespace_optional_and_name_charset() -> None:
    text = '{{a}} {{  b.c-d_1  }} {{ _x }} {{ 1bad }} {{ has space }} { {e} }'
    assert find_tokens(text) == {"a", "b.c-d_1", "_x"}


def test_substitute_string_values_inside_strings() -> None:
    text = '{"id": "{{ conn }}", "url": "https://{{host}}/x/{{ conn }}"}'
    out = json.loads(substitute(text, {"conn": "abc", "host": "h.example"}))
    assert out == {"id": "abc", "url": "https://h.example/x/abc"}


def test_substitute_escapes_quotes_backslashes_and_control_characters() -> None:
    nasty = 'say "hi"\\path\\n\tand\nnewline é'
    out = json.loads(substitute('{"v": "pre {{ v }} post"}', {"v": nasty}))
    assert out["v"] == f"pre {nasty} post"


def test_substitute_numbers_and_bools() -> None:
    text = '{"retry": {{ n }}, "ratio": {{ r }}, "on": {{ flag }}, "msg": "n={{ n }} flag={{ flag }}"}'
    out = json.loads(substitute(text, {"n": 3, "r": 0.5, "flag": True}))
    assert out == {"retry": 3, "ratio": 0.5, "on": True, "msg": "n=3 flag=true"}


def test_substitute_string_outside_quotes_becomes_json_string() -> None:
    out = json.loads(substitute('{"name": {{ v }}}', {"v": 'a"b'}))
    assert out == {"name": 'a"b'}


def test_substitute_token_in_key() -> None:
    out = json.loads(substitute('{"{{ k }}": 1}', {"k": "key"}))
    assert out == {"key": 1}


def test_substitute_ignores_brace_pairs_after_escaped_quotes() -> None:
    # The escaped quote must not end the string: the token is still inside it.
    out = json.loads(substitute(r'{"v": "a \"{{ x }}\" b"}', {"x": 'q"'}))
    assert out["v"] == 'a "q"" b'


def test_missing_token_names_token_and_parameter_key() -> None:
    with pytest.raises(DefinitionError) as info:
        substitute('{"a": "{{ present }}", "b": "{{ absent }}", "c": "{{ zz }}"}', {"present": "x"})
    message = str(info.value)
    assert "{{ absent }}" in message and "{{ zz }}" in message
    assert "'absent'" in message and "parameters" in message
    assert "present" not in message.replace("'absent'", "")
    assert info.value.field == "parameters.absent"


def test_missing_token_message_names_source_file() -> None:
    loaded = load_definition(PIPELINES / "Ingest Sales.DataPipeline")
    with pytest.raises(DefinitionError) as info:
        loaded.substitute({})
    assert "sales_connection_id" in str(info.value)
    assert "Ingest Sales.DataPipeline" in str(info.value)


def test_unused_parameters_are_fine() -> None:
    assert substitute('{"a": 1}', {"unused": "x"}) == '{"a": 1}'


def test_non_scalar_inside_string_is_rejected_but_literal_outside_works() -> None:
    with pytest.raises(DefinitionError, match="inside a JSON string"):
        substitute('{"a": "{{ v }}"}', {"v": ["x"]})
    assert json.loads(substitute('{"a": {{ v }}}', {"v": ["x", 1]})) == {"a": ["x", 1]}


def test_substitution_is_single_pass() -> None:
    # A value that looks like a token is data, not another token.
    out = json.loads(substitute('{"a": "{{ v }}"}', {"v": "{{ w }}"}))
    assert out == {"a": "{{ w }}"}


def test_parse_content_reports_line_and_column_after_substitution() -> None:
    text = substitute('{\n"a": {{ v }}\n}', {"v": 1})
    assert parse_content(text) == {"a": 1}
    with pytest.raises(DefinitionError) as info:
        parse_content('{\n "a": 1,\n}', source="x.json", substituted=True)
    assert "x.json" in str(info.value) and "line 3, column 1" in str(info.value)
    assert "substitution" in str(info.value)


# ---------------------------------------------------------------------------------------------
# validate_content
# ---------------------------------------------------------------------------------------------


def test_minimal_content_is_valid() -> None:
    model = validate_content({"properties": {"activities": []}})
    assert model.properties.activities == []


def test_unknown_activity_types_and_fields_are_legal() -> None:
    content = pipeline(act("A", type="SomethingNew", futureField={"x": 1}), futureProp=True)
    content["futureTop"] = 1
    model = validate_content(content)
    assert model.properties.activities[0].type == "SomethingNew"


def test_missing_properties_field_path() -> None:
    err = definition_error({"activities": []})
    assert err.field == "properties"


def test_activity_missing_name_field_path() -> None:
    err = definition_error(pipeline(act("A"), {"type": "Wait"}))
    assert err.field == "properties.activities[1].name"
    assert "add the field" in str(err)


def test_duplicate_names() -> None:
    err = definition_error(pipeline(act("A"), act("B"), act("A")))
    assert err.field == "properties.activities[2].name"
    assert "'A'" in str(err) and "rename" in str(err)


def test_dangling_depends_on() -> None:
    err = definition_error(pipeline(act("A"), act("B", "A"), act("C", "B", "Nope")))
    assert err.field == "properties.activities[2].dependsOn[1].activity"
    assert "'Nope'" in str(err) and "'C'" in str(err)


def test_cycle_is_named() -> None:
    err = definition_error(pipeline(act("A", "C"), act("B", "A"), act("C", "B"), act("D")))
    message = str(err)
    assert "cycle" in message
    assert "'A' -> 'C' -> 'B' -> 'A'" in message
    assert err.field is not None and err.field.startswith("properties.activities[")
    assert err.field.endswith("].dependsOn[0].activity")


def test_self_dependency_is_a_cycle() -> None:
    err = definition_error(pipeline(act("A"), act("B", "B")))
    assert "'B' -> 'B'" in str(err)
    assert err.field == "properties.activities[1].dependsOn[0].activity"


def test_diamond_is_not_a_cycle() -> None:
    validate_content(pipeline(act("A"), act("B", "A"), act("C", "A"), act("D", "B", "C")))


def test_bad_dependency_condition() -> None:
    content = pipeline(act("A"), act("B"))
    content["properties"]["activities"][1]["dependsOn"] = [
        {"activity": "A", "dependencyConditions": ["Succeeded", "Done"]}
    ]
    err = definition_error(content)
    assert err.field == "properties.activities[1].dependsOn[0].dependencyConditions[1]"
    assert "Succeeded" in str(err) and "Completed" in str(err)


def test_empty_dependency_conditions() -> None:
    content = pipeline(act("A"), act("B"))
    content["properties"]["activities"][1]["dependsOn"] = [{"activity": "A", "dependencyConditions": []}]
    err = definition_error(content)
    assert err.field == "properties.activities[1].dependsOn[0].dependencyConditions"


def test_state_and_policy_values() -> None:
    validate_content(pipeline(act("A", state="Inactive", onInactiveMarkAs="Succeeded"), act("B", state="InActive")))
    err = definition_error(pipeline(act("A", state="Paused")))
    assert err.field == "properties.activities[0].state"
    err = definition_error(pipeline(act("A", policy={"retry": -1})))
    assert err.field == "properties.activities[0].policy.retry"


def test_parameter_and_variable_types() -> None:
    ok = pipeline(
        parameters={"p": {"type": "string", "defaultValue": "x"}, "q": {"type": "Int", "defaultValue": 2},
                    "r": {"type": "SecureString"}},
        variables={"v": {"type": "Boolean", "defaultValue": True}, "w": {"type": "Array"}},
    )
    validate_content(ok)
    err = definition_error(pipeline(parameters={"p": {"type": "Number"}}))
    assert err.field == "properties.parameters.p.type"
    err = definition_error(pipeline(parameters={"p": {"type": "Int", "defaultValue": "five"}}))
    assert err.field == "properties.parameters.p"
    err = definition_error(pipeline(variables={"v": {"type": "Integer", "defaultValue": True}}))
    assert err.field == "properties.variables.v"


def _foreach(name: str, inner: list[dict[str, Any]], *deps: str) -> dict[str, Any]:
    a = act(name, *deps, type="ForEach")
    a["typeProperties"] = {"items": {"value": "@pipeline().parameters.xs", "type": "Expression"}, "activities": inner}
    return a


def test_nested_scopes_allow_same_name_as_outer_scope() -> None:
    validate_content(pipeline(act("Wait"), _foreach("Loop", [act("Wait"), act("Then", "Wait")], "Wait")))


def test_nested_duplicate_names() -> None:
    err = definition_error(pipeline(act("X"), _foreach("Loop", [act("W"), act("W")])))
    assert err.field == "properties.activities[1].typeProperties.activities[1].name"


def test_nested_dependency_cannot_reach_outer_scope() -> None:
    err = definition_error(pipeline(act("Outer"), _foreach("Loop", [act("Inner", "Outer")])))
    assert err.field == "properties.activities[1].typeProperties.activities[0].dependsOn[0].activity"
    assert "same list" in str(err)


def test_nested_cycle_in_if_condition() -> None:
    cond = act("If", type="IfCondition")
    cond["typeProperties"] = {
        "expression": {"value": "@true", "type": "Expression"},
        "ifTrueActivities": [act("T")],
        "ifFalseActivities": [act("F1", "F2"), act("F2", "F1")],
    }
    err = definition_error(pipeline(cond))
    assert err.field is not None
    assert err.field.startswith("properties.activities[0].typeProperties.ifFalseActivities[")
    assert "cycle" in str(err)


def test_nested_shape_errors_have_full_path() -> None:
    until = act("U", type="Until")
    until["typeProperties"] = {"expression": {"value": "@true", "type": "Expression"},
                               "activities": [{"name": "no type"}]}
    err = definition_error(pipeline(until))
    assert err.field == "properties.activities[0].typeProperties.activities[0].type"


def test_switch_cases_and_default_are_scopes() -> None:
    switch = act("S", type="Switch")
    switch["typeProperties"] = {
        "on": {"value": "@variables('x')", "type": "Expression"},
        "cases": [{"value": "a", "activities": [act("A1")]},
                  {"value": "b", "activities": [act("B1"), act("B2", "Missing")]}],
        "defaultActivities": [act("D")],
    }
    err = definition_error(pipeline(switch))
    assert err.field == "properties.activities[0].typeProperties.cases[1].activities[1].dependsOn[0].activity"
    switch["typeProperties"]["cases"][1]["activities"][1] = act("B2", "B1")
    validate_content(pipeline(switch))
    switch["typeProperties"]["defaultActivities"] = [act("D"), act("D")]
    assert definition_error(pipeline(switch)).field == (
        "properties.activities[0].typeProperties.defaultActivities[1].name"
    )


def test_deeply_nested_scopes() -> None:
    inner_if = act("If", type="IfCondition")
    inner_if["typeProperties"] = {"expression": {"value": "@true", "type": "Expression"},
                                  "ifTrueActivities": [act("Deep", "Gone")]}
    err = definition_error(pipeline(_foreach("Loop", [inner_if])))
    assert err.field == (
        "properties.activities[0].typeProperties.activities[0].typeProperties.ifTrueActivities[0]"
        ".dependsOn[0].activity"
    )


def test_non_object_content() -> None:
    assert definition_error([]).field == "definition"


def test_several_shape_errors_are_reported_together() -> None:
    err = definition_error(pipeline({"type": "Wait"}, {"name": "B"}))
    message = str(err)
    assert err.field == "properties.activities[0].name"
    assert message.startswith("properties.activities[0].name: Field required")
    assert "also properties.activities[1].type: Field required" in message


# ---------------------------------------------------------------------------------------------
# canonical form and hash
# ---------------------------------------------------------------------------------------------

AUTHORED = pipeline(
    act("Copy", type="Copy", policy={"timeout": "0.01:00:00", "retry": 2}, typeProperties={"b": 1, "a": [2, 1]}),
    act("Wait", "Copy"),
    parameters={"p": {"type": "String", "defaultValue": "x"}},
)


def service_version(content: dict[str, Any]) -> dict[str, Any]:
    """What the service hands back: ids and timestamps added, defaults spelled out, keys shuffled."""
    out = copy.deepcopy(content)
    out["objectId"] = "11111111-2222-3333-4444-555555555555"
    out["name"] = "My pipeline"
    props = out["properties"]
    props["lastModifiedByObjectId"] = "99999999-2222-3333-4444-555555555555"
    props["lastPublishTime"] = "2026-11-29T09:00:00Z"
    props["annotations"] = []
    props.setdefault("variables", {})
    for a in props["activities"]:
        a["state"] = "Active"
        a["userProperties"] = []
        a.setdefault("dependsOn", [])
        policy = dict(a.get("policy") or {})
        for k, v in {"timeout": "0.12:00:00", "retry": 0, "retryIntervalInSeconds": 30,
                     "secureInput": False, "secureOutput": False}.items():
            policy.setdefault(k, v)
        a["policy"] = policy
    props["activities"] = [dict(reversed(list(a.items()))) for a in props["activities"]]
    out["properties"] = dict(reversed(list(props.items())))
    return dict(reversed(list(out.items())))


def test_canonical_equal_under_service_added_fields_and_key_order() -> None:
    assert canonicalize(service_version(AUTHORED)) == canonicalize(AUTHORED)
    assert content_hash(service_version(AUTHORED)) == content_hash(AUTHORED)


def test_canonical_equal_under_reformatting() -> None:
    compact = json.dumps(AUTHORED, separators=(",", ":"))
    pretty = json.dumps(AUTHORED, indent=4, sort_keys=True)
    assert content_hash(json.loads(compact)) == content_hash(json.loads(pretty))
    assert canonical_json(AUTHORED) == json.dumps(json.loads(canonical_json(AUTHORED)), sort_keys=True,
                                                   separators=(",", ":"), ensure_ascii=False)


def test_canonical_form_drops_only_unauthored_fields() -> None:
    canon = canonicalize(service_version(AUTHORED))
    assert "objectId" not in canon and "name" not in canon
    props = canon["properties"]
    assert set(props) == {"activities", "parameters"}
    copy_activity, wait_activity = props["activities"]
    assert copy_activity["policy"] == {"timeout": "0.01:00:00", "retry": 2}
    assert "state" not in copy_activity and "userProperties" not in copy_activity
    assert "dependsOn" not in copy_activity and "policy" not in wait_activity
    assert wait_activity["dependsOn"] == [{"activity": "Copy", "dependencyConditions": ["Succeeded"]}]
    assert list(copy_activity["typeProperties"]) == ["a", "b"]
    assert copy_activity["typeProperties"]["a"] == [2, 1]  # list order is meaningful


def test_canonicalize_does_not_mutate_input() -> None:
    version = service_version(AUTHORED)
    before = copy.deepcopy(version)
    canonicalize(version)
    assert version == before


def test_canonical_json_is_compact_and_keeps_unicode() -> None:
    text = canonical_json({"properties": {"activities": [], "description": "Zürich ☃"}})
    assert text == '{"properties":{"activities":[],"description":"Zürich ☃"}}'


def test_canonical_applies_to_nested_activities() -> None:
    plain = pipeline(_foreach("Loop", [act("W")]))
    noisy = copy.deepcopy(plain)
    inner = noisy["properties"]["activities"][0]["typeProperties"]["activities"][0]
    inner.update(state="Active", userProperties=[], policy={"retry": 0, "secureInput": False})
    assert content_hash(noisy) == content_hash(plain)


def test_inactive_spellings_are_equal_but_differ_from_active() -> None:
    a = pipeline(act("A", state="Inactive"))
    b = pipeline(act("A", state="InActive"))
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(pipeline(act("A")))


def test_policy_bools_are_not_confused_with_zero() -> None:
    # retry: false is not the default retry of 0 (and would be a user error worth seeing in a diff).
    assert "policy" in canonicalize(pipeline(act("A", policy={"retry": False})))["properties"]["activities"][0]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["properties"]["activities"][1]["typeProperties"].update(waitTimeInSeconds=2),
        lambda c: c["properties"]["activities"][0].update(name="Copy2"),
        lambda c: c["properties"]["activities"][0]["policy"].update(retry=3),
        lambda c: c["properties"]["activities"][0].update(policy={"timeout": "0.01:00:00"}),
        lambda c: c["properties"]["activities"][1]["dependsOn"][0].update(dependencyConditions=["Failed"]),
        lambda c: c["properties"]["activities"][0].update(state="Inactive"),
        lambda c: c["properties"]["activities"].reverse(),
        lambda c: c["properties"]["parameters"]["p"].update(defaultValue="y"),
        lambda c: c["properties"].update(annotations=["tag"]),
    ],
)
def test_hash_changes_when_content_changes(change: Any) -> None:
    changed = copy.deepcopy(AUTHORED)
    change(changed)
    assert content_hash(changed) != content_hash(AUTHORED)


def test_hash_format() -> None:
    h = content_hash(AUTHORED)
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 64
    assert h == content_hash(copy.deepcopy(AUTHORED))


# ---------------------------------------------------------------------------------------------
# definition parts
# ---------------------------------------------------------------------------------------------


def test_parts_round_trip_with_platform() -> None:
    loaded = load_definition(PIPELINES / "Nightly Orchestrator.DataPipeline")
    text = loaded.substitute(SAMPLE_PARAMETERS)
    parts = build_definition_parts(text, loaded.platform, display_name="Renamed", description="New words")
    assert [p["path"] for p in parts] == [CONTENT_FILE, PLATFORM_FILE]
    assert all(p["payloadType"] == "InlineBase64" for p in parts)
    assert base64.b64decode(parts[0]["payload"]).decode() == text  # sent exactly as written
    content, platform = parse_definition_parts(parts)
    assert content == json.loads(text)
    assert platform is not None
    assert platform["metadata"] == {"type": "DataPipeline", "displayName": "Renamed", "description": "New words"}
    assert platform["config"] == loaded.platform["config"]  # type: ignore[index]
    assert loaded.platform["metadata"]["displayName"] == "Nightly Orchestrator"  # type: ignore[index]


def test_parts_without_platform_and_without_description() -> None:
    parts = build_definition_parts('{"properties":{"activities":[]}}', None, display_name="x", description=None)
    assert [p["path"] for p in parts] == [CONTENT_FILE]
    assert parse_definition_parts(parts) == ({"properties": {"activities": []}}, None)
    parts = build_definition_parts("{}", {"metadata": {"description": "old"}}, display_name="x", description=None)
    assert "description" not in parse_definition_parts(parts)[1]["metadata"]  # type: ignore[index]


def test_parse_parts_ignores_unknown_parts_and_accepts_objects() -> None:
    class Part:
        def __init__(self, path: str, payload: str) -> None:
            self.path, self.payload, self.payload_type = path, payload, "InlineBase64"

    encoded = base64.b64encode(b'{"properties": {"activities": []}}').decode()
    content, platform = parse_definition_parts([Part("other.txt", "zz"), Part(CONTENT_FILE, encoded)])
    assert content == {"properties": {"activities": []}} and platform is None


def test_parse_parts_errors_name_the_part() -> None:
    with pytest.raises(DefinitionError, match=CONTENT_FILE):
        parse_definition_parts([])
    with pytest.raises(DefinitionError) as info:
        parse_definition_parts([{"path": CONTENT_FILE, "payload": "not base64!", "payloadType": "InlineBase64"}])
    assert CONTENT_FILE in str(info.value) and info.value.field == "definition.parts[0].payload"
    bad_json = base64.b64encode(b'{"a": 1,}').decode()
    with pytest.raises(DefinitionError) as info:
        parse_definition_parts([{"path": CONTENT_FILE, "payload": "e30="},
                                {"path": PLATFORM_FILE, "payload": bad_json, "payloadType": "InlineBase64"}])
    assert PLATFORM_FILE in str(info.value) and "line 1, column 9" in str(info.value)
    assert info.value.field == "definition.parts[1].payload"
    with pytest.raises(DefinitionError, match="payloadType"):
        parse_definition_parts([{"path": CONTENT_FILE, "payload": "e30=", "payloadType": "SomethingElse"}])


def test_spec_example_definition_decodes() -> None:
    # The parts of the API spec's GetDataPipelineDefinition example, verbatim.
    parts = [{"path": CONTENT_FILE, "payloadType": "InlineBase64",
              "payload": "ewogICJwcm9wZXJ0aWVzIjogewogICAgImFjdGl2aXRpZXMiOiBbXQogIH0KfQ=="}]
    content, platform = parse_definition_parts(parts)
    assert content == {"properties": {"activities": []}} and platform is None
    validate_content(content)


# ---------------------------------------------------------------------------------------------
# the sample pipelines
# ---------------------------------------------------------------------------------------------


def test_there_are_three_samples() -> None:
    names = {p.name for p in SAMPLE_FOLDERS}
    assert names == {"Ingest Sales.DataPipeline", "Nightly Orchestrator.DataPipeline",
                     "Parameterised Load.DataPipeline"}


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS, ids=lambda p: p.name)
def test_sample_loads_substitutes_and_validates(folder: Path) -> None:
    loaded = load_definition(folder)
    assert loaded.tokens <= set(SAMPLE_PARAMETERS), "every sample token must be one the stacks supply"
    assert loaded.platform is not None
    assert loaded.platform["metadata"]["type"] == "DataPipeline"
    assert loaded.platform["metadata"]["displayName"] == folder.name.removesuffix(".DataPipeline")
    assert loaded.platform["config"]["version"] == "2.0"
    assert len(loaded.platform["config"]["logicalId"]) == 36
    content = loaded.render(SAMPLE_PARAMETERS)
    assert find_tokens(json.dumps(content)) == set()
    model = validate_content(content)
    assert model.properties.activities
    assert content_hash(content) == content_hash(json.loads(json.dumps(content, indent=1, sort_keys=True)))


def test_sample_values_land_where_expected() -> None:
    ingest = load_definition(PIPELINES / "Ingest Sales.DataPipeline").render(SAMPLE_PARAMETERS)
    copy_activity, wait = ingest["properties"]["activities"]
    assert copy_activity["type"] == "Copy"
    assert copy_activity["externalReferences"]["connection"] == SAMPLE_PARAMETERS["sales_connection_id"]
    assert {"source", "sink"} <= set(copy_activity["typeProperties"])
    assert copy_activity["policy"]["retry"] > 0
    assert wait["type"] == "Wait" and wait["typeProperties"]["waitTimeInSeconds"] == 5
    assert wait["dependsOn"][0]["activity"] == copy_activity["name"]

    orchestrator = load_definition(PIPELINES / "Nightly Orchestrator.DataPipeline").render(SAMPLE_PARAMETERS)
    run = orchestrator["properties"]["activities"][0]
    assert run["type"] == "ExecutePipeline" and run["typeProperties"]["waitOnCompletion"] is True
    assert run["typeProperties"]["pipeline"] == {"referenceName": SAMPLE_PARAMETERS["ingest_pipeline_id"],
                                                 "type": "PipelineReference"}

    load = validate_content(load_definition(PIPELINES / "Parameterised Load.DataPipeline").render())
    types = [a.type for a in load.properties.activities]
    assert types == ["SetVariable", "IfCondition", "ForEach"]
    assert load.properties.parameters and load.properties.variables


def test_samples_hash_differently_per_environment() -> None:
    loaded = load_definition(PIPELINES / "Ingest Sales.DataPipeline")
    dev = loaded.render(SAMPLE_PARAMETERS)
    prod = loaded.render({**SAMPLE_PARAMETERS, "sales_connection_id": "another-connection"})
    assert content_hash(dev) != content_hash(prod)


def test_module_imports_without_pulumi_or_pydantic() -> None:
    code = (
        "import sys, fabric_resources.definitions\n"
        "assert 'pulumi' not in sys.modules, 'pulumi imported'\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


EXPRESSION = {"value": "@pipeline().parameters.attempts", "type": "Expression"}


def test_counts_and_timeouts_accept_an_int_or_an_expression_object() -> None:
    # Data Factory types policy.retry, policy.timeout, Wait's waitTimeInSeconds and ForEach's
    # batchCount as "integer/string or Expression": both spellings must pass, as the service takes them.
    validate_content(pipeline(
        act("A", policy={"retry": EXPRESSION, "timeout": EXPRESSION, "retryIntervalInSeconds": 30},
            typeProperties={"waitTimeInSeconds": EXPRESSION}),
        act("B", "A", policy={"retry": 2, "timeout": "0.01:00:00"}),
        act("Each", type="ForEach", typeProperties={"items": EXPRESSION, "batchCount": EXPRESSION,
                                                  "activities": []}),
    ))
    for bad, where in (
        (act("A", policy={"retry": -1}), "policy.retry"),
        (act("A", policy={"retry": {"value": "@x"}}), "policy.retry"),
        (act("A", policy={"timeout": 60}), "policy.timeout"),
        (act("A", typeProperties={"waitTimeInSeconds": "ten"}), "typeProperties.waitTimeInSeconds"),
    ):
        err = definition_error(pipeline(bad))
        assert where in str(err) and "Expression" in str(err), str(err)
