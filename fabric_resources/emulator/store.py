"""SQLite state store of the emulator.

Design (why):
- One database file in the data dir, WAL mode: readers never block the writer and state survives
  restarts.
- One connection per thread (sqlite3 connections must not be shared across threads mid-transaction).
- One process-wide re-entrant write lock: writers are serialised inside the process, so every
  read-modify-write done inside ``tx()`` is atomic (no lost updates, no torn writes). ``BEGIN
  IMMEDIATE`` additionally takes SQLite's own write lock, which protects against a second process.
- Rows keep the whole resource as JSON in a ``data`` column, next to the few columns that need an
  index or a uniqueness constraint.

API (stable; used by the jobs module too)::

    store = Store(data_dir / "emulator.db")
    Store.register_schema("CREATE TABLE IF NOT EXISTS ...")   # before open(); or on the instance
    store.open()
    with store.tx() as conn:          # write transaction (commit on success, rollback on exception)
        conn.execute("INSERT ...")
    with store.read() as conn:        # consistent read snapshot, no write lock
        conn.execute("SELECT ...").fetchall()
    store.close()

Rule for async code: never ``await`` inside ``tx()``/``read()``. Coroutines on the event loop share
one thread (so one connection, and the re-entrant lock would let a second coroutine join the first
one's transaction); keep the block synchronous and short.

Rows come back as ``sqlite3.Row`` (index by column name). ``dumps``/``loads`` are the JSON helpers
used for ``data`` columns; ``find_item`` is the one reader of an item row (routes and jobs engine).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

#: Tables of the core platform API (workspaces, roles, items, definitions, folders, operations).
CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name_key TEXT NOT NULL UNIQUE,          -- lower-cased displayName: unique in the tenant
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS role_assignments (
    workspace_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,             -- the service uses the principal id as the assignment id
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, principal_id)
);
CREATE INDEX IF NOT EXISTS role_assignments_principal ON role_assignments (principal_id);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name_key TEXT NOT NULL,
    folder_id TEXT NOT NULL DEFAULT '',     -- '' = workspace root
    data TEXT NOT NULL,
    UNIQUE (workspace_id, type, name_key)
);
CREATE INDEX IF NOT EXISTS items_workspace ON items (workspace_id, type);
CREATE TABLE IF NOT EXISTS definitions (
    item_id TEXT PRIMARY KEY,
    data TEXT NOT NULL                      -- {"format": ..., "parts": [...]} exactly as sent
);
CREATE TABLE IF NOT EXISTS folders (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    parent_id TEXT NOT NULL DEFAULT '',     -- '' = workspace root
    name_key TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (workspace_id, parent_id, name_key)
);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""

_global_schemas: list[str] = []


def dumps(value: Any) -> str:
    """JSON text for a ``data`` column (compact, stable key order is not required)."""
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes | None) -> Any:
    """Inverse of ``dumps``; None stays None."""
    return None if text is None else json.loads(text)


class _SchemaRegistrar:
    """``register_schema`` works on the class (global, for modules imported before the store
    exists) and on an instance (applied immediately when the store is already open)."""

    def __get__(self, obj: Store | None, objtype: type | None = None) -> Any:
        if obj is None:
            def register_global(sql: str) -> None:
                if sql not in _global_schemas:
                    _global_schemas.append(sql)
            return register_global

        def register_instance(sql: str) -> None:
            obj._register(sql)
        return register_instance


class Store:
    """The emulator's SQLite database (see module docstring)."""

    register_schema = _SchemaRegistrar()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._schemas: list[str] = [CORE_SCHEMA]
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._opened = False
        self._applied: set[str] = set()  # schema scripts already run on this database

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Store:
        """Create the file and every registered table; idempotent."""
        if self._opened:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._opened = True
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.tx() as c:
            for sql in [*self._schemas, *_global_schemas]:
                if sql not in self._applied:
                    _run_script(c, sql)
                    self._applied.add(sql)
        return self

    def close(self) -> None:
        """Close every connection this store opened (any thread's)."""
        with self._connections_lock:
            for conn in self._connections:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._opened = False
        self._applied.clear()

    def _register(self, sql: str) -> None:
        if sql not in self._schemas:
            self._schemas.append(sql)
        if self._opened and sql not in self._applied:
            with self.tx() as c:
                _run_script(c, sql)
            self._applied.add(sql)

    # -- connections and transactions --------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self._opened:
                # Tolerate callers that forgot open(): open() comes back here with _opened set.
                self.open()
                return self._conn()
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so transactions are explicit.
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.depth = 0
            self._local.mode = ""
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the process-wide lock. Nested calls join the outer one."""
        with self._write_lock:
            conn = self._conn()
            depth: int = getattr(self._local, "depth", 0)
            if depth > 0:
                if getattr(self._local, "mode", "") == "read":
                    raise RuntimeError("Store.tx() cannot be nested inside Store.read()")
                self._local.depth = depth + 1
                try:
                    yield conn
                finally:
                    self._local.depth = depth
                return
            with self._transaction(conn, "BEGIN IMMEDIATE", "write"):
                yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot without taking the write lock (WAL lets readers run
        alongside the writer). Inside a ``tx()`` of the same thread it reuses that transaction."""
        conn = self._conn()
        if getattr(self._local, "depth", 0) > 0:
            yield conn
            return
        with self._transaction(conn, "BEGIN DEFERRED", "read"):
            yield conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, begin: str, mode: str) -> Iterator[None]:
        """The outermost transaction of this thread: committed on success, rolled back on error."""
        conn.execute(begin)
        self._local.depth = 1
        self._local.mode = mode
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0


def find_item(conn: sqlite3.Connection, workspace_id: str, item_id: str) -> dict[str, Any] | None:
    """The item's stored JSON, or None when it is not in that workspace (ids in any case)."""
    row = conn.execute("SELECT data, type FROM items WHERE id = ? AND workspace_id = ?",
                       (item_id.lower(), workspace_id.lower())).fetchone()
    if row is None:
        return None
    data: dict[str, Any] = loads(row["data"])
    data.setdefault("type", row["type"])
    return data


def _run_script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT our open transaction first; run statement by statement instead.
    for statement in _split_sql(sql):
        conn.execute(statement)


def _split_sql(sql: str) -> list[str]:
    statements: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
