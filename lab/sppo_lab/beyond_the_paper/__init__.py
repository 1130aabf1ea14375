"""Issue 28's options measured with the critic-pays protocol on its high-η² (u_shaped) mix: critic warm start,
truncation-aware critic target, adaptive normalisation and adaptive N against plain SPPO N = 1, and adaptive N against
GRPO N = k and REINFORCE++ N = 1 at equal generated tokens (docs/beyond_the_paper.md, "Measurements").

    python -m sppo_lab.beyond_the_paper.run --phase warmstart_check      # the warm-start target, 3 seeds x 20 steps
    python -m sppo_lab.beyond_the_paper.run --phase sweep                # each arm's lr sweep
    python -m sppo_lab.beyond_the_paper.run --phase main                 # 8 seeds per arm at its tuned lr
    python -m sppo_lab.beyond_the_paper.report                           # comparison.json / .md / .png

Modules: ``arms`` (what each arm runs, the comparisons), ``budget`` (steps, samples, generated tokens, equal-token
alignment), ``targets`` (time to target), ``plan`` (phases, the runs of a phase, resume, lr selection), ``records``
(what a run leaves: the critic-pays record plus the series read here), ``run`` and ``report`` (the CLIs). Every run is the critic-pays harness's
``sppo_lab.critic_pays.comparison.launch``.
"""
