"""Pull the final answer out of a model response.

The rules (cheap, linear-time, no regex backtracking):

1. If the response contains ``</think>``, only the text after the *last* one is searched, so a
   tentative ``\\boxed{}`` inside the reasoning never counts.
2. The answer is the content of the *last* ``\\boxed{...}`` or ``\\fbox{...}`` (brace-balanced;
   escaped braces ``\\{``/``\\}`` do not count). ``\\boxed 5`` (no braces) is accepted too.
3. Nested boxes (``\\boxed{\\boxed{5}}``) are unwrapped.

An unclosed box or an empty box gives ``None`` (no answer).
"""

from __future__ import annotations

THINK_END = "</think>"
_BOX_COMMANDS = ("\\boxed", "\\fbox")


def to_text(value: object) -> str:
    """Return ``value`` as a valid UTF-8 ``str`` (bytes are decoded, lone surrogates replaced)."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def strip_thinking(text: str) -> str:
    """Return the part of ``text`` after the last ``</think>`` (all of it when there is none)."""
    cut = text.rfind(THINK_END)
    return text if cut < 0 else text[cut + len(THINK_END) :]


class _BoxFinder:
    """Yields box-command positions left to right; each command's ``find`` resumes where it stopped,
    so a text full of look-alikes is still scanned in linear time."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._next = {c: text.find(c) for c in _BOX_COMMANDS}

    def next_from(self, begin: int) -> tuple[int, str] | None:
        """Position and command of the first box command at or after ``begin``."""
        best: tuple[int, str] | None = None
        for command, pos in self._next.items():
            if 0 <= pos < begin:
                pos = self._text.find(command, begin)
                self._next[command] = pos
            if pos >= 0 and (best is None or pos < best[0]):
                best = (pos, command)
        return best


def _braced_content(text: str, open_pos: int) -> str | None:
    """Content of the brace group opening at ``text[open_pos] == '{'``, or None if unclosed."""
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2  # skip the escaped character: \{ and \} are literal braces
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_pos + 1 : i]
        i += 1
    return None


def _box_argument(text: str, start: int, command: str) -> tuple[str | None, int]:
    """Argument of the box command at ``start`` and the index just after it.

    The argument is None when the box is unclosed; ``(None, -1)`` means "not a box at all".
    """
    i = start + len(command)
    j = i
    while j < len(text) and text[j] == " ":
        j += 1
    if j < len(text) and text[j] == "{":
        content = _braced_content(text, j)
        return content, (j + len(content) + 2 if content is not None else len(text))
    if j == i:
        return None, -1  # e.g. "\\boxedx" is another command, not a box
    # "\\boxed 5": the argument runs to the next whitespace or "$".
    stop = j
    while stop < len(text) and not text[stop].isspace() and text[stop] != "$":
        stop += 1
    return text[j:stop], stop


def last_boxed(text: str) -> str | None:
    """Content of the last outermost ``\\boxed{}``/``\\fbox{}`` in ``text``, or None.

    One forward pass: each box is skipped as a whole, so boxes nested inside it are not candidates.
    Look-alike commands (``\\fboxsep``) are ignored. An unclosed box gives None: it swallows the
    rest of the text, and a truncated final answer is no answer.
    """
    answer: str | None = None
    finder = _BoxFinder(text)
    pos = 0
    while True:
        found = finder.next_from(pos)
        if found is None:
            break
        start, command = found
        content, after = _box_argument(text, start, command)
        if after < 0:
            pos = start + len(command)
            continue
        answer = content
        if content is None:
            break
        pos = after
    if answer is None:
        return None
    return unwrap_boxes(answer.strip()) or None


def unwrap_boxes(answer: str) -> str:
    """Strip redundant outer box commands: ``\\boxed{\\boxed{5}}`` content -> ``5``."""
    while True:
        command = next((c for c in _BOX_COMMANDS if answer.startswith(c + "{")), None)
        if command is None:
            return answer
        inner = _braced_content(answer, len(command))
        # only unwrap when the box spans the whole answer
        if inner is None or len(command) + len(inner) + 2 != len(answer):
            return answer
        answer = inner.strip()


def extract_answer(solution: object) -> str | None:
    """The final answer of a model response (see module docstring), or None if there is none."""
    return last_boxed(strip_thinking(to_text(solution)))
