"""A tiny HTTP CONNECT proxy that tunnels Fabric's public host name to a local emulator.

Tools that insist on ``api.fabric.microsoft.com`` (fabric-cicd validates the host of its API URL) reach
the emulator unmodified through the standard ``HTTPS_PROXY`` variable: they send ``CONNECT
api.fabric.microsoft.com:443``, this proxy connects to the emulator's loopback port instead, and TLS
runs end to end between the tool and the emulator (whose certificate names that host; the tool trusts
the emulator's CA through ``REQUESTS_CA_BUNDLE``). Any other host is refused: nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
from collections.abc import Iterator

FABRIC_HOSTS = ("api.fabric.microsoft.com",)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # the CONNECT request's headers
        if len(request) < 2 or request[0] != "CONNECT" or request[1].rsplit(":", 1)[0] not in FABRIC_HOSTS:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.tunnelled.append(request[1])
        with socket.create_connection(("127.0.0.1", self.server.target_port), timeout=30) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            client = self.connection
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 60)
                if not ready:
                    return
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target_port = target_port
        self.tunnelled: list[str] = []


@contextlib.contextmanager
def fabric_proxy(target_port: int) -> Iterator[_Server]:
    """A running proxy (``server.server_address[1]`` is its port); stopped when the block ends."""
    server = _Server(target_port)
    thread = threading.Thread(target=server.serve_forever, name="fabric-connect-proxy", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
