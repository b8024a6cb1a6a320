"""Rendering for read commands: every one takes ``--output table|json``.

JSON output is the stable, documented contract for scripts; tables are for people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    """How a read command prints its result."""

    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table for people, json for scripts (stable)."),
]


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    document: Any = None,
) -> None:
    """Print ``rows`` as a table, or ``document`` (default: the rows) as JSON."""
    if fmt is OutputFormat.JSON:
        payload = rows if document is None else document
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
        return
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
