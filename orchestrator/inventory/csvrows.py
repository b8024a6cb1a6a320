"""The flat CSV shape of a business-system record, to and from the nested model.

A CSV row has one cell per column; ``source_*`` columns form the nested
``source`` location and ``depends_on`` holds ids separated by ``;``. Sizes are
parsed as whole numbers here so that ``2.5`` or ``abc`` reach the model as text
and are rejected there with the rest of the record's problems. Pure.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence

from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.problems import Loc, Problem, dotted, show

REQUIRED_COLUMNS = (
    "id",
    "name",
    "city",
    "department",
    "vcpu",
    "memory_gb",
    "storage_gb",
    "source_city",
    "source_site",
    "source_host",
)
OPTIONAL_COLUMNS = ("depends_on", "criticality", "data_class")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
SIZE_COLUMNS = frozenset({"vcpu", "memory_gb", "storage_gb"})
DEPENDS_SEPARATOR = ";"
# Bounded so a 5,000-digit cell cannot hit int()'s digit limit; larger is rejected by the model.
_WHOLE = re.compile(r"[+-]?[0-9]{1,18}")


def header_problems(header: Sequence[str] | None, *, source: str) -> list[Problem]:
    """Problems with the header row: no header, unknown, repeated or missing columns."""
    if not header:
        return [Problem(source, "file is empty")]
    problems = []
    seen: set[str] = set()
    for column in header:
        if column not in COLUMNS:
            problems.append(Problem(source, "unknown field", "header", column))
        elif column in seen:
            problems.append(Problem(source, "column appears twice", "header", column))
        seen.add(column)
    problems.extend(
        Problem(source, "missing column", "header", column)
        for column in REQUIRED_COLUMNS
        if column not in seen
    )
    return problems


def row_to_record(row: Mapping[str, str | None]) -> dict[str, object]:
    """A CSV row as the nested mapping ``BusinessSystem`` validates; empty cells are absent."""
    record: dict[str, object] = {}
    location: dict[str, str] = {}
    for column, cell in row.items():
        value = (cell or "").strip()
        if not value:
            continue
        if column in SIZE_COLUMNS:
            record[column] = int(value) if _WHOLE.fullmatch(value) else value
        elif column.startswith("source_"):
            location[column.removeprefix("source_")] = value
        elif column == "depends_on":
            parts = (part.strip() for part in value.split(DEPENDS_SEPARATOR))
            record[column] = [part for part in parts if part]
        else:
            record[column] = value
    # Always present, so a missing cell is reported as ``source_city`` rather than ``source``.
    record["source"] = location
    return record


def csv_field_name(loc: Loc) -> str:
    """Name a model field as the CSV author sees it: ``('source', 'city')`` → ``source_city``."""
    if len(loc) == 2 and loc[0] == "source":
        return f"source_{loc[1]}"
    return dotted(loc)


def extra_cells_problem(index: int, row: Mapping[str | None, object], *, source: str) -> Problem:
    """A row with more cells than the header has (``csv.DictReader`` files them under ``None``)."""
    extra = row.get(None)
    count = len(extra) if isinstance(extra, list) else 1
    label = f"record {index}" + (f" (id {show(row.get('id'))})" if row.get("id") else "")
    return Problem(source, f"has {count} more cells than the header has columns", label)


def systems_to_csv(systems: Iterable[BusinessSystem]) -> str:
    """The CSV text ``load_systems`` reads back into the same systems."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for system in systems:
        writer.writerow(
            [
                system.id,
                system.name,
                system.city,
                system.department,
                system.vcpu,
                system.memory_gb,
                system.storage_gb,
                system.source.city,
                system.source.site,
                system.source.host,
                DEPENDS_SEPARATOR.join(system.depends_on),
                system.criticality.value,
                system.data_class or "",
            ]
        )
    return buffer.getvalue()
