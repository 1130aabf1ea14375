"""sppo_lab: the studies built on the SPPO plug-in (quickstart, graded task, control suite, analyses, GPU check,
benchmarks). It imports ``sppo``; ``sppo`` never imports it. Installed from the checkout (``bash uv_verl.sh``
installs both packages in editable mode); GPU nodes that only train need ``pip install .`` (the plug-in) alone.
"""
