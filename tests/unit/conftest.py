"""Fixtures and helpers of the provider unit tests (check/diff as plain calls)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fabric_resources.providers import _base


@pytest.fixture
def no_clients() -> Iterator[None]:
    """check and diff must never build a client (that is what "no API call" rests on)."""
    before = dict(_base._CLIENTS)
    yield
    assert before == _base._CLIENTS


def failures_of(result: Any) -> dict[str, str]:
    """A CheckResult's failures as {property: reason}."""
    return {f.property: f.reason for f in result.failures}
