"""``govmig calendar``: the maintenance windows and freezes ahead, in the calendar's time zone.

The calendar file (``--calendar`` or ``GOVMIG_CALENDAR``) is checked against the
department register as it is read: a bad one raises ``InventoryError``, which
``govmig``'s ``main`` prints one problem a line with exit 2. Without a file,
cutovers are not restricted to windows, and the command says so in one line.

``calendar_rows`` is the pure part, a seam for the gate decision: it takes the
calendar, the clock's ``now`` and which systems wait for which window (a mapping
the caller reads from the store); this command knows no store and passes none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.options import CalendarOption, DepartmentsOption, calendar_of
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import iso
from orchestrator.inventory.calendar import HORIZON, Calendar
from orchestrator.inventory.loader import DEFAULT_DEPARTMENTS

DEFAULT_DAYS = 14
NOT_RESTRICTED = "No calendar: cutovers are not restricted to maintenance windows or freezes."
NO_WINDOWS = "This calendar has no windows: cutovers wait only for its freezes."
_TABLE_TIME = "%a %Y-%m-%d %H:%M"


def calendar(
    calendar_file: CalendarOption = None,
    departments: DepartmentsOption = DEFAULT_DEPARTMENTS,
    days: Annotated[
        int, typer.Option("--days", min=1, max=HORIZON.days, help="How many days ahead to show.")
    ] = DEFAULT_DAYS,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show the maintenance windows and freezes of the next days, in the calendar's time zone.

    JSON: {calendar, time_zone, from, until, restricts_to_windows, entries: [{kind,
    name, opens_at, closes_at, opens_local, closes_local, applies_to, waiting}]};
    see docs/cli-json.md.
    """
    loaded = calendar_of(calendar_file, departments)
    if calendar_file is None or loaded is None:
        _show_unrestricted(output)
        return
    now = datetime.now(UTC)
    rows = calendar_rows(loaded, now, days=days)
    if output is OutputFormat.JSON:
        emit(rows, output, document=calendar_document(loaded, calendar_file, now, days, rows))
        return
    if not loaded.restricts_to_windows:
        typer.echo(NO_WINDOWS)
    if rows:
        title = f"Windows and freezes, next {days} days ({_zone_text(loaded, now)})"
        emit([_table_row(row) for row in rows], output, title=title)
    else:
        typer.echo(f"No windows or freezes in the next {days} days ({_zone_text(loaded, now)}).")


def calendar_rows(
    calendar: Calendar,
    now: datetime,
    *,
    days: int = DEFAULT_DAYS,
    waiting: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """Each window occurrence and freeze of the ``days`` from ``now``, in time order.

    ``waiting`` (window name -> the ids of systems waiting for it) goes on that
    window's first row: the occurrence they wait for. Times are RFC 3339: UTC in
    ``opens_at``/``closes_at``, the calendar's zone in ``opens_local``/``closes_local``.
    """
    waiting = waiting or {}
    shown: set[str] = set()
    rows = []
    for occurrence in calendar.occurrences(now, now + timedelta(days=days)):
        first = occurrence.name not in shown
        shown.add(occurrence.name)
        rows.append(
            {
                "kind": occurrence.kind,
                "name": occurrence.name,
                "opens_at": iso(occurrence.opens_at),
                "closes_at": iso(occurrence.closes_at),
                "opens_local": occurrence.opens_at.isoformat(),
                "closes_local": occurrence.closes_at.isoformat(),
                "applies_to": occurrence.scope.as_dict(),
                "waiting": sorted(waiting.get(occurrence.name, ())) if first else [],
            }
        )
    return rows


def calendar_document(
    calendar: Calendar, path: Path, now: datetime, days: int, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON document of ``govmig calendar --output json``."""
    return {
        "calendar": str(path),
        "time_zone": calendar.time_zone.key,
        "from": iso(now),
        "until": iso(now + timedelta(days=days)),
        "restricts_to_windows": calendar.restricts_to_windows,
        "entries": rows,
    }


def _show_unrestricted(output: OutputFormat) -> None:
    if output is OutputFormat.TABLE:
        typer.echo(NOT_RESTRICTED)
        return
    document: dict[str, Any] = {
        "calendar": None,
        "time_zone": None,
        "from": None,
        "until": None,
        "restricts_to_windows": False,
        "entries": [],
    }
    emit([], output, document=document)


def _table_row(row: Mapping[str, Any]) -> dict[str, str]:
    """A row for people: local times, the scope in words, the waiting systems joined."""
    scope = row["applies_to"].items()
    return {
        "name": row["name"],
        "kind": row["kind"],
        "when": _when(
            datetime.fromisoformat(row["opens_local"]), datetime.fromisoformat(row["closes_local"])
        ),
        "applies to": "; ".join(f"{key} {', '.join(map(str, values))}" for key, values in scope)
        or "all systems",
        "waiting": ", ".join(row["waiting"]) or "-",
    }


def _when(opens: datetime, closes: datetime) -> str:
    """``Thu 2026-12-03 22:30 - Fri 05:00``: the closing date only where it says more."""
    if closes.date() == opens.date():
        shape = "%H:%M"
    elif closes - opens < timedelta(days=6):
        shape = "%a %H:%M"
    else:
        shape = _TABLE_TIME
    return f"{opens:{_TABLE_TIME}} - {closes:{shape}}"


def _zone_text(calendar: Calendar, now: datetime) -> str:
    """``times in Asia/Shanghai, UTC+08:00`` (the offset at ``now``: a zone with DST has two)."""
    offset = now.astimezone(calendar.time_zone).strftime("%z")
    return f"times in {calendar.time_zone.key}, UTC{offset[:3]}:{offset[3:]}"
