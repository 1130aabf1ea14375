"""Entry point: ``python -m sppo.analysis {calibration,tail-effect} ...`` (see sppo/analysis/cli.py)."""

import sys

from sppo.analysis.cli import main

sys.exit(main())
