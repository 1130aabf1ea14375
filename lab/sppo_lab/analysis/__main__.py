"""Entry point: ``python -m sppo_lab.analysis {calibration,tail-effect} ...`` (see lab/sppo_lab/analysis/cli.py)."""

import sys

from sppo_lab.analysis.cli import main

sys.exit(main())
