"""When does SPPO's critic pay? The study of issue 26.

- ``mixes``: the two difficulty mixes of the graded task (uniform levels; a U-shaped mix like real RLVR data) and
  the warm start of the U-shaped mix.
- ``gradient_variance``: the mechanism, measured on fixed checkpoints without Ray: the variance of 16-sample policy
  gradients under each baseline.
- ``comparison``: the fair comparison of the arms through ``python -m sppo.main`` (lr sweep, then seeds).
"""
