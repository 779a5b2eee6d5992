"""Connections by name: `lookup_connection("Sales SQL (prod)")` gives the connection's id and type.

Stacks name connections instead of copying GUIDs. Fabric connections are made outside this program
(the "Manage connections" page), so a lookup owns nothing: it is a resource only so that the resolved id
lives in the state. Its `check` resolves a name it has not resolved before (one list call) and fails
at preview for an unknown name, naming the closest matches; an unchanged name costs no call, so an
unchanged program still previews with zero API calls. Refresh re-reads the connection (renamed or
deleted in the portal shows as drift); destroy forgets it and never deletes the connection.
"""

from __future__ import annotations

import difflib
import weakref
from collections.abc import Iterable
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, UpdateResult

from fabric_resources.errors import FabricError, describe_error
from fabric_resources.providers._base import FabricProvider, InputsModel, contains_unknown, read_outputs

__all__ = ["ConnectionLookup", "ConnectionLookupProvider", "close_matches",
           "lookup_connection"]


def close_matches(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The names most like ``name`` (a different letter case first), for a "did you mean" hint."""
    pool = sorted(set(names))
    same_case = [c for c in pool if c.casefold() == name.casefold()]
    lowered = {c.casefold(): c for c in pool}
    fuzzy = [lowered[m] for m in difflib.get_close_matches(name.casefold(), list(lowered), n=n, cutoff=0.5)]
    # Names sharing a word ("Sales SQL (prod)" for "Sales SQL") count too.
    words = {w for w in name.casefold().replace("(", " ").replace(")", " ").split() if len(w) > 2}
    sharing = [c for c in pool if words & set(c.casefold().replace("(", " ").replace(")", " ").split())]
    seen: list[str] = []
    for candidate in [*same_case, *fuzzy, *sharing]:
        if candidate not in seen:
            seen.append(candidate)
    return seen[:n]


class ConnectionLookupProvider(FabricProvider):
    kind = "ConnectionLookup"
    inputs_model = InputsModel("ConnectionLookupArgs")
    compared = ("display_name", "connection_id")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        name = result.inputs.get("display_name")
        if result.failures or not isinstance(name, str) or contains_unknown(name):
            return result
        inputs = dict(result.inputs)
        if olds.get("display_name") == name and olds.get("connection_id"):
            # Resolved before: keep it (refresh is what notices a connection changed in the portal).
            for key in ("connection_id", "connection_type", "connectivity_type"):
                inputs[key] = olds.get(key)
            return CheckResult(inputs, [])
        try:
            connections = list(self.client.connections.list())
        except FabricError as exc:
            return CheckResult(inputs, [CheckFailure(
                "display_name", f"ConnectionLookup: could not list connections to find '{name}': {describe_error(exc)}")])
        found = next((c for c in connections if c.display_name == name), None)
        if found is None:
            hint = close_matches(name, [c.display_name for c in connections if c.display_name])
            suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else \
                " (this principal can use no connection with a similar name)"
            return CheckResult(inputs, [CheckFailure(
                "display_name", f"ConnectionLookup: no connection named '{name}' is visible to the deployer"
                f"{suggestion} Connections are made in Fabric's 'Manage connections' page and must be shared "
                "with the deploying principal")])
        inputs.update(connection_id=found.id.lower(), connection_type=found.type,
                      connectivity_type=found.connectivity_type)
        return CheckResult(inputs, [])

    @staticmethod
    def _outputs(connection: Any) -> dict[str, Any]:
        return {
            "display_name": connection.display_name,
            "connection_id": connection.id.lower(),
            "connection_type": connection.type,
            "connectivity_type": connection.connectivity_type,
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        # check resolved it; nothing to create (and nothing that could leave an orphan).
        outs = {k: props.get(k) for k in ("display_name", "connection_id", "connection_type", "connectivity_type")}
        return CreateResult(str(props["connection_id"]), outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return read_outputs(id_, f"reading connection {id_}", lambda: self.client.connections.get(id_), self._outputs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {k: news.get(k) for k in ("display_name", "connection_id", "connection_type", "connectivity_type")}
        return UpdateResult(outs)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        result = super().diff(id_, olds, news)
        # Another connection under the same name (deleted and re-made) is another resource id.
        if "connection_id" in self.changed_properties(olds, news) and olds.get("connection_id"):
            result.replaces = ["connection_id"]
        return result

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Forget the lookup; the connection itself belongs to whoever made it."""


_PROVIDER = ConnectionLookupProvider()


class ConnectionLookup(Resource, module="fabric", name="ConnectionLookup"):
    """A Fabric connection found by display name. The resource id is the connection id.

    Outputs: `connection_id`, `connection_type` (`SQL`, `Web`, ...) and `connectivity_type`
    (`ShareableCloud`, `OnPremisesGateway`, ...). Prefer `lookup_connection(name)`.
    """

    display_name: pulumi.Output[str]
    connection_id: pulumi.Output[str]
    connection_type: pulumi.Output[str]
    connectivity_type: pulumi.Output[str]

    def __init__(self, resource_name: str, display_name: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"display_name": display_name, "connection_id": None, "connection_type": None,
                 "connectivity_type": None}
        super().__init__(_PROVIDER, resource_name, props, opts)


# One lookup per connection name and program run: the engine's monitor is new for every run.
_LOOKUPS: weakref.WeakKeyDictionary[Any, dict[str, ConnectionLookup]] = weakref.WeakKeyDictionary()


def lookup_connection(display_name: str, opts: pulumi.ResourceOptions | None = None) -> ConnectionLookup:
    """The connection named ``display_name`` (`.connection_id`, `.connection_type`), looked up once per run.

    Use it anywhere an id is wanted: `parameters={"sales_connection_id": lookup_connection("Sales SQL
    (prod)").connection_id}`. An unknown name fails the preview, naming the closest matches.
    """
    monitor = pulumi.runtime.settings.SETTINGS.monitor
    try:
        cache = _LOOKUPS.setdefault(monitor, {}) if monitor is not None else {}
    except TypeError:  # a monitor that cannot be weakly referenced: no sharing across calls
        cache = {}
    lookup = cache.get(display_name)
    if lookup is None:
        slug = "".join(ch if ch.isalnum() else "-" for ch in display_name.lower()).strip("-")
        lookup = ConnectionLookup(f"connection-{slug}", display_name, opts)
        cache[display_name] = lookup
    return lookup
