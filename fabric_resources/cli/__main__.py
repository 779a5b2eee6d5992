import sys

from fabric_resources.cli import main

sys.exit(main())
