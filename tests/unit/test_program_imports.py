"""What a Pulumi program loads: the Resource classes and their (pickled) providers, never pydantic.

Validation happens in the provider process (`check`); a program that only declares resources must not
pay for importing pydantic and building the input models (#13: a no-op preview of N pipelines is held
to the cost of a trivial dynamic provider). Each case runs a real program under Pulumi's mocks in a
fresh interpreter, so nothing imported by the test session leaks in. (What validates authored files in
the program itself, so that preview names the file, loads pydantic by design: WorkspaceContent's
folder, a VariableLibrary folder, a PipelineSchedule configuration model.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    """
    import json, sys
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return [args.name + "-id", dict(args.inputs, id="0b2f1c5e-3a4d-4e8f-9b1a-2c3d4e5f6a7b")]

        def call(self, args):
            return {}

    pulumi.runtime.set_mocks(Mocks(), project="imports", stack="dev", preview=True)

    from fabric_resources import DataPipeline, Folder, Workspace, WorkspaceRoleAssignment, lookup_connection

    WS = "0b2f1c5e-3a4d-4e8f-9b1a-2c3d4e5f6a7b"
    ws = Workspace("ws", display_name="Sales")
    folder = Folder("f", workspace_id=ws.id, display_name="Loads")
    lookup_connection("Sales SQL")
    WorkspaceRoleAssignment("r", workspace_id=ws.id, principal_id=WS, principal_type="Group", role="Viewer")
    for i in range(3):
        DataPipeline(f"p{i}", workspace_id=ws.id, display_name=f"p{i}", folder_id=folder.id,
                     definition={"properties": {"activities": [{"name": "W", "type": "Wait",
                                                                 "typeProperties": {"waitTimeInSeconds": i}}]}})
    DataPipeline("from-folder", workspace_id=WS, definition="pipelines/Ingest Sales.DataPipeline")
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core"))))
    """
)


def test_a_program_declaring_resources_never_imports_pydantic() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_provider_process_still_finds_each_inputs_model() -> None:
    # The other side of the boundary: a provider's check loads its model from providers/inputs.py.
    code = textwrap.dedent(
        """
        import sys
        from fabric_resources.providers.workspace import WorkspaceProvider
        assert "pydantic" not in sys.modules
        result = WorkspaceProvider().check({}, {"display_name": "", "capacity_id": "not-a-guid"})
        print(sorted(f.property for f in result.failures))
        assert "pydantic" in sys.modules
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['capacity_id', 'display_name']"
