"""The one exception type of ``sppo.eval``: a user error, printed as one line (exit code 2)."""


class EvalError(Exception):
    """Bad input (a missing file or column, an unknown benchmark, k < 1, ...); the message is one line."""
