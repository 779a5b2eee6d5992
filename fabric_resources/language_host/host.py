"""The ``LanguageRuntime`` gRPC service for Python programs, and the process that serves it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, language_pb2, language_pb2_grpc, plugin_pb2

EXEC_NAME = "pulumi-language-python-exec"
# Set to a file path to have every RPC the engine makes appended to it (one method name a line).
TRACE_ENV = "FABRIC_LANGUAGE_HOST_TRACE"
# pulumi-language-python-exec exits with this code after it has shown the user the program's error
# (its traceback, through the engine's log): the engine must then report nothing more.
EXIT_AFTER_USER_MESSAGE = 32
# How long a program gets to exit after SIGTERM when the host is stopped, before it is killed.
PROGRAM_STOP_SECONDS = 5.0


class ProgramError(Exception):
    """A problem with the program's set-up (virtualenv, toolchain), told to the user in one line."""


@dataclass(frozen=True)
class PythonProgram:
    """A Pulumi Python program as the engine describes it (``ProgramInfo`` and Pulumi.yaml runtime options)."""

    root_directory: Path
    program_directory: Path
    entry_point: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: language_pb2.ProgramInfo, *, fallback_directory: str = "") -> PythonProgram:
        root = info.root_directory or fallback_directory or os.getcwd()
        options = json_format.MessageToDict(info.options) if info.HasField("options") else {}
        return cls(
            root_directory=Path(root),
            program_directory=Path(info.program_directory or root),
            entry_point=info.entry_point or ".",
            options=options,
        )

    @property
    def entry_path(self) -> Path:
        """What the exec script runs: a file, or a folder whose ``__main__.py`` it runs."""
        if self.entry_point in ("", "."):
            return self.program_directory
        return self.program_directory / self.entry_point

    @property
    def virtualenv(self) -> Path | None:
        """The ``virtualenv`` option, relative to the project root (Pulumi.yaml's folder) unless absolute."""
        value = self.options.get("virtualenv")
        if not value:
            return None
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else self.root_directory / path

    def check_toolchain(self) -> None:
        toolchain = str(self.options.get("toolchain") or "pip")
        if toolchain != "pip":
            raise ProgramError(
                f"Pulumi.yaml in {self.root_directory} asks for the {toolchain!r} toolchain; this language host "
                "supports 'pip' (with the 'virtualenv' option): set runtime.options.toolchain to pip"
            )

    def interpreter(self) -> Path:
        """The Python that runs the program: the virtualenv's, else ``PULUMI_PYTHON_CMD`` or ``python3``."""
        self.check_toolchain()
        venv = self.virtualenv
        if venv is None:
            command = os.environ.get("PULUMI_PYTHON_CMD") or "python3"
            found = shutil.which(command)
            if not found:
                raise ProgramError(f"no {command!r} on PATH to run the program in {self.root_directory}")
            return Path(found)
        python = venv / "bin" / "python"
        # exists() follows symlinks: a venv whose base interpreter was removed counts as broken.
        if python.exists() and os.access(python, os.X_OK):
            return python
        state = "is not a virtual environment (no working bin/python)" if venv.exists() else "does not exist"
        raise ProgramError(
            f"The virtualenv {venv} (Pulumi.yaml's 'virtualenv' option) {state}: create it with "
            f"`pulumi install` in {self.root_directory}{_bootstrap_hint(self.root_directory)}"
        )

    def environment(self, base: Mapping[str, str], interpreter: Path) -> dict[str, str]:
        """The program's environment: the engine's, with the virtualenv activated as ``activate`` would."""
        env = dict(base)
        venv = self.virtualenv
        if venv is not None:
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = os.pathsep.join(p for p in (str(interpreter.parent), env.get("PATH", "")) if p)
            env.pop("PYTHONHOME", None)
        return env


def _bootstrap_hint(root: Path) -> str:
    # This repository's own set-up script also builds the CLI; name it where it exists.
    return " (or run scripts/bootstrap)" if (root / "scripts" / "bootstrap").is_file() else ""


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    """Serves the engine's calls; every call the engine tolerates missing answers UNIMPLEMENTED (the base)."""

    def __init__(self, executor: Path, engine_address: str = "") -> None:
        self.executor = executor
        self.engine_address = engine_address
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- handshake and information ---------------------------------------------------------------
    def Handshake(self, request: language_pb2.LanguageHandshakeRequest, context: Any) -> Any:
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: empty_pb2.Empty, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=_sdk_version())

    def GetRequiredPlugins(self, request: language_pb2.GetRequiredPluginsRequest, context: Any) -> Any:
        # Dynamic providers need only pulumi-resource-pulumi-python, which the engine loads on first use;
        # plugin packages (pulumi-aws, ...) are not scanned for: nothing could download them offline anyway.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: language_pb2.GetRequiredPackagesRequest, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse()

    def About(self, request: language_pb2.AboutRequest, context: Any) -> Any:
        program = PythonProgram.from_info(request.info)
        try:
            python = program.interpreter()
        except ProgramError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        version = _run_text([str(python), "-c", "import platform; print(platform.python_version())"])
        return language_pb2.AboutResponse(executable=str(python), version=version.strip())

    def GetProgramDependencies(self, request: language_pb2.GetProgramDependenciesRequest, context: Any) -> Any:
        program = PythonProgram.from_info(request.info, fallback_directory=request.pwd)
        try:
            python = program.interpreter()
        except ProgramError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        listing = _run_text([str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"])
        try:
            packages = json.loads(listing or "[]")
        except json.JSONDecodeError:
            context.abort(grpc.StatusCode.INTERNAL, f"`{python} -m pip list` did not answer JSON")
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=p["name"], version=p["version"]) for p in packages]
        )

    def RuntimeOptionsPrompts(self, request: language_pb2.RuntimeOptionsRequest, context: Any) -> Any:
        # `pulumi new` asks nothing extra: pip with a virtualenv is the only toolchain served.
        return language_pb2.RuntimeOptionsResponse()

    # -- installing dependencies -----------------------------------------------------------------
    def InstallDependencies(self, request: language_pb2.InstallDependenciesRequest, context: Any) -> Iterator[Any]:
        """``pulumi install``: create the virtualenv if missing, then ``pip install -r requirements.txt``."""
        program = PythonProgram.from_info(request.info, fallback_directory=request.directory)
        try:
            program.check_toolchain()
        except ProgramError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        root = program.root_directory
        venv = program.virtualenv
        if venv is not None and not (venv / "bin" / "python").exists():
            base = os.environ.get("PULUMI_PYTHON_CMD") or "python3"
            yield _line(f"Creating virtual environment {venv} ...")
            yield from self._stream([base, "-m", "venv", str(venv)], root, context)
        python = str(program.interpreter())
        requirements = root / "requirements.txt"
        if requirements.is_file():
            yield _line(f"Installing {requirements} into {venv or python} ...")
            yield from self._stream(
                [python, "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)], root, context
            )
        else:
            yield _line(f"No requirements.txt in {root}: nothing to install.")

    def _stream(self, argv: Sequence[str], cwd: Path, context: Any) -> Iterator[Any]:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            yield language_pb2.InstallDependenciesResponse(stdout=raw)
        if proc.wait() != 0:
            context.abort(grpc.StatusCode.UNKNOWN, f"`{' '.join(argv)}` failed with exit code {proc.returncode}")

    # -- running the program ---------------------------------------------------------------------
    def Run(self, request: language_pb2.RunRequest, context: Any) -> Any:
        program = PythonProgram.from_info(request.info, fallback_directory=request.pwd)
        if not request.HasField("info") and request.program:
            program = PythonProgram(Path(request.pwd), Path(request.pwd), request.program)
        try:
            python = program.interpreter()
            if not self.executor.is_file():
                raise ProgramError(f"{self.executor} is missing: re-run scripts/install-pulumi (or scripts/bootstrap)")
        except ProgramError as exc:
            # Told once through the engine's log, like the exec script's own errors, then "bail": the
            # engine adds nothing (no "unhandled error" wrapper, no host stack).
            if self._log_error(str(exc)):
                return language_pb2.RunResponse(bail=True)
            return language_pb2.RunResponse(error=str(exc))

        argv = [str(python), "-u", str(self.executor), *self._exec_arguments(request, program), *request.args]
        env = program.environment(os.environ, python)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        code = self._run_child(argv, cwd=request.pwd or str(program.root_directory), env=env)
        if code == 0:
            return language_pb2.RunResponse()
        if code == EXIT_AFTER_USER_MESSAGE:
            return language_pb2.RunResponse(bail=True)
        if code < 0 or self._stopping.is_set():
            return language_pb2.RunResponse(error="The program was stopped (the deployment was cancelled)")
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def _exec_arguments(self, request: language_pb2.RunRequest, program: PythonProgram) -> list[str]:
        pairs = [
            ("monitor", request.monitor_address),
            ("engine", self.engine_address),
            ("project", request.project),
            ("stack", request.stack),
            ("pwd", request.pwd),
            ("dry_run", "true" if request.dryRun else "false"),
            ("parallel", str(request.parallel)),
            ("organization", request.organization),
            ("root_directory", str(program.root_directory)),
        ]
        args: list[str] = []
        for name, value in pairs:
            if value:
                args += [f"--{name}", value]
        return [*args, str(program.entry_path)]

    def _run_child(self, argv: list[str], *, cwd: str, env: dict[str, str]) -> int:
        with self._lock:
            if self._stopping.is_set():
                return -signal.SIGTERM
            # SIGINT ignored, through a shell's `trap` (an ignored signal survives exec, and Python then
            # installs no KeyboardInterrupt handler): a terminal Ctrl-C reaches the engine, which cancels in
            # order, but never raises inside the program. It stays in our process group, so whoever kills
            # the group (a SIGKILL of the whole deployment) takes the program down too.
            proc = subprocess.Popen(["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv],
                                    cwd=cwd, env=env, stdin=subprocess.DEVNULL)
            self._children.add(proc)
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._children.discard(proc)

    def running(self) -> bool:
        with self._lock:
            return bool(self._children)

    def Cancel(self, request: empty_pb2.Empty, context: Any) -> Any:
        # The engine calls this as it closes the host after every operation (measured: once per host),
        # normally with no program left running; one still running is stopped.
        self.stop_programs(final=False)
        return empty_pb2.Empty()

    def stop_programs(self, *, final: bool = True) -> None:
        """Stop running programs: SIGTERM (no traceback), then SIGKILL after PROGRAM_STOP_SECONDS.

        ``final``: the host is going away, so no program may start after this.
        """
        if final:
            self._stopping.set()
        with self._lock:
            children = list(self._children)
        for proc in children:
            _signal(proc, signal.SIGTERM)
        for proc in children:
            try:
                proc.wait(PROGRAM_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)

    def _log_error(self, message: str) -> bool:
        if not self.engine_address:
            return False
        try:
            with grpc.insecure_channel(self.engine_address) as channel:
                engine_pb2_grpc.EngineStub(channel).Log(
                    engine_pb2.LogRequest(severity=engine_pb2.ERROR, message=message), timeout=10
                )
            return True
        except grpc.RpcError:
            return False


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        proc.send_signal(sig)


def _line(text: str) -> Any:
    return language_pb2.InstallDependenciesResponse(stdout=(text + "\n").encode())


def _run_text(argv: Sequence[str]) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    return done.stdout if done.returncode == 0 else ""


def _sdk_version() -> str:
    try:
        return metadata.version("pulumi")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class _TraceCalls(grpc.ServerInterceptor):
    """Which calls the engine makes, for finding out what a CLI command needs of a language host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        with self._lock, open(self.path, "a") as out:
            out.write(handler_call_details.method.rsplit("/", 1)[-1] + "\n")
        return continuation(handler_call_details)


def find_executor(given: str | None) -> Path:
    """``pulumi-language-python-exec``: as given, else beside this host's wrapper, else on PATH."""
    if given:
        return Path(given)
    found = shutil.which(EXEC_NAME)
    if not found:
        raise SystemExit(f"pulumi-language-python: could not find {EXEC_NAME} on PATH")
    return Path(found)


def serve(executor: Path, engine_address: str, *, ready: Any = None) -> int:
    """Serve until SIGINT/SIGTERM or until the engine that started us goes away; returns the exit code."""
    host = LanguageHost(executor, engine_address)
    # Handlers first: the engine may interrupt us as soon as it has read the port.
    stop = threading.Event()
    interrupted = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        # A first Ctrl-C reaches the whole terminal process group, the engine included, which then
        # cancels in order: it lets in-flight operations finish and records them. The program is left
        # to end as the engine tells it to (it ignores SIGINT, see _run_child). A second
        # Ctrl-C, SIGTERM, or SIGINT with no program running (the engine closing its plugins) stops
        # the host quietly: never a KeyboardInterrupt traceback in the stack's diagnostics.
        if signum == signal.SIGINT and host.running() and not interrupted.is_set():
            interrupted.set()
            return
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    trace = os.environ.get(TRACE_ENV)
    interceptors = [_TraceCalls(Path(trace))] if trace else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=interceptors)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # The engine reads the port from the first line of stdout.
    out = ready or sys.stdout
    out.write(f"{port}\n")
    out.flush()

    parent = os.getppid()
    # If the engine dies without stopping us (SIGKILL), our parent changes: exit rather than linger.
    while not stop.wait(1.0):
        if os.getppid() != parent:
            break
    host.stop_programs()
    server.stop(grace=1.0).wait(2.0)
    return 0


def main(argv: Sequence[str]) -> int:
    executor: str | None = None
    positional: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-use-executor", "--use-executor") and args:
            executor = args.pop(0)
        elif arg.startswith(("-use-executor=", "--use-executor=")):
            executor = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            # The engine may pass flags the official host knows (-tracing X, -root=DIR, ...): tracing and
            # logging levels mean nothing here; a value that follows a bare flag is skipped with it.
            if "=" not in arg and args and not args[0].startswith("-") and len(args) > 1:
                args.pop(0)
        else:
            positional.append(arg)
    engine_address = positional[-1] if positional else ""
    return serve(find_executor(executor), engine_address)
