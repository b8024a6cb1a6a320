"""Offline checking of event files, behind ``govmig events validate FILE...``.

A producer checks what it will publish without a broker: each file holds one
structured-mode event (``*.json``, any layout) or one event per line
(``*.jsonl``, ``*.ndjson``; blank lines are skipped). Every event goes through
the same ``decode_document`` as the consumer's checks, so a file that passes here
is refused on Kafka only for transport reasons (the key) or unknown ids.
``check_content`` is pure; ``check_file`` only adds reading the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from orchestrator.events.codec import DEFAULT_MAX_BYTES, decode_document
from orchestrator.events.reasons import Rejection, printable
from orchestrator.events.references import KnownIds

JSON_LINES_SUFFIXES: Final = frozenset({".jsonl", ".ndjson"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused event: where it is, the reason code and a one-line message."""

    name: str
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}:{self.line}: {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class Report:
    """What one file held: how many events, and the problems found."""

    name: str
    events: int
    problems: tuple[Problem, ...]


def check_content(
    name: str,
    content: bytes,
    *,
    json_lines: bool,
    known: KnownIds | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Report:
    """Check the events in ``content`` (one document, or JSON Lines)."""
    shown = printable(name)
    pieces = _lines(content) if json_lines else [(1, content)]
    problems = []
    for number, payload in pieces:
        try:
            decode_document(payload, known=known, max_bytes=max_bytes)
        except Rejection as rejection:
            line = number + (rejection.line - 1 if rejection.line else 0)
            problems.append(Problem(shown, line, rejection.code, rejection.message))
    return Report(shown, len(pieces), tuple(problems))


def check_file(
    path: Path, *, known: KnownIds | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Report:
    """Read ``path`` and check it; the suffix says whether it is JSON Lines."""
    json_lines = path.suffix.lower() in JSON_LINES_SUFFIXES
    content = path.read_bytes()
    return check_content(
        str(path), content, json_lines=json_lines, known=known, max_bytes=max_bytes
    )


def _lines(content: bytes) -> list[tuple[int, bytes]]:
    """The non-blank lines of a JSON Lines file, numbered from 1."""
    return [
        (number, line.rstrip(b"\r"))
        for number, line in enumerate(content.split(b"\n"), start=1)
        if line.strip()
    ]
