"""Definition part payloads: the one decoder every reader of a stored payload uses.

Payloads are stored exactly as clients sent them. What the create/update endpoints accept, every later
reader (getDefinition's `.platform` check, the job engine) must decode the same way: standard or
URL-safe base64, with or without `=` padding (the spec's own examples omit it), nothing else.
"""

from __future__ import annotations

import base64
import binascii
import re

_B64_RE = re.compile(r"^[A-Za-z0-9+/\-_]*={0,2}$")


def decode_payload(payload: str) -> bytes:
    """The bytes of a base64 payload; ValueError when it is not base64."""
    text = payload.strip()
    if not _B64_RE.match(text):
        raise ValueError("not valid base64")
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
