"""Issue #10 through the real engine: configuration layering, ids spelled in any case, inputs left
unset, authored definitions deployed as written, and bad input refused at preview with 0 writes."""

from __future__ import annotations

import uuid
from typing import Any

import pulumi
import pytest

from fabric_resources.providers import Workspace
from tests.e2e.conftest import emulator_stack_config, export_state, resources_of_type

pytestmark = pytest.mark.e2e


def writes(emulator: Any) -> int:
    """API calls that change something (every method but GET), as the emulator counted them."""
    return sum(n for route, n in emulator.stats()["by_route"].items() if not route.startswith("GET "))


def test_prod_setup_ids_in_stack_secret_in_environment(
    make_stack: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stacks/Pulumi.prod.yaml's layout: tenant and client id in the stack file, no secret there;
    # the deploying job exports AZURE_CLIENT_SECRET. Nothing else may supply a credential.
    for var in ("FABRIC_TOKEN", "FABRIC_EMULATOR_DIR", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(var, raising=False)
    plain, secret = emulator_stack_config(emulator)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret["fabric:clientSecret"])
    name = f"prod-layout-{uuid.uuid4().hex[:8]}"

    def program() -> None:
        ws = Workspace("ws", display_name=name)
        pulumi.export("ws_id", ws.id)

    stack = make_stack(program, emulator=False, config=plain)
    result = stack.up(on_output=lambda _line: None)
    ws_id = result.outputs["ws_id"].value
    assert [r["id"] for r in resources_of_type(export_state(stack), "Workspace")] == [ws_id]
    # The secret that made this work is nowhere in the state.
    assert secret["fabric:clientSecret"] not in str(export_state(stack))
