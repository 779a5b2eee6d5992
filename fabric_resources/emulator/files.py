"""Atomic writes of the files the emulator keeps in its data directory.

Each file is written under a temporary name next to it and renamed into place, so a reader (a client
pinning the CA, a second process reading ``emulator.json``) never sees a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path


def _temp_for(path: Path) -> Path:
    # Per-process name: two emulators sharing a data dir never write the same temporary file.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path``; the file is owner-only (0600) from the moment it exists."""
    tmp = _temp_for(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with a world-readable (0644) file, whatever the umask."""
    tmp = _temp_for(path)
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
