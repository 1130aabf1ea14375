"""The quickstart: SPPO through the real verl pipeline on CPU, on a bundled verifiable task (``sppo_lab.quickstart.run``)."""
