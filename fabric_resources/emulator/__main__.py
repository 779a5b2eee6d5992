"""``python -m fabric_resources.emulator serve|token ...``"""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
