"""Shared fixtures: one real emulator process (HTTPS) for the whole test session.

Tests talk to the emulator exactly as clients do: over TLS with its private CA, with bearer
tokens it signed. The fixture object (`EmulatorProcess`) wraps the process and a few helpers:

    emulator.api_url / .authority / .tenant_id / .ca_cert / .principals / .admin_url / .data_dir
    emulator.default_sp                      first service principal (dict from emulator.json)
    emulator.token(client_id=None, upn=None, lifetime_seconds=None) -> str
    emulator.session(token=None)             requests.Session trusting the CA, Authorization set
                                             (token=None: default SP token; token="": no header)
    emulator.admin(method, path, json=None)  -> requests.Response on admin_url + path
    emulator.config(**changes)               context manager: PUT /config, restore afterwards
    emulator.stats() / .reset_stats()
    emulator.restart()                       stop + start on the same data dir (port may change)

`emulator_factory` starts extra, private emulators (e.g. to restart one without disturbing the
shared instance); `emulator_env` exports the default service principal as environment variables.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from fabric_resources.emulator import read_info

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored across
    # exec: every process the tests start would then ignore the Ctrl-C that the interruption tests
    # send. Give the children the default disposition, as under an interactive terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


class _CASession(requests.Session):
    """A session that never lets the environment pick the CA bundle or a proxy.

    This machine sets REQUESTS_CA_BUNDLE, which requests prefers over `Session.verify`; with
    trust_env off the session's own `verify` (the emulator CA) is what gets used.
    """

    def __init__(self, ca_cert: str) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_cert


class _InfoText:
    """A connection fact the running emulator wrote to emulator.json, as text, read under the name of
    the attribute holding it (``api_url = _InfoText()`` reads ``"api_url"``)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, process: EmulatorProcess, owner: type | None = None) -> str:
        return str(process._info[self.key])


class EmulatorProcess:
    """One emulator subprocess serving a data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_path = self.data_dir / "emulator-test-stderr.log"
        self._info: dict[str, Any] = {}
        self._token_cache: dict[tuple[str | None, str | None], str] = {}
        self._admin_session: _CASession | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> EmulatorProcess:
        stderr = open(self._stderr_path, "ab")  # noqa: SIM115 - owned by the child for its life
        try:
            # No preexec_fn: it forces a plain fork() in a process that has loaded grpc (the e2e tests'
            # Automation API), whose fork handlers then abort the child.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "fabric_resources.emulator", "serve",
                 "--data-dir", str(self.data_dir), "--port", "0"],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            stderr.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            # A stale emulator.json from an earlier (killed) run carries another pid: wait for ours.
            info = read_info(self.data_dir)
            if info is not None and info.get("pid") == self._proc.pid:
                break
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"emulator exited with code {self._proc.returncode} before it was ready:\n{self._stderr_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"emulator not ready after {START_TIMEOUT_SECONDS}s:\n{self._stderr_tail()}")
            time.sleep(0.05)
        self._info = info
        if self._admin_session is not None:
            self._admin_session.close()  # pooled connections to the previous port
        self._admin_session = None
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_SECONDS)

    def restart(self) -> EmulatorProcess:
        self.stop()
        return self.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _stderr_tail(self, limit: int = 8000) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "<no stderr captured>"

    # -- connection facts (from emulator.json) ---------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        return dict(self._info)

    api_url = _InfoText()
    authority = _InfoText()
    tenant_id = _InfoText()
    ca_cert = _InfoText()
    admin_url = _InfoText()

    @property
    def base_url(self) -> str:
        return self.api_url.rsplit("/v1", 1)[0]

    @property
    def principals(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self._info["principals"]]

    @property
    def service_principals(self) -> list[dict[str, Any]]:
        return [p for p in self.principals if p["kind"] == "ServicePrincipal"]

    @property
    def users(self) -> list[dict[str, Any]]:
        return [p for p in self.principals if p["kind"] == "User"]

    @property
    def default_sp(self) -> dict[str, Any]:
        return self.service_principals[0]

    # -- helpers ---------------------------------------------------------------------------
    def session(self, token: str | None = None) -> requests.Session:
        """A session trusting the emulator CA; token=None uses the default SP, "" sends none."""
        s = _CASession(self.ca_cert)
        if token is None:
            token = self.token()
        if token:
            s.headers["Authorization"] = f"Bearer {token}"
        return s

    def admin(self, method: str, path: str, json: Any = None) -> requests.Response:
        if self._admin_session is None:
            self._admin_session = _CASession(self.ca_cert)
        url = self.admin_url + ("" if path.startswith("/") else "/") + path
        return self._admin_session.request(method, url, json=json, timeout=30)

    def token(self, client_id: str | None = None, upn: str | None = None,
              lifetime_seconds: float | None = None) -> str:
        """A bearer token for a principal (default service principal when none is named)."""
        if client_id is None and upn is None:
            client_id = self.default_sp["client_id"]
        key = (client_id, upn)
        if lifetime_seconds is None:
            cached = self._token_cache.get(key)
            # Reuse only while comfortably valid; a test may have shortened token_lifetime_seconds.
            if cached is not None and _expires_in(cached) > 120:
                return cached
        body: dict[str, Any] = {"client_id": client_id} if client_id else {"user_principal_name": upn}
        if lifetime_seconds is not None:
            body["lifetime_seconds"] = lifetime_seconds
        resp = self.admin("POST", "/token", json=body)
        if resp.status_code != 200:
            raise RuntimeError(f"POST /_emulator/token failed: {resp.status_code} {resp.text[:500]}")
        token = str(resp.json()["access_token"])
        if lifetime_seconds is None:
            self._token_cache[key] = token
        return token

    @contextlib.contextmanager
    def config(self, **changes: Any) -> Iterator[dict[str, Any]]:
        """Change emulator settings for the duration of a `with` block, then put them back."""
        before = self.admin("GET", "/config")
        before.raise_for_status()
        previous = before.json()
        resp = self.admin("PUT", "/config", json=changes)
        resp.raise_for_status()
        try:
            yield resp.json()
        finally:
            restore = {k: previous[k] for k in changes if k in previous}
            if restore:
                self.admin("PUT", "/config", json=restore).raise_for_status()

    def stats(self) -> dict[str, Any]:
        resp = self.admin("GET", "/stats")
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def reset_stats(self) -> None:
        self.admin("DELETE", "/stats").raise_for_status()


def _expires_in(token: str) -> float:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return float(claims["exp"]) - time.time()
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return 0.0


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """The one emulator shared by the whole test session."""
    proc = EmulatorProcess(tmp_path_factory.mktemp("emulator")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def emulator_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], EmulatorProcess]]:
    """Start private emulators (own data dirs) that are stopped when the test ends."""
    started: list[EmulatorProcess] = []

    def start() -> EmulatorProcess:
        proc = EmulatorProcess(tmp_path_factory.mktemp("emulator-private")).start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture
def emulator_env(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    """Environment variables pointing clients at the shared emulator as its default SP."""
    sp = emulator.default_sp
    monkeypatch.setenv("FABRIC_API_URL", emulator.api_url)
    monkeypatch.setenv("FABRIC_AUTHORITY", emulator.authority)
    monkeypatch.setenv("FABRIC_CA_BUNDLE", emulator.ca_cert)
    monkeypatch.setenv("AZURE_TENANT_ID", emulator.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", sp["client_id"])
    monkeypatch.setenv("AZURE_CLIENT_SECRET", sp["client_secret"])
    return emulator
