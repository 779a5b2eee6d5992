"""Long-running operation states and results, for callers that hold an operation id."""

from __future__ import annotations

from typing import Any

from fabric_resources.client._base import Area, seg
from fabric_resources.errors import NotFoundError, ValidationError
from fabric_resources.models.common import OperationState

__all__ = ["Operations"]


class Operations(Area):
    def get(self, operation_id: str) -> OperationState:
        return OperationState.model_validate(self._json("GET", f"operations/{seg(operation_id)}"))

    def result(self, operation_id: str) -> Any:
        """The operation's result JSON, or None when the operation has none."""
        try:
            return self._json("GET", f"operations/{seg(operation_id)}/result")
        except (NotFoundError, ValidationError):
            return None
