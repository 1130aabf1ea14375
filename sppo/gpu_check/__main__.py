"""``python -m sppo.gpu_check``: the one-command GPU check (see sppo/gpu_check/driver.py)."""

import sys

from sppo.gpu_check.driver import main

sys.exit(main())
