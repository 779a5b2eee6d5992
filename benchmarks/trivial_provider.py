"""The cheapest possible dynamic provider: the floor for a no-op preview of N resources.

Pickled by reference like the project's providers (this module is importable in the provider
process: the benchmark puts the repository on PYTHONPATH); no validation, no API, diff from state.
"""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class TrivialProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(str(uuid.uuid4()), dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in ("name", "content"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)


_PROVIDER = TrivialProvider()


class TrivialResource(Resource, module="bench", name="Trivial"):
    name: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(self, resource_name: str, *, name: str, content: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(_PROVIDER, resource_name, {"name": name, "content": content}, opts)
