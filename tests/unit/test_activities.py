"""One walker over nested activities and one dependency-graph check, shared by definitions and emulator."""

from __future__ import annotations

import copy
from typing import Any

from fabric_resources.activities import (
    NESTED_ACTIVITY_KEYS,
    dependency_problem,
    map_nested_activities,
    nested_activity_lists,
)


def act(name: str) -> dict[str, Any]:
    return {"name": name, "type": "Wait"}


SWITCH_PROPS: dict[str, Any] = {
    "on": "@x",
    "cases": [{"value": "a", "activities": [act("A")]}, {"value": "b"}, "not a case"],
    "defaultActivities": [act("D")],
}


def test_walk_by_type_and_by_shape() -> None:
    assert nested_activity_lists("Switch", SWITCH_PROPS) == [
        (("cases", 0, "activities"), [act("A")]), (("defaultActivities",), [act("D")])]
    if_props = {"expression": "@true", "ifTrueActivities": [act("T")], "activities": [act("X")]}
    # By type, an IfCondition's "activities" key is not a nested list; by shape it is.
    assert nested_activity_lists("IfCondition", if_props) == [(("ifTrueActivities",), [act("T")])]
    assert [loc for loc, _ in nested_activity_lists(None, if_props)] == [("ifTrueActivities",), ("activities",)]
    assert nested_activity_lists("Wait", {"waitTimeInSeconds": 1}) == []
    assert nested_activity_lists("ForEach", "not an object") == []
    assert {"cases", "activities", "ifTrueActivities", "ifFalseActivities", "defaultActivities"} == NESTED_ACTIVITY_KEYS


def test_map_changes_every_nested_activity_and_leaves_the_input_alone() -> None:
    before = copy.deepcopy(SWITCH_PROPS)
    renamed = map_nested_activities(SWITCH_PROPS, lambda a: {**a, "name": a["name"].lower()})
    assert before == SWITCH_PROPS
    assert renamed["cases"][0]["activities"] == [act("a")]
    assert renamed["cases"][1:] == [{"value": "b"}, "not a case"]
    assert renamed["defaultActivities"] == [act("d")]
    assert renamed["on"] == "@x"
    # Not a list: kept as found (validation reports it; the canonical form must not fail on it).
    assert map_nested_activities({"activities": "oops"}, lambda a: a) == {"activities": "oops"}


def test_dependency_problems_in_order_with_locations() -> None:
    assert dependency_problem(["A", "B"], [[], ["A"]], scope="acts") is None
    assert dependency_problem(["A", "B", "C", "D"], [[], ["A"], ["A"], ["B", "C"]], scope="acts") is None  # diamond

    missing = dependency_problem(["A", ""], [[], []], scope="acts")
    assert missing is not None and missing.location == (1, "name") and "non-empty 'name'" in missing.message

    twice = dependency_problem(["A", "B", "A"], [[], [], []], scope="acts")
    assert twice is not None and twice.location == (2, "name")
    assert "acts[0] and acts[2]" in twice.message

    unknown = dependency_problem(["A", "B"], [[], ["A", "Nope"]], scope="acts")
    assert unknown is not None and unknown.location == (1, "dependsOn", 1, "activity")
    assert "'Nope'" in unknown.message and "'A', 'B'" in unknown.message

    cycle = dependency_problem(["A", "B", "C"], [["C"], ["A"], ["B"]], scope="acts")
    assert cycle is not None and cycle.message.startswith("dependency cycle: 'A' -> 'C' -> 'B' -> 'A'")

    itself = dependency_problem(["A"], [["A"]], scope="acts")
    assert itself is not None and itself.location == (0, "dependsOn", 0, "activity")
