"""The activities of a pipeline-content.json in plain JSON terms: where they nest, and their graphs.

- ``CONTAINER_ACTIVITY_KEYS`` is the one table of where container activities keep nested activity
  lists inside ``typeProperties`` (Switch also nests them under ``cases[i].activities``).
- ``nested_activity_lists`` walks one level of it; ``map_nested_activities`` rebuilds a
  ``typeProperties`` with every nested activity changed (how the canonical form recurses).
- ``dependency_problem`` checks one activity list's ``dependsOn`` graph: names unique, every
  target in the same list, no cycle.

Used by ``definitions.py`` (validation and canonical form), ``models/pipeline_content.py`` and the
emulator's run engine. Standard library only, so that ``definitions.py`` stays free of pydantic at
import and the emulator, a separate server, may use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTAINER_ACTIVITY_KEYS",
    "NESTED_ACTIVITY_KEYS",
    "SWITCH_CASES_KEY",
    "GraphProblem",
    "Location",
    "dependency_problem",
    "map_nested_activities",
    "nested_activity_lists",
]

#: Where container activities hold nested activity lists in ``typeProperties``, by activity type.
CONTAINER_ACTIVITY_KEYS: dict[str, tuple[str, ...]] = {
    "IfCondition": ("ifTrueActivities", "ifFalseActivities"),
    "ForEach": ("activities",),
    "Until": ("activities",),
    "Switch": ("defaultActivities",),
}
#: Switch's cases: ``typeProperties.cases[i].activities``.
SWITCH_CASES_KEY = "cases"
_LIST_KEYS = tuple(dict.fromkeys(key for keys in CONTAINER_ACTIVITY_KEYS.values() for key in keys))
#: Every key of ``typeProperties`` under which some container nests activities (cases included).
NESTED_ACTIVITY_KEYS = frozenset((*_LIST_KEYS, SWITCH_CASES_KEY))

#: A place inside ``typeProperties`` (or inside an activity list): keys and indexes, outermost first.
Location = tuple[str | int, ...]


def nested_activity_lists(activity_type: str | None, type_properties: Any) -> list[tuple[Location, Any]]:
    """The nested activity lists of one activity, as (location in typeProperties, raw value).

    ``activity_type`` None goes by shape (every key any container uses, whatever the type): for the
    canonical form, which must also accept content that does not validate. The raw value is returned
    as found (it may not even be a list), so the caller can report a precise location.
    """
    if not isinstance(type_properties, Mapping):
        return []
    found: list[tuple[Location, Any]] = []
    if activity_type in (None, "Switch"):
        cases = type_properties.get(SWITCH_CASES_KEY)
        if isinstance(cases, list):
            for i, case in enumerate(cases):
                if isinstance(case, Mapping) and "activities" in case:
                    found.append(((SWITCH_CASES_KEY, i, "activities"), case["activities"]))
    keys = _LIST_KEYS if activity_type is None else CONTAINER_ACTIVITY_KEYS.get(activity_type, ())
    for key in keys:
        if key in type_properties:
            found.append(((key,), type_properties[key]))
    return found


def map_nested_activities(
    type_properties: Mapping[str, Any], change: Callable[[Any], Any], activity_type: str | None = None
) -> dict[str, Any]:
    """A copy of ``type_properties`` in which each activity of every nested list is ``change(activity)``.

    Values that are not lists stay as they are; the input is not modified.
    """
    out = dict(type_properties)
    for location, raw in nested_activity_lists(activity_type, type_properties):
        if not isinstance(raw, list):
            continue
        changed = [change(activity) for activity in raw]
        if location[0] == SWITCH_CASES_KEY:
            index = location[1]
            assert isinstance(index, int)
            if out[SWITCH_CASES_KEY] is type_properties[SWITCH_CASES_KEY]:
                out[SWITCH_CASES_KEY] = list(out[SWITCH_CASES_KEY])
            out[SWITCH_CASES_KEY][index] = {**out[SWITCH_CASES_KEY][index], "activities": changed}
        else:
            out[str(location[0])] = changed
    return out


@dataclass(frozen=True)
class GraphProblem:
    """Why an activity list cannot run; ``location`` is relative to the list, e.g. (2, "dependsOn", 0, "activity")."""

    message: str
    location: Location


def dependency_problem(
    names: Sequence[object], depends_on: Sequence[Sequence[object]], *, scope: str
) -> GraphProblem | None:
    """The first problem of one activity list's dependency graph, or None.

    ``names[i]`` is activity i's name and ``depends_on[i]`` the activities its ``dependsOn`` names;
    ``scope`` is how messages call the list (``properties.activities``). Checked in this order: every
    name a non-empty string, names unique, every target in the same list, no cycle.
    """
    index_of: dict[str, int] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            return GraphProblem(f"{scope}[{i}] has no name; every activity needs a non-empty 'name'", (i, "name"))
        if name in index_of:
            return GraphProblem(
                f"activity name {name!r} is used by both {scope}[{index_of[name]}] and {scope}[{i}]; "
                "rename one: names must be unique within an activity list",
                (i, "name"),
            )
        index_of[name] = i

    for i, targets in enumerate(depends_on):
        for j, target in enumerate(targets):
            if not isinstance(target, str) or target not in index_of:
                known = ", ".join(repr(n) for n in index_of) or "none"
                return GraphProblem(
                    f"activity {names[i]!r} depends on {target!r}, which is not an activity of {scope} "
                    f"(activities there: {known}); fix the name or remove the dependency "
                    "(dependsOn can only name activities in the same list)",
                    (i, "dependsOn", j, "activity"),
                )

    # Depth-first search; a dependency on an activity still on the stack closes a cycle.
    white, grey, black = 0, 1, 2
    colour = [white] * len(names)
    stack: list[int] = []

    def visit(i: int) -> GraphProblem | None:
        colour[i] = grey
        stack.append(i)
        for j, target in enumerate(depends_on[i]):
            k = index_of[str(target)]
            if colour[k] == grey:
                cycle = [names[m] for m in stack[stack.index(k):]] + [names[k]]
                return GraphProblem(
                    "dependency cycle: " + " -> ".join(repr(n) for n in cycle)
                    + " (each depends on the next); remove one of these dependsOn entries",
                    (i, "dependsOn", j, "activity"),
                )
            if colour[k] == white and (problem := visit(k)) is not None:
                return problem
        stack.pop()
        colour[i] = black
        return None

    for i in range(len(names)):
        if colour[i] == white and (problem := visit(i)) is not None:
            return problem
    return None
