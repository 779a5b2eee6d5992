"""Field-wise validation of a provider's inputs against its pydantic inputs model.

Imported by the first ``check`` in the provider process, never by a Pulumi program (see
providers/inputs.py): pydantic and the models load only where inputs are validated.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from fabric_resources.formats import GUID_PATTERN

__all__ = ["field_adapters", "format_validation_error", "id_fields"]


def field_adapters(model: type[BaseModel]) -> dict[str, TypeAdapter[Any]]:
    """One validator per model field (constraints included), so fields validate independently."""
    adapters: dict[str, TypeAdapter[Any]] = {}
    for name, info in model.model_fields.items():
        # The FieldInfo itself carries constraints and discriminators (metadata alone loses the latter).
        annotated: Any = Annotated[info.annotation, info]
        adapters[name] = TypeAdapter(annotated)
    return adapters


def _names_a_guid(annotation: Any, metadata: list[Any]) -> bool:
    """Whether a field is typed ``Guid`` (or ``Guid | None``): its constraints carry GUID_PATTERN."""
    if any(getattr(m, "pattern", None) == GUID_PATTERN for m in metadata):
        return True
    for arg in get_args(annotation):
        if isinstance(arg, FieldInfo) and _names_a_guid(arg.annotation, arg.metadata):
            return True
        if _names_a_guid(arg, []):
            return True
    return False


def id_fields(model: type[BaseModel]) -> frozenset[str]:
    """The inputs of ``model`` that hold a Fabric id (workspace, item, capacity, folder, principal)."""
    return frozenset(
        n for n, info in model.model_fields.items() if _names_a_guid(info.annotation, info.metadata)
    )


def format_validation_error(exc: ValueError) -> str:
    """One line naming each failing location of a pydantic ValidationError (any other error: its text)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    messages = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid value"))
        messages.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(messages)
