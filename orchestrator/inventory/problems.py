"""Problems found in inventory files, worded for the engineer who has to fix them.

Every check in the loader records a ``Problem`` instead of raising, so one run
reports everything wrong with a file; ``raise_problems`` then turns them into a
single ``InventoryError`` with one line per problem, each naming the file, the
record and the field. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from orchestrator.errors import InventoryError
from orchestrator.inventory.models import SLUG_PATTERN, SYSTEM_ID_PATTERN

# An error message with thousands of lines helps nobody; the first ones show the pattern.
MAX_REPORTED_PROBLEMS = 200

Loc = tuple[int | str, ...]
FieldNamer = Callable[[Loc], str]

_PATTERN_HINTS = {
    SYSTEM_ID_PATTERN: "must be a DNS label: lowercase letters, digits and inner hyphens, "
    "at most 63 characters",
    SLUG_PATTERN: "must be a lowercase slug such as 'shantou'",
    r"^[^\x00-\x1f\x7f]+$": "must be one line without control characters",
    r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$": "must be a host name or an address",
}
_FIXED_WORDING = {"missing": "is required", "extra_forbidden": "unknown field"}
_SHOULD = re.compile(r"^(?:Input|String|Value|Tuple|List) should ")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file: where it is, and what is wrong."""

    source: str
    message: str
    record: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.record is not None:
            parts.append(self.record)
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        parts.append(self.message)
        return ": ".join(parts)


def show(value: object, limit: int = 60) -> str:
    """``repr`` of a value for a message, cut short so hostile input cannot flood it."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "..."
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def record_label(index: int, record_id: object) -> str:
    """``record 7 (id 'sz-tax-01')``: 1-based, with the id when the record has a usable one."""
    if isinstance(record_id, str) and record_id:
        return f"record {index} (id {show(record_id)})"
    return f"record {index}"


def dotted(loc: Loc) -> str:
    """``('source', 'city')`` → ``source.city``; ``('depends_on', 2)`` → ``depends_on[2]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def describe(error: ErrorDetails) -> str:
    """Reword one pydantic error as ``must ...``, with the offending value when it is short."""
    kind = error["type"]
    if kind in _FIXED_WORDING:
        return _FIXED_WORDING[kind]
    ctx = error.get("ctx") or {}
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_HINTS:
        message = _PATTERN_HINTS[ctx["pattern"]]
    elif kind in {"int_type", "int_parsing", "int_from_float"}:
        message = "must be a whole number"
    else:
        message = _SHOULD.sub("must ", error["msg"])
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        message += f", got {show(value)}"
    return message


def from_validation_error(
    error: ValidationError,
    *,
    source: str,
    record: str | None,
    namer: FieldNamer = dotted,
) -> list[Problem]:
    """One ``Problem`` per pydantic error, the field named as the file's author wrote it."""
    return [
        Problem(source, describe(detail), record, namer(tuple(detail["loc"])) or None)
        for detail in error.errors(include_url=False)
    ]


def render(problems: Sequence[Problem]) -> str:
    """One line per problem, cut at ``MAX_REPORTED_PROBLEMS`` with a count of the rest."""
    lines = [str(problem) for problem in problems[:MAX_REPORTED_PROBLEMS]]
    hidden = len(problems) - len(lines)
    if hidden > 0:
        lines.append(f"... and {hidden} more problems")
    return "\n".join(lines)


def raise_problems(problems: Iterable[Problem]) -> None:
    """Raise one ``InventoryError`` listing every problem, if there are any."""
    found = list(problems)
    if found:
        raise InventoryError(render(found))
