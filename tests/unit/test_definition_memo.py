"""A definition is canonicalised and validated once per distinct text in a process (what a no-op
preview of many pipelines repeats for each: check, then diff of the state's text and the new one)."""

from __future__ import annotations

import json

from fabric_resources.providers import data_pipeline
from fabric_resources.providers.data_pipeline import DataPipelineProvider, canonical_text, content_problem

WS = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def inputs(text: str) -> dict[str, object]:
    return {"workspace_id": WS, "display_name": "memo", "definition": text, "__provider": "x"}


def test_check_and_diff_of_one_text_validate_and_canonicalise_it_once() -> None:
    text = json.dumps({"properties": {"activities": [{"name": "memo-once", "type": "Wait", "dependsOn": [],
                                                     "typeProperties": {"waitTimeInSeconds": 7}}]}}, indent=3)
    provider = DataPipelineProvider()
    validated = data_pipeline._content_problem_memo.cache_info().misses
    canonicalised = data_pipeline._canonical_memo.cache_info().misses
    for _ in range(3):
        checked = provider.check(inputs(text), inputs(text))
        assert checked.failures == []
        assert provider.diff("id", dict(checked.inputs), dict(checked.inputs)).changes is False
    assert data_pipeline._content_problem_memo.cache_info().misses == validated + 1
    assert data_pipeline._canonical_memo.cache_info().misses <= canonicalised + 1


def test_a_remembered_invalid_text_fails_the_same_way_every_time() -> None:
    text = '{"properties": {"activities": [{"name": "a", "type": "Wait", "dependsOn": [{"activity": "nope", "dependencyConditions": ["Succeeded"]}]}]}}'
    first = content_problem(text)
    assert first is not None and "nope" in first
    assert content_problem(text) == first
    failures = DataPipelineProvider().check(inputs(text), inputs(text)).failures
    assert [f.property for f in failures] == ["definition"] and first in failures[0].reason


def test_large_texts_are_not_kept() -> None:
    big = json.dumps({"properties": {"description": "x" * (data_pipeline._MEMO_MAX_TEXT + 1), "activities": []}})
    before = data_pipeline._canonical_memo.cache_info().currsize
    assert canonical_text(big) == canonical_text(big)
    assert content_problem(big) is None
    assert data_pipeline._canonical_memo.cache_info().currsize == before
