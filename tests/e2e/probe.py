"""A tiny dynamic resource used to prove the engine set-up, independent of Fabric.

It lives in an importable module (not in a program's __main__), so its provider is pickled by
reference: the state holds a short pointer to this class, identical for every resource.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


class NoteProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        # A slow create lets a test interrupt a deployment while an operation is in flight.
        time.sleep(float(props.get("delay") or 0))
        return CreateResult(id_=uuid.uuid4().hex, outs={"text": props["text"], "revision": 1})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = olds.get("text") != news.get("text")
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs={"text": news["text"], "revision": int(olds.get("revision", 1)) + 1})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Note(Resource):
    text: pulumi.Output[str]
    revision: pulumi.Output[int]

    def __init__(self, name: str, text: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None,
                 delay: float = 0) -> None:
        props: dict[str, Any] = {"text": text, "revision": None}
        if delay:
            props["delay"] = delay
        super().__init__(NoteProvider(), name, props, opts)
