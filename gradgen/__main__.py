"""``python -m gradgen``: see gradgen/cli.py."""

import sys

from gradgen.cli import main

sys.exit(main())
