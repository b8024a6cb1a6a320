"""``configure_logging``: one line per record, as text or JSON, replaced on reconfiguration."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.observability import configure_logging

LOGGER = "orchestrator.test"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream for the handler; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _boom() -> None:
    raise ValueError("line one\nline two")


def test_text_lines_carry_level_logger_and_message(stream: io.StringIO) -> None:
    configure_logging("info", stream=stream)
    logging.getLogger(LOGGER).warning("node %s is %s", "shantou", "draining")
    logging.getLogger(LOGGER).debug("not shown")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" WARNING orchestrator.test: node shantou is draining")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line.split()[0])


def test_newlines_and_tracebacks_stay_on_one_line(stream: io.StringIO) -> None:
    configure_logging("DEBUG", stream=stream)
    try:
        _boom()
    except ValueError:
        logging.getLogger(LOGGER).exception("hostile\nINFO forged line")
    (line,) = stream.getvalue().splitlines()
    assert "hostile\\nINFO forged line | Traceback" in line
    assert "line one\\nline two" in line


def test_json_lines_parse_and_keep_extra_fields(stream: io.StringIO) -> None:
    configure_logging(logging.INFO, json=True, stream=stream)
    try:
        _boom()
    except ValueError:
        logging.getLogger(LOGGER).error("phase failed\n", extra={"system_id": "sys-1"})
        logging.getLogger(LOGGER).exception("with trace")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"]) == ("ERROR", LOGGER)
    assert (first["message"], first["system_id"]) == ("phase failed\n", "sys-1")
    assert "exception" not in first
    assert "ValueError: line one" in second["exception"]


def test_configuring_again_replaces_the_handler(stream: io.StringIO) -> None:
    other = io.StringIO()
    configure_logging("INFO", stream=other)
    configure_logging("INFO", stream=stream)
    logging.getLogger(LOGGER).info("once")
    assert other.getvalue() == ""
    assert len(stream.getvalue().splitlines()) == 1


@pytest.mark.parametrize("level", ["verbose", "", "info level"], ids=["word", "empty", "phrase"])
def test_an_unknown_level_is_a_configuration_error(level: str) -> None:
    with pytest.raises(ConfigurationError, match="log level"):
        configure_logging(level)
