"""Entry point: ``python -m sppo_lab.control {run,report,list} ...`` (see lab/sppo_lab/control/cli.py)."""

import sys

from sppo_lab.control.cli import main

sys.exit(main())
