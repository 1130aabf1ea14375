"""Where the checkout is: the studies run from a clone of the repository (run_scripts/, tests/, benchmarks/results/)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # lab/sppo_lab/paths.py -> the repository root
RESULTS = REPO / "benchmarks" / "results"
