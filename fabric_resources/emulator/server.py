"""Start-up and TLS serving of the emulator (uvicorn), and the `emulator.json` hand-off file.

Order matters here:

1. bind the listening socket ourselves, so the real port (``--port 0``) is known before anything
   that embeds URLs (token issuer, Location headers, emulator.json) is built;
2. open the store only after every module that registers tables (``Store.register_schema``, at
   import) is imported -- the jobs engine's tables included;
3. only when uvicorn is accepting connections, write ``emulator.json`` atomically (mode 0600: it
   holds client secrets) -- clients treat its appearance as "ready";
4. on SIGTERM/SIGINT uvicorn drains connections, then we stop the jobs engine and remove
   ``emulator.json`` (only if it is still ours).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvicorn

from . import INFO_FILE
from .certs import ensure_certificates
from .files import write_private
from .identity import Identity
from .jobs import JobEngine

#: Threads for sync handlers. Starlette runs them in anyio's pool (default 40); a parallel
#: `pulumi up` (4 provider threads per process, several processes) plus test processes exceed it.
HANDLER_THREADS = 96
KEEP_ALIVE_SECONDS = 30
ReadyCallback = Callable[[dict[str, Any]], None]


def url_host(host: str) -> str:
    """The host part clients should dial for a bind address (wildcards mean loopback)."""
    if host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every TLS response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Restarting on the same fixed port must not wait for TIME_WAIT sockets of the last run.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bind_host = "127.0.0.1" if host in ("", "localhost") else host
    sock.bind((bind_host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def write_info(path: Path, info: dict[str, Any]) -> None:
    """Atomically replace ``path`` with ``info`` (readers never see a half-written file)."""
    write_private(path, (json.dumps(info, indent=2) + "\n").encode())


def remove_info_if_ours(path: Path, pid: int) -> None:
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(current, dict) and current.get("pid") == pid:
        path.unlink(missing_ok=True)


class _EmulatorServer(uvicorn.Server):
    """uvicorn.Server with our start-up / shutdown hooks on the event loop."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None],
                 on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_shutdown = on_shutdown

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = HANDLER_THREADS
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Idle keep-alive connections: uvicorn closes them politely, but a TLS close waits for the
        # client's close_notify, which an idle pooled client never sends -- shutdown would then
        # sit out the whole grace period. Nothing is in flight on them, so drop them at once.
        for conn in list(self.server_state.connections):
            cycle = getattr(conn, "cycle", None)
            transport = getattr(conn, "transport", None)
            if transport is not None and (cycle is None or getattr(cycle, "response_complete", False)):
                transport.abort()
        try:
            await super().shutdown(sockets=sockets)
        finally:
            self._on_shutdown()


def serve(
    data_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_callback: ReadyCallback | None = None,
    log_level: str = "warning",
) -> None:
    """Run the emulator in the foreground until SIGTERM/SIGINT."""
    from .app import create_app
    from .context import EmulatorContext, default_config
    from .store import Store

    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / INFO_FILE
    tls = ensure_certificates(data_dir)

    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    origin = f"https://{url_host(host)}:{bound_port}"

    store = Store(data_dir / "emulator.db")
    store.open()
    config = default_config()
    identity = Identity.load_or_create(data_dir, origin, config=config)
    ctx = EmulatorContext(data_dir=data_dir, store=store, identity=identity, config=config, base_url=origin)
    # The admin endpoint may replace ctx.config wholesale (reset): always read the live one.
    identity.config_source = lambda: ctx.config
    jobs = ctx.jobs = JobEngine(ctx)
    app = create_app(ctx)

    pid = os.getpid()
    info: dict[str, Any] = {
        "api_url": f"{origin}/v1",
        "authority": f"{origin}/{identity.tenant_id}",
        "tenant_id": identity.tenant_id,
        "ca_cert": str(tls.ca_cert),
        "principals": identity.connection_principals(),
        "admin_url": f"{origin}/_emulator",
        "pid": pid,
    }

    def on_started() -> None:
        jobs.start()
        write_info(info_path, info)
        print(info["api_url"], flush=True)
        if ready_callback is not None:
            ready_callback(dict(info))

    stopped = threading.Event()

    def on_shutdown() -> None:
        if stopped.is_set():
            return
        stopped.set()
        remove_info_if_ours(info_path, pid)
        jobs.stop()

    config_uv = uvicorn.Config(
        app,
        ssl_certfile=str(tls.server_cert),
        ssl_keyfile=str(tls.server_key),
        log_level=log_level,
        access_log=False,
        lifespan="auto",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=5,
        backlog=2048,
        server_header=False,
    )
    server = _EmulatorServer(config_uv, on_started, on_shutdown)
    # uvicorn re-raises the signal it caught once it has shut down; with these no-op handlers in
    # place that re-raise is harmless and the process exits 0 after our cleanup below.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        on_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        close = getattr(store, "close", None)
        if callable(close):
            close()
