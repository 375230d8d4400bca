"""Field paths: ``visitor.UUID``, ``line_items[0].price``, ``${First\\.Name}``.

A path is names separated by dots, each optionally followed by array indexes in brackets. A
name is any run of characters other than ``.``, ``[``, ``]`` and ``\\``; a backslash takes the
next character literally, so ``a\\.b`` is the one key ``"a.b"``. Paths are parsed once, at
compile time, into a tuple of steps (``str`` keys and ``int`` indexes).
"""

from __future__ import annotations

Step = str | int
Path = tuple[Step, ...]

_SPECIAL = frozenset(".[]\\")
MAX_STEPS = 64  # deeper paths are mistakes, and would nest too deep in generated code


class PathError(Exception):
    """A path does not parse; ``column`` is 1-based within the text given to the parser."""

    def __init__(self, column: int, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(f"column {column}: {reason}")


def parse_path(text: str) -> Path:
    """Parse a dotted path with ``[N]`` indexes into its steps, or raise :class:`PathError`."""
    if not text:
        raise PathError(1, "empty path")
    steps: list[Step] = []
    i, n = 0, len(text)
    expect_name = True  # at the start and after a '.'
    while i < n:
        ch = text[i]
        if expect_name:
            name, j = _read_name(text, i)
            if not name:
                if ch == "[" and not steps:
                    raise PathError(i + 1, "a path starts with a name, not an index")
                if i == 0:
                    raise PathError(1, f"empty name before {ch!r}")
                raise PathError(i, "empty name after '.'")
            steps.append(name)
            i, expect_name = j, False
            if len(steps) > MAX_STEPS:
                raise PathError(i, f"deeper than {MAX_STEPS} steps")
        elif ch == ".":
            if i + 1 == n:
                raise PathError(i + 1, "empty name after '.'")
            i, expect_name = i + 1, True
        elif ch == "[":
            close = text.find("]", i)
            digits = text[i + 1 : close] if close > 0 else ""
            if not (digits.isascii() and digits.isdigit()):
                raise PathError(i + 1, "an index is a whole number in brackets, like [0]")
            steps.append(int(digits))
            i = close + 1
            if len(steps) > MAX_STEPS:
                raise PathError(i, f"deeper than {MAX_STEPS} steps")
        elif ch == "]":
            raise PathError(i + 1, "']' without '['")
        else:
            raise PathError(i + 1, "expected '.' or '[' after ']'")
    return tuple(steps)


def _read_name(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 == n:
                raise PathError(i + 1, "'\\' at the end escapes nothing")
            out.append(text[i + 1])
            i += 2
        elif ch in _SPECIAL:
            break
        else:
            out.append(ch)
            i += 1
    return "".join(out), i


def format_path(steps: Path) -> str:
    """The canonical text of a path: the inverse of :func:`parse_path`."""
    parts: list[str] = []
    for step in steps:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            escaped = "".join("\\" + c if c in _SPECIAL else c for c in step)
            parts.append(("." if parts else "") + escaped)
    return "".join(parts)
