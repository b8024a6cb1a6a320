"""The audit export: one record per audit row, as JSON Lines or CSV, that verifies offline. Pure.

A record says who (``actor``, and ``event_source``/``event_id``, the event
that carried the decision), what (``cause``, ``from_state``, ``to_state``,
``result``: ``refused`` for a refused request, else ``applied``), when
(``at_utc`` and ``at_shanghai``, the same moment), ``reason`` and
``change_ref``, and besides every other column the hash covers (``refused``,
``node``, ``requested_by``, ``downtime_seconds``, ``bytes_sent``) and the two
hashes, so ``chain.verify_excerpt`` can recompute each hash from the file
alone. ``at_utc`` is the hashed time itself, to the microsecond.

In CSV an empty field is null; text is written as it is, except that a text
starting with a backslash gets one more in front and the empty text is a lone
backslash, so a null and an empty text stay apart. ``refused`` is ``true`` or
``false``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from orchestrator.store.chain import CONTENT_COLUMNS, Link

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The fields of an export record, in the order of the CSV columns.
EXPORT_FIELDS = (
    "id",
    "system_id",
    "at_utc",
    "at_shanghai",
    "actor",
    "event_source",
    "event_id",
    "cause",
    "from_state",
    "to_state",
    "result",
    "refused",
    "reason",
    "change_ref",
    "node",
    "requested_by",
    "downtime_seconds",
    "bytes_sent",
    "prev_hash",
    "hash",
)


class ExportFormat(StrEnum):
    """How an export is written."""

    JSONL = "jsonl"
    CSV = "csv"


class ExportError(ValueError):
    """An export file that cannot be read: which line, and what is wrong."""


def export_record(link: Link) -> dict[str, Any]:
    """The export record of one audit row."""
    content = link.content
    at: datetime = content["at"].astimezone(UTC)
    record: dict[str, Any] = {
        "id": link.id,
        "at_utc": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "at_shanghai": at.astimezone(SHANGHAI).isoformat(timespec="microseconds"),
        "result": "refused" if content["refused"] else "applied",
        "prev_hash": link.prev_hash,
        "hash": link.hash,
    }
    for column in CONTENT_COLUMNS:
        if column != "at":
            record[column] = _plain(content.get(column))
    record["refused"] = bool(content["refused"])
    return {field: record[field] for field in EXPORT_FIELDS}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    return str(value)  # a state enum as its value


def link_of(record: Mapping[str, Any]) -> Link:
    """The audit row an export record stands for; ``ExportError`` if a field is missing or
    malformed."""
    missing = [field for field in EXPORT_FIELDS if field not in record]
    if missing:
        raise ExportError(f"missing field(s) {', '.join(missing)}")
    try:
        content = {column: record[column] for column in CONTENT_COLUMNS if column != "at"}
        content["at"] = datetime.fromisoformat(str(record["at_utc"]).replace("Z", "+00:00"))
        return Link(
            id=int(record["id"]),
            content=content,
            prev_hash=record["prev_hash"],
            hash=record["hash"],
        )
    except (TypeError, ValueError) as error:
        raise ExportError(f"bad id or at_utc: {error}") from None


def write_export(links: Iterable[Link], form: ExportFormat, out: TextIO) -> int:
    """Write ``links`` to ``out`` as ``form``; the number of records written."""
    count = 0
    if form is ExportFormat.JSONL:
        for link in links:
            out.write(json.dumps(export_record(link), ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    for link in links:
        writer.writerow([_csv_cell(value) for value in export_record(link).values()])
        count += 1
    return count


def read_export(text: str) -> Iterator[Link]:
    """The audit rows of an export, JSON Lines if its first character is ``{``, else CSV."""
    if text.lstrip().startswith("{"):
        yield from _read_jsonl(text)
    else:
        yield from _read_csv(text)


def _read_jsonl(text: str) -> Iterator[Link]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ExportError(f"line {number}: not a JSON object") from None
        if not isinstance(record, dict):
            raise ExportError(f"line {number}: not a JSON object")
        yield _located(number, record)


def _read_csv(text: str) -> Iterator[Link]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != EXPORT_FIELDS:
        raise ExportError("line 1: not an audit export (neither JSON Lines nor its CSV header)")
    for number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(EXPORT_FIELDS):
            raise ExportError(f"line {number}: {len(cells)} fields, not {len(EXPORT_FIELDS)}")
        try:
            record = {
                field: _csv_value(field, cell)
                for field, cell in zip(EXPORT_FIELDS, cells, strict=True)
            }
        except ValueError as error:
            raise ExportError(f"line {number}: {error}") from None
        yield _located(number, record)


def _located(number: int, record: Mapping[str, Any]) -> Link:
    try:
        return link_of(record)
    except ExportError as error:
        raise ExportError(f"line {number}: {error}") from None


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "\\" + value if value.startswith("\\") or not value else value
    return str(value)


def _csv_value(field: str, cell: str) -> Any:
    if cell == "":
        return None
    if field == "refused":
        return cell == "true"
    if field == "downtime_seconds":
        return float(cell)
    if field in ("bytes_sent", "id"):
        return int(cell)
    return cell[1:] if cell.startswith("\\") else cell
