"""Analyses of SPPO runs and of the algorithm (``python -m sppo_lab.analysis {calibration,tail-effect}``).

* ``calibration``: reliability diagram, Brier score and ECE of the SPPO critic over a training run,
  read from the ``calibration.jsonl`` that the trainer writes when ``sppo.calibration_log`` is set
  (``lab/sppo_lab/analysis/calibration.py``).
* ``tail-effect``: the paper's diagnosis of token-level critics, in miniature on the quickstart task,
  in plain PyTorch (``lab/sppo_lab/analysis/tail_effect.py``).

See docs/analysis.md.
"""
