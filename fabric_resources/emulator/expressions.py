"""The pipeline expression language, as far as the emulator interprets it (never ``eval``'d).

``resolve(value, scope)`` evaluates every expression inside a JSON value of pipeline-content.json:
strings starting with ``@``, ``@{...}`` interpolations, and ``{"value": ..., "type": "Expression"}``
wrappers. ``Expression`` is the interpreter; its ``_call`` is the table of functions.

What an expression can see comes from its ``ExpressionScope`` (the run engine's ``jobs.Scope``):
``pipeline()`` (parameters, RunId, TriggerTime, ... -- ``Run.pipeline_info`` in jobs.py; new system
members such as ``libraryVariables`` belong there), ``variables(name)``, ``item()`` inside ForEach,
and ``activity(name)`` outputs (table ``SCOPE_READERS``). A new *function* is one more branch of
``Expression._call``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = ["Expression", "ExpressionError", "ExpressionScope", "equals", "resolve", "resolve_lenient", "to_string"]


class ExpressionScope(Protocol):
    """What expressions read from the run they are evaluated in."""

    def pipeline_info(self) -> dict[str, Any]:
        """``pipeline()``: the run's parameters and system members."""
        ...

    def get_variable(self, name: str) -> Any:
        """``variables(name)``; raises ExpressionError for an undeclared variable."""
        ...

    def current_item(self) -> Any:
        """``item()``; raises ExpressionError outside a ForEach."""
        ...

    def activity_result(self, name: str) -> dict[str, Any]:
        """``activity(name)``: status, output and error of an activity that already ran."""
        ...


class ExpressionError(ValueError):
    """An expression the emulator cannot evaluate (the service's ``InvalidTemplate``)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\?\.|[(),.\[\]]))"
)


def _get_member(value: Any, name: Any, safe: bool) -> Any:
    if value is None and safe:
        return None
    if isinstance(value, dict):
        if name in value:
            return value[name]
        if isinstance(name, str):
            for key in value:  # property names are case-insensitive in the service's language
                if isinstance(key, str) and key.casefold() == name.casefold():
                    return value[key]
        if safe:
            return None
        raise ExpressionError(f"property '{name}' does not exist (available: {', '.join(map(str, value))})")
    if isinstance(value, list) and isinstance(name, int) and not isinstance(name, bool):
        if -len(value) <= name < len(value):
            return value[name]
        raise ExpressionError(f"index {name} is out of range")
    if safe:
        return None
    raise ExpressionError(f"cannot select '{name}' from a value of type {type(value).__name__}")


def _num(value: Any, fn: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"{fn}() expects numbers, got {value!r}")
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    if isinstance(value, (int, float)):
        return value != 0
    raise ExpressionError(f"bool() cannot convert {value!r}")


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _compare(name: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        pass
    else:
        a, b = _num(a, name), _num(b, name)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "greater": lambda x, y: x > y, "greaterorequals": lambda x, y: x >= y,
        "less": lambda x, y: x < y, "lessorequals": lambda x, y: x <= y,
    }
    return ops[name](a, b)


def equals(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()  # the service compares strings case-insensitively
    return bool(a == b)


#: The functions that read the run, each an ``ExpressionScope`` method: name -> (method, arguments).
SCOPE_READERS: dict[str, tuple[str, int]] = {
    "pipeline": ("pipeline_info", 0),
    "variables": ("get_variable", 1),
    "item": ("current_item", 0),
    "activity": ("activity_result", 1),
}


class Expression:
    """Interpreter of the supported subset of the pipeline expression language.

    Functions: pipeline(), variables(), item(), activity(), equals, greater, greaterOrEquals, less,
    lessOrEquals, and, or, not, if, bool, int, float, string, concat, createArray, add, sub, mul,
    div, mod, length, empty, contains, coalesce, toLower, toUpper, json, utcNow. Member access with
    ``.name``, ``?.name`` and ``[index]``; literals: 'strings' (with '' escapes), numbers, true,
    false, null. Anything else raises ExpressionError.
    """

    def __init__(self, scope: ExpressionScope) -> None:
        self.scope = scope

    def evaluate(self, text: str) -> Any:
        self._tokens = self._tokenize(text)
        self._pos = 0
        value = self._expr()
        if self._pos != len(self._tokens):
            raise ExpressionError(f"unexpected '{self._tokens[self._pos][1]}' in expression '{text}'")
        return value

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ExpressionError(f"cannot parse expression '{text}' at position {pos}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._pos] if self._pos < len(self._tokens) else None

    def _take(self, op: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (op is not None and token != ("op", op)):
            raise ExpressionError(f"expected '{op}'" if op else "unexpected end of expression")
        self._pos += 1
        return token

    def _expr(self) -> Any:
        kind, text = self._take()
        value: Any
        if kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        elif kind == "id":
            if self._peek() == ("op", "("):
                self._take("(")
                args: list[Any] = []
                if self._peek() != ("op", ")"):
                    args.append(self._expr())
                    while self._peek() == ("op", ","):
                        self._take(",")
                        args.append(self._expr())
                self._take(")")
                value = self._call(text, args)
            elif text in ("true", "false"):
                value = text == "true"
            elif text == "null":
                value = None
            else:
                raise ExpressionError(f"unknown name '{text}' (functions need parentheses)")
        else:
            raise ExpressionError(f"unexpected '{text}'")
        while (token := self._peek()) in (("op", "."), ("op", "?."), ("op", "[")):
            self._take()
            if token == ("op", "["):
                index = self._expr()
                self._take("]")
                value = _get_member(value, index, safe=False)
            else:
                name_kind, name = self._take()
                if name_kind != "id":
                    raise ExpressionError(f"expected a property name, got '{name}'")
                value = _get_member(value, name, safe=token == ("op", "?."))
        return value

    def _call(self, name: str, args: list[Any]) -> Any:
        fn = name.casefold()
        scope = self.scope

        def arity(low: int, high: int | None = None) -> None:
            high = low if high is None else high
            if not low <= len(args) <= high:
                raise ExpressionError(f"{name}() takes {low}{'' if high == low else f'..{high}'} arguments")

        if fn in SCOPE_READERS:
            method, count = SCOPE_READERS[fn]
            arity(count)
            return getattr(scope, method)(*(str(a) for a in args))
        if fn == "equals":
            arity(2)
            return equals(args[0], args[1])
        if fn in ("greater", "greaterorequals", "less", "lessorequals"):
            arity(2)
            return _compare(fn, args[0], args[1])
        if fn in ("and", "or"):
            if len(args) < 2:
                raise ExpressionError(f"{name}() takes at least 2 arguments")
            bools = [self._strict_bool(name, a) for a in args]
            return all(bools) if fn == "and" else any(bools)
        if fn == "not":
            arity(1)
            return not self._strict_bool(name, args[0])
        if fn == "if":
            arity(3)
            return args[1] if self._strict_bool(name, args[0]) else args[2]
        if fn == "bool":
            arity(1)
            return _to_bool(args[0])
        if fn in ("int", "float"):
            arity(1)
            convert = int if fn == "int" else float
            try:
                return convert(args[0].strip() if isinstance(args[0], str) else args[0])
            except (TypeError, ValueError):
                raise ExpressionError(f"{fn}() cannot convert {args[0]!r}") from None
        if fn == "string":
            arity(1)
            return to_string(args[0])
        if fn == "concat":
            return "".join(to_string(a) for a in args)
        if fn == "createarray":
            return list(args)
        if fn in ("add", "sub", "mul", "div", "mod"):
            arity(2)
            a, b = _num(args[0], name), _num(args[1], name)
            if fn in ("div", "mod") and b == 0:
                raise ExpressionError(f"{name}() by zero")
            if fn == "div":
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
            ops: dict[str, Callable[[Any, Any], Any]] = {
                "add": lambda x, y: x + y, "sub": lambda x, y: x - y,
                "mul": lambda x, y: x * y, "mod": lambda x, y: x % y,
            }
            return ops[fn](a, b)
        if fn == "length":
            arity(1)
            if not isinstance(args[0], (str, list, dict)):
                raise ExpressionError(f"length() expects a string or array, got {args[0]!r}")
            return len(args[0])
        if fn == "empty":
            arity(1)
            return args[0] is None or (isinstance(args[0], (str, list, dict)) and len(args[0]) == 0)
        if fn == "contains":
            arity(2)
            container, needle = args
            if isinstance(container, str):
                return to_string(needle).casefold() in container.casefold()
            if isinstance(container, (list, dict)):
                return needle in container
            raise ExpressionError("contains() expects a string, array or object")
        if fn == "coalesce":
            return next((a for a in args if a is not None), None)
        if fn in ("tolower", "toupper"):
            arity(1)
            text = to_string(args[0])
            return text.lower() if fn == "tolower" else text.upper()
        if fn == "json":
            arity(1)
            try:
                return json.loads(args[0]) if isinstance(args[0], str) else args[0]
            except ValueError:
                raise ExpressionError(f"json() cannot parse {args[0]!r}") from None
        if fn == "utcnow":
            arity(0, 1)
            return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raise ExpressionError(f"the function '{name}' is not supported by the emulator")

    @staticmethod
    def _strict_bool(fn: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ExpressionError(f"{fn}() expects booleans, got {value!r}")
        return value


_INTERPOLATION = re.compile(r"@\{(.*?)\}")


def resolve(value: Any, scope: ExpressionScope) -> Any:
    """Evaluate every expression inside a JSON value (strings starting with '@', '@{...}'
    interpolations, and ``{"value": ..., "type": "Expression"}`` wrappers)."""
    if isinstance(value, dict):
        if value.get("type") == "Expression" and isinstance(value.get("value"), str) and len(value) == 2:
            return resolve(value["value"], scope)
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    if isinstance(value, str):
        if value.startswith("@@"):
            return value[1:]
        if value.startswith("@") and not value.startswith("@{"):
            return Expression(scope).evaluate(value[1:])
        if "@{" in value:
            return _INTERPOLATION.sub(lambda m: to_string(Expression(scope).evaluate(m.group(1))), value)
    return value


def resolve_lenient(value: Any, scope: ExpressionScope) -> Any:
    """Like resolve(), but leaves expressions the emulator cannot evaluate as they were (for the
    inputs of simulated activities: their real semantics are not emulated anyway)."""
    try:
        return resolve(value, scope)
    except ExpressionError:
        if isinstance(value, dict):
            return {k: resolve_lenient(v, scope) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve_lenient(v, scope) for v in value]
        return value
