"""The one exception type of ``sppo_lab.analysis``: a user error, printed as one line (exit code 2)."""


class AnalysisError(Exception):
    """Bad input (a missing or empty file, a malformed row, p outside [0, 1], a bad option); one-line message."""
