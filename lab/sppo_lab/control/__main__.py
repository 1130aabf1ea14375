"""Entry point: ``python -m sppo_lab.control {run,report,warmstart,list} ...`` (see lab/sppo_lab/control/cli.py).

The suite needs the ``control`` extra (gymnasium with Box2D and MuJoCo); without it every verb, ``list``
included, is one line saying how to install it (exit code 2), not an ImportError traceback.
"""

import sys

from sppo_lab.control import EXTRA_MODULES, INSTALL_HINT

try:
    from sppo_lab.control.cli import main

    sys.exit(main())
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in EXTRA_MODULES:
        raise
    verb = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    prog = "python -m sppo_lab.control" + (f" {verb}" if verb in ("run", "report", "warmstart", "list") else "")
    print(f"{prog}: error: {exc.name} is not installed; {INSTALL_HINT}", file=sys.stderr)
    sys.exit(2)
