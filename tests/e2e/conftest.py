"""Harness for end-to-end tests through the real Pulumi engine (CLI + language host + provider plugin).

Two ways in, both against a file backend and a PULUMI_HOME in a temporary folder, fully offline:

* ``pulumi_project`` (the default for new tests): the real ``pulumi`` CLI as a user runs it, in a
  project folder with its own Pulumi.yaml and ``__main__.py``, run by this project's language host
  (``.tools/pulumi/bin/pulumi-language-python``) with the project's ``.venv``::

      project = pulumi_project(PROGRAM_TEXT, config={...}, secret_config={...})
      project.up(); project.preview("--expect-no-changes"); project.refresh("--expect-no-changes")
      project.outputs(); project.export(); project.destroy()
      proc = project.start("up", "--yes")      # Popen in its own process group (SIGKILL/SIGINT tests)
      result = project.wait(proc)              # CLIResult with the captured output

  Every failure message shows the command and the CLI's whole output.
* ``make_stack`` (Automation API inline programs, a library users embed): kept for the tests that
  drive the engine from Python.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from fabric_resources import engine

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (engine.TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the Pulumi CLI is missing: scripts/install-pulumi must run before the tests (scripts/test does)")
    return tmp_path_factory.mktemp("pulumi-home")


PULUMI = engine.TOOLS_DIR / "bin" / "pulumi"
VENV = engine.PROJECT_ROOT / ".venv"
TEST_PASSPHRASE = "fabric-resources-e2e-tests"
CLI_TIMEOUT_SECONDS = 300.0


@dataclass
class CLIResult:
    """One finished CLI command: its arguments, exit code and captured output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (f"`pulumi {' '.join(self.args)}` exited with {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")


class PulumiCLIError(AssertionError):
    def __init__(self, result: CLIResult) -> None:
        super().__init__(result.describe())
        self.result = result


class PulumiProject:
    """A Pulumi project folder and one stack of it, driven through the real ``pulumi`` CLI."""

    def __init__(self, directory: Path, stack: str, env: Mapping[str, str]) -> None:
        self.directory = directory
        self.stack = stack
        self.env = dict(env)
        self._logs = directory.parent / f".{directory.name}-logs"
        self._logs.mkdir(exist_ok=True)
        self._popens: dict[int, tuple[list[str], IO[bytes], Path]] = {}

    # -- running the CLI ------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, stack: bool = True, timeout: float = CLI_TIMEOUT_SECONDS,
            env: Mapping[str, str] | None = None) -> CLIResult:
        """``pulumi ARGS --stack STACK --non-interactive`` in the project folder; raises with the output."""
        argv = self._argv(args, stack)
        done = subprocess.run([str(PULUMI), *argv], cwd=self.directory, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        result = CLIResult(argv, done.returncode, done.stdout, done.stderr)
        if check and result.returncode != 0:
            raise PulumiCLIError(result)
        return result

    def start(self, *args: str, stack: bool = True) -> subprocess.Popen[bytes]:
        """Start a CLI command in its own process group (``os.killpg(proc.pid, SIGKILL)`` stops all of it)."""
        argv = self._argv(args, stack)
        log = self._logs / f"popen-{len(self._popens)}.log"
        out = open(log, "wb")  # noqa: SIM115 - closed in wait()
        proc = subprocess.Popen([str(PULUMI), *argv], cwd=self.directory, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._popens[proc.pid] = (argv, out, log)
        return proc

    def output_so_far(self, proc: subprocess.Popen[bytes]) -> str:
        return self._popens[proc.pid][2].read_text(errors="replace")

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = CLI_TIMEOUT_SECONDS) -> CLIResult:
        argv, out, log = self._popens[proc.pid]
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        out.close()
        return CLIResult(argv, code, log.read_text(errors="replace"), "")

    def _argv(self, args: tuple[str, ...], stack: bool) -> list[str]:
        # Our flags go before a `--`: after it everything is a positional value.
        argv = list(args)
        tail: list[str] = []
        if "--" in argv:
            cut = argv.index("--")
            argv, tail = argv[:cut], argv[cut:]
        if stack:
            argv += ["--stack", self.stack]
        return [*argv, "--non-interactive", *tail]

    # -- the usual operations -------------------------------------------------------------------
    def up(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("up", "--yes", *extra, check=check)

    def preview(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("preview", *extra, check=check)

    def refresh(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("refresh", "--yes", *extra, check=check)

    def destroy(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("destroy", "--yes", *extra, check=check)

    def cancel(self) -> CLIResult:
        return self.run("cancel", "--yes", check=False)

    def config_set(self, key: str, value: str, *, secret: bool = False) -> None:
        # The value after `--`: a value starting with "-" must not be taken for a flag.
        self.run("config", "set", *(["--secret"] if secret else ["--plaintext"]), key, "--", value)

    def set_config(self, plain: Mapping[str, str] | None = None, secret: Mapping[str, str] | None = None) -> None:
        for key, value in (plain or {}).items():
            self.config_set(key, value)
        for key, value in (secret or {}).items():
            self.config_set(key, value, secret=True)

    def export(self) -> dict[str, Any]:
        """The stack's deployment (``pulumi stack export``), secrets still encrypted."""
        state: dict[str, Any] = json.loads(self.run("stack", "export").stdout)
        return dict(state.get("deployment") or {})

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json", *(["--show-secrets"] if show_secrets else [])]
        result: dict[str, Any] = json.loads(self.run(*args).stdout or "{}")
        return result

    def resources(self) -> list[dict[str, Any]]:
        return [r for r in self.export().get("resources", []) if r["type"] != "pulumi:pulumi:Stack"
                and not str(r["type"]).startswith("pulumi:providers:")]

    def write_program(self, text: str) -> None:
        (self.directory / "__main__.py").write_text(textwrap.dedent(text))


def cli_env(*, pulumi_home: Path, backend_dir: Path, passphrase: str | None = TEST_PASSPHRASE) -> dict[str, str]:
    """The CLI's environment for a test: offline, a private PULUMI_HOME and file backend, our tools first."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PULUMI_", "FABRIC_", "AZURE_")) or k in ("PULUMI_PYTHON_CMD",)}
    backend_dir.mkdir(parents=True, exist_ok=True)
    env.update({
        "PATH": os.pathsep.join([str(engine.TOOLS_DIR / "bin"), str(VENV / "bin"), env.get("PATH", "")]),
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_BACKEND_URL": backend_dir.as_uri(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
    })
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    return env


def project_yaml(name: str, *, virtualenv: str | Path = VENV, extra: str = "") -> str:
    return (f"name: {name}\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
            f"    virtualenv: {virtualenv}\n{extra}")


@pytest.fixture
def pulumi_project(
    tmp_path: Path, pulumi_home: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., PulumiProject]]:
    """Factory: ``pulumi_project(program=None, *, name="fabric-e2e", stack=None, config=None,
    secret_config=None, emulator=True, directory=None, pulumi_yaml=None, passphrase=TEST_PASSPHRASE)``.

    Creates a project folder (``directory``, or a new one under tmp) with a Pulumi.yaml whose
    ``virtualenv`` is the project's ``.venv`` (unless the folder has a Pulumi.yaml or ``pulumi_yaml``
    is given) and ``__main__.py`` from ``program``, inits the stack in a file backend in tmp (passphrase
    secrets) and sets its config; with ``emulator=True`` the stack points at the session emulator.
    Stacks left with resources are destroyed at the end of the test (before the emulator goes away).
    """
    made: list[PulumiProject] = []

    def _make(
        program: str | None = None,
        *,
        name: str = "fabric-e2e",
        stack: str | None = None,
        config: Mapping[str, str] | None = None,
        secret_config: Mapping[str, str] | None = None,
        emulator: bool = True,
        directory: Path | None = None,
        pulumi_yaml: str | None = None,
        passphrase: str | None = TEST_PASSPHRASE,
    ) -> PulumiProject:
        folder = directory or tmp_path / f"cli-project-{len(made)}"
        folder.mkdir(parents=True, exist_ok=True)
        if pulumi_yaml is not None or not (folder / "Pulumi.yaml").exists():
            (folder / "Pulumi.yaml").write_text(pulumi_yaml or project_yaml(name))
        project = PulumiProject(folder, stack or f"t{uuid.uuid4().hex[:10]}",
                                cli_env(pulumi_home=pulumi_home, backend_dir=tmp_path / "cli-state",
                                        passphrase=passphrase))
        if program is not None:
            project.write_program(program)
        project.run("stack", "init", "--secrets-provider", "passphrase", project.stack, stack=False)
        plain: dict[str, str] = {}
        secret: dict[str, str] = {}
        if emulator:
            plain, secret = emulator_stack_config(request.getfixturevalue("emulator"))
        plain.update(config or {})
        secret.update(secret_config or {})
        project.set_config(plain, secret)
        made.append(project)
        return project

    yield _make
    for project in made:
        try:
            if project.resources():
                project.destroy(check=False)
        except Exception as exc:  # cleanup must not hide the test's own failure
            print(f"cleanup of stack {project.stack} in {project.directory} failed: {exc}")


# The package, its tests and tools are not part of the Pulumi project a user deploys from.
_NOT_PROJECT = ("fabric_resources/", "tests/", "benchmarks/", "docs/", "scripts/", ".ci/")


def copy_project_folder(target: Path) -> Path:
    """A copy of this repository's Pulumi project in ``target``: what a fresh clone has, nothing else.

    Every tracked file outside the package, tests and tools (Pulumi.yaml, the program, pipelines,
    libraries, stack files, requirements.txt); no ``.pulumi-state``, no ``.emulator``. Its ``.venv``
    is a link to the repository's venv, so the unchanged Pulumi.yaml (``virtualenv: .venv``) applies.
    """
    root = engine.PROJECT_ROOT
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    target.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed.decode().split("\0")):
        if name.startswith(_NOT_PROJECT) or not (root / name).is_file():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    (target / ".venv").symlink_to(VENV, target_is_directory=True)
    return target


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
            passphrase=TEST_PASSPHRASE,
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


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc), the engine's plugins included."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
