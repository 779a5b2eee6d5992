"""Harness for end-to-end tests through the real Pulumi engine (CLI + dynamic-provider plugin).

Programs run as Automation API inline programs (see fabric_resources/engine.py for why), against a
file backend in a temporary folder, fully offline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fabric_resources import engine

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (engine.TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the Pulumi CLI is missing: scripts/install-pulumi must run before the tests (scripts/test does)")
    return tmp_path_factory.mktemp("pulumi-home")


def emulator_stack_config(emulator: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Plain and secret `fabric:*` stack config that points a stack at the emulator."""
    sp = emulator.default_sp
    plain = {
        "fabric:apiUrl": emulator.api_url,
        "fabric:authority": emulator.authority,
        "fabric:tenantId": emulator.tenant_id,
        "fabric:clientId": sp["client_id"],
        "fabric:caCert": str(emulator.ca_cert),
    }
    return plain, {"fabric:clientSecret": sp["client_secret"]}


@pytest.fixture
def make_stack(
    tmp_path: Path, pulumi_home: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_stack(program, config=None, secret_config=None, stack_name=None, emulator=True)``.

    With ``emulator=True`` (default) the stack is configured to talk to the session emulator.
    Stacks left with resources are destroyed at the end of the test.
    """
    from pulumi import automation as auto

    made: list[Any] = []

    def _make(
        program: Callable[[], None],
        *,
        config: dict[str, str] | None = None,
        secret_config: dict[str, str] | None = None,
        stack_name: str | None = None,
        emulator: bool = True,
        project_name: str = "fabric-e2e",
    ) -> Any:
        work_dir = tmp_path / f"project-{len(made)}"
        work_dir.mkdir()
        stack = engine.select_stack(
            stack_name or f"t{uuid.uuid4().hex[:10]}",
            program=program,
            work_dir=work_dir,
            project_settings=auto.ProjectSettings(name=project_name, runtime="python"),
            backend_dir=tmp_path / "state",
            pulumi_home=pulumi_home,
        )
        plain: dict[str, str] = {}
        secret: dict[str, str] = {}
        if emulator:
            emu = request.getfixturevalue("emulator")
            plain, secret = emulator_stack_config(emu)
        plain.update(config or {})
        secret.update(secret_config or {})
        values = {k: auto.ConfigValue(value=v) for k, v in plain.items()}
        values.update({k: auto.ConfigValue(value=v, secret=True) for k, v in secret.items()})
        if values:
            stack.set_all_config(values)
        made.append(stack)
        return stack

    yield _make
    for stack in made:
        try:
            if stack.export_stack().deployment.get("resources"):
                stack.destroy()
        except Exception as exc:  # cleanup must not hide the test's own failure
            print(f"cleanup of stack {stack.name} failed: {exc}")


def export_state(stack: Any) -> dict[str, Any]:
    """The stack's deployment as `pulumi stack export` shows it."""
    return dict(stack.export_stack().deployment)


def resources_of_type(state: dict[str, Any], suffix: str) -> list[dict[str, Any]]:
    return [r for r in state.get("resources", []) if str(r.get("type", "")).endswith(suffix)]
