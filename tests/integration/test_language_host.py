"""The language host process on its own: port on the first stdout line, the engine's calls, quiet exit."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from fabric_resources.language_host import ProgramError, PythonProgram

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host() -> Iterator[tuple[subprocess.Popen[str], language_pb2_grpc.LanguageRuntimeStub]]:
    # The engine's address is the last argument; nothing listens there, and nothing needs to.
    proc = subprocess.Popen([sys.executable, "-m", "fabric_resources.language_host", "-use-executor",
                             str(ROOT / ".tools" / "pulumi" / "bin" / "pulumi-language-python-exec"),
                             "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield proc, language_pb2_grpc.LanguageRuntimeStub(channel)
    finally:
        channel.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_host_answers_the_engine_and_stops_quietly_on_sigint(
    host: tuple[subprocess.Popen[str], language_pb2_grpc.LanguageRuntimeStub], tmp_path: Path
) -> None:
    proc, stub = host
    stub.Handshake(language_pb2.LanguageHandshakeRequest(engine_address="127.0.0.1:1"), timeout=10)
    assert stub.GetPluginInfo(empty_pb2.Empty(), timeout=10).version.startswith("3.")
    info = language_pb2.ProgramInfo(root_directory=str(ROOT), program_directory=str(ROOT), entry_point=".")
    info.options.update({"toolchain": "pip", "virtualenv": ".venv"})
    about = stub.About(language_pb2.AboutRequest(info=info), timeout=30)
    assert about.executable == str(ROOT / ".venv" / "bin" / "python")
    assert about.version.startswith("3.")
    assert not stub.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest(info=info), timeout=10).packages
    deps = stub.GetProgramDependencies(language_pb2.GetProgramDependenciesRequest(info=info), timeout=60)
    assert {"pulumi", "fabric-resources"} <= {d.name for d in deps.dependencies}
    # Calls the host does not serve answer UNIMPLEMENTED, which the engine tolerates.
    with pytest.raises(grpc.RpcError) as caught:
        stub.GenerateProgram(language_pb2.GenerateProgramRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED

    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert proc.stderr is not None
    assert proc.stderr.read() == ""  # no KeyboardInterrupt traceback


def test_host_stops_quietly_on_sigterm(
    host: tuple[subprocess.Popen[str], language_pb2_grpc.LanguageRuntimeStub]
) -> None:
    proc, _ = host
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert proc.stderr is not None
    assert proc.stderr.read() == ""


def test_virtualenv_is_relative_to_the_project_root_unless_absolute(tmp_path: Path) -> None:
    def program(venv: str) -> PythonProgram:
        return PythonProgram(tmp_path, tmp_path / "src", ".", {"virtualenv": venv})

    assert program("venv").virtualenv == tmp_path / "venv"
    assert program(str(ROOT / ".venv")).virtualenv == ROOT / ".venv"
    assert program(str(ROOT / ".venv")).interpreter() == ROOT / ".venv" / "bin" / "python"
    assert program("venv").entry_path == tmp_path / "src"


def test_broken_virtualenv_and_other_toolchains_are_refused_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "venv"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "python").symlink_to(tmp_path / "removed-interpreter")
    with pytest.raises(ProgramError) as caught:
        PythonProgram(tmp_path, tmp_path, ".", {"virtualenv": "venv"}).interpreter()
    message = str(caught.value)
    assert "\n" not in message
    assert str(broken) in message and "is not a virtual environment" in message and "pulumi install" in message
    with pytest.raises(ProgramError, match="toolchain"):
        PythonProgram(tmp_path, tmp_path, ".", {"toolchain": "uv"}).interpreter()
