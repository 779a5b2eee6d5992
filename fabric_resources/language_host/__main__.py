"""``python -m fabric_resources.language_host [-use-executor PATH] [flags...] ENGINE_ADDRESS``."""

from __future__ import annotations

import sys

from fabric_resources.language_host.host import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
