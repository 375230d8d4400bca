"""What compiling or applying a mapping set raises."""

from __future__ import annotations

from sourceflow.errors import InvalidBody, SourceflowError


class MappingError(InvalidBody):
    """A mapping set cannot be compiled; ``problems`` says where, one line per problem.

    Each line starts with the rule's JSON path, e.g.
    ``mappings[2].sourceAttribute: unknown function 'lowr' at column 1 (known: ...)``, so the
    local platform can answer 400 with the list and a user can fix every rule in one pass.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("mapping set", problems)


class RecordError(SourceflowError):
    """One record could not be mapped; the record is kept with this error, never dropped.

    ``rule_index`` and ``destination`` name the rule that failed (both ``None`` when the record
    itself is unusable, e.g. not a JSON object).
    """

    def __init__(self, message: str, *, rule_index: int | None, destination: str | None) -> None:
        self.rule_index = rule_index
        self.destination = destination
        super().__init__(message)


class EvalError(Exception):
    """Raised by a mapping function for one value; the compiled mapping adds the rule."""

    def __init__(self, call: str, reason: str) -> None:
        self.call = call
        self.reason = reason
        super().__init__(f"{call}: {reason}")
