"""The emulator's pipeline expression language on its own (no run engine, no server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from fabric_resources.emulator.expressions import ExpressionError, resolve, resolve_lenient


@dataclass
class RunView:
    """What a run shows expressions: the ExpressionScope protocol, filled by hand."""

    parameters: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    item: Any = None

    def pipeline_info(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "RunId": "run-1"}

    def get_variable(self, name: str) -> Any:
        if name not in self.variables:
            raise ExpressionError(f"the variable '{name}' is not declared in the pipeline")
        return self.variables[name]

    def current_item(self) -> Any:
        return self.item

    def activity_result(self, name: str) -> dict[str, Any]:
        return self.results[name]


def test_values_functions_and_members_resolve_inside_json() -> None:
    scope = RunView(parameters={"Days": "7"}, variables={"names": ["a", "b"]},
                    results={"Look": {"output": {"count": 3}}}, item={"Name": "x"})
    value = {
        "days": "@int(pipeline().parameters.days)",
        "msg": "run @{pipeline().RunId} saw @{activity('Look').output.count} rows",
        "wrapped": {"value": "@length(variables('names'))", "type": "Expression"},
        "item": "@toUpper(item()?.name)",
        "escaped": "@@literal",
        "list": ["@equals('A', 'a')", "@if(greater(2, 1), 'yes', 'no')"],
    }
    assert resolve(value, scope) == {
        "days": 7, "msg": "run run-1 saw 3 rows", "wrapped": 2, "item": "X", "escaped": "@literal",
        "list": [True, "yes"],
    }


def test_unsupported_or_wrong_expressions_raise_expression_error() -> None:
    scope = RunView()
    for text in ("@variables('missing')", "@noSuchFunction()", "@add(1, 'x')", "@pipeline().parameters.nope"):
        with pytest.raises(ExpressionError):
            resolve(text, scope)


def test_lenient_resolution_keeps_what_it_cannot_evaluate() -> None:
    assert resolve_lenient({"ok": "@add(1, 2)", "kept": "@linkedService().name"}, RunView()) == {
        "ok": 3, "kept": "@linkedService().name"}
