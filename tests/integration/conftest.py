"""Fixtures of the integration tests that drive the Fabric client against the shared emulator.

A module may override ``client`` (test_emulator_hosts.py connects through localhost); ``workspace``
is then made through that module's client.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fabric_resources.client import FabricClient
from fabric_resources.errors import NotFoundError
from fabric_resources.settings import FabricSettings
from tests.conftest import EmulatorProcess


@pytest.fixture
def client(emulator: EmulatorProcess) -> Iterator[FabricClient]:
    """A client signed in as the emulator's default service principal."""
    with FabricClient(FabricSettings.from_emulator(emulator.data_dir)) as c:
        yield c


@pytest.fixture
def workspace(client: FabricClient) -> Iterator[str]:
    """A fresh workspace's id, deleted after the test (unless the test already did)."""
    ws = client.workspaces.create(f"ws-{uuid.uuid4().hex[:10]}")
    yield ws.id
    with contextlib.suppress(NotFoundError):
        client.workspaces.delete(ws.id)


def direct(provider_class: type[Any], client: FabricClient) -> Any:
    """The real provider with the client handed in (configure() is the engine's way; this is ours)."""

    class Direct(provider_class):
        @property
        def client(self) -> FabricClient:
            return client

    return Direct()
