"""Entry point: ``python -m sppo.control {run,report,list} ...`` (see sppo/control/cli.py)."""

import sys

from sppo.control.cli import main

sys.exit(main())
