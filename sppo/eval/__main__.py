"""Entry point: ``python -m sppo.eval {generate,score,compare} ...`` (see sppo/eval/cli.py)."""

import sys

from sppo.eval.cli import main

sys.exit(main())
