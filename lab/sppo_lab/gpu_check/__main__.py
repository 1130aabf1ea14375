"""``python -m sppo_lab.gpu_check``: the one-command GPU check (see lab/sppo_lab/gpu_check/driver.py)."""

import sys

from sppo_lab.gpu_check.driver import main

sys.exit(main())
