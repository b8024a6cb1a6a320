"""Logging setup for the orchestrator: one line per record, as text or as JSON.

``govmig run`` calls ``configure_logging`` once at start; library code only
ever does ``logging.getLogger(__name__)``. Every record becomes exactly one
line, whatever it contains: newlines in messages and tracebacks are escaped,
so a log shipper never splits a record and a hostile string from an event
cannot forge a second log line. Text lines read
``2025-01-31T08:00:00.123Z WARNING orchestrator.reactor.loop: message``;
JSON lines carry ``time``, ``level``, ``logger``, ``message``, any
``extra=`` fields, and ``exception`` when there is one. Every line, whichever
library wrote the record, passes through ``orchestrator.redaction.redact``
last, so no registered secret is ever written.
"""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from orchestrator.errors import ConfigurationError
from orchestrator.redaction import redact

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE`` on one line, a traceback escaped onto the same line."""

    def format(self, record: logging.LogRecord) -> str:
        """One line for ``record``."""
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        return redact(_one_line(line))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line for ``record``."""
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        # default=str: an extra field that is not JSON (a Path, a datetime) still logs.
        return redact(jsonlib.dumps(document, ensure_ascii=False, default=str))


class _GovmigHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so configuring again replaces it."""


def configure_logging(
    level: str | int = "INFO", json: bool = False, *, stream: TextIO | None = None
) -> None:
    """Send every log record at ``level`` or above to ``stream`` (stderr), one line each."""
    resolved = _level(level)
    handler = _GovmigHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _GovmigHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(resolved)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigurationError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return int(getattr(logging, name))
