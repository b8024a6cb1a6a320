"""``govmig calendar``: the maintenance windows and freezes ahead, in the calendar's time zone.

The calendar file (``--calendar`` or ``GOVMIG_CALENDAR``) is checked against the
department register as it is read: a bad one raises ``InventoryError``, which
``govmig``'s ``main`` prints one problem a line with exit 2. Without a file,
cutovers are not restricted to windows, and the command says so in one line.

``calendar_rows`` is the pure part: it takes the calendar, the clock's ``now``
and which systems wait for which window (``waiting_for_windows``: the ready
systems a window or a freeze holds, in the state store when there is one, each
put on the window the calendar would open for it next).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.options import (
    CalendarOption,
    DepartmentsOption,
    StateDbOption,
    calendar_of,
    state_db_url,
)
from orchestrator.cli.output import OutputFormat, OutputOption, emit
from orchestrator.cli.render import iso
from orchestrator.errors import ConfigurationError
from orchestrator.gates import WaitReason, calendar_facts
from orchestrator.inventory.calendar import HORIZON, Calendar, Occurrence, Span
from orchestrator.inventory.loader import DEFAULT_DEPARTMENTS
from orchestrator.migrations import SystemState
from orchestrator.store import SystemRow, list_systems, open_store

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
    state_db: StateDbOption = None,
) -> None:
    """Show the maintenance windows and freezes of the next days, in the calendar's time zone,
    and which systems (held by a window or a freeze, in the state store) wait for which.

    JSON: {calendar, time_zone, from, until, restricts_to_windows, entries: [{kind,
    name, opens_at, closes_at, opens_local, closes_local, applies_to, waiting}]};
    see docs/cli-json.md.
    """
    loaded = calendar_of(calendar_file, departments)
    if calendar_file is None or loaded is None:
        _show_unrestricted(output)
        return
    now = datetime.now(UTC)
    held = held_by_the_calendar(state_db_url(state_db))
    rows = calendar_rows(loaded, now, days=days, waiting=waiting_for_windows(loaded, held, now))
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
    waiting: Sequence[tuple[str, Span]] = (),
) -> list[dict[str, Any]]:
    """Each window occurrence and freeze of the ``days`` from ``now``, in time order.

    ``waiting`` (a system id and the span it waits for) goes on the occurrence of
    that window its span opens in. Times are RFC 3339: UTC in ``opens_at``/
    ``closes_at``, the calendar's zone in ``opens_local``/``closes_local``.
    """
    rows = []
    for occurrence in calendar.occurrences(now, now + timedelta(days=days)):
        waits = [
            system_id
            for system_id, span in waiting
            if occurrence.kind == "window" and _opens_in(span, occurrence)
        ]
        rows.append(
            {
                "kind": occurrence.kind,
                "name": occurrence.name,
                "opens_at": iso(occurrence.opens_at),
                "closes_at": iso(occurrence.closes_at),
                "opens_local": occurrence.opens_at.isoformat(),
                "closes_local": occurrence.closes_at.isoformat(),
                "applies_to": occurrence.scope.as_dict(),
                "waiting": sorted(waits),
            }
        )
    return rows


def held_by_the_calendar(url: str) -> list[SystemRow]:
    """Ready systems a window or a freeze holds, from the store; none without a store."""
    try:
        store = open_store(url, create=False)
    except ConfigurationError:
        return []
    with store, store.session() as session:
        ready = list_systems(session, state=SystemState.READY)
    return [s for s in ready if s.waiting_reason in (WaitReason.WINDOW, WaitReason.FREEZE)]


def waiting_for_windows(
    calendar: Calendar, systems: Sequence[SystemRow], now: datetime
) -> list[tuple[str, Span]]:
    """Each of ``systems`` with the span the calendar would next let it through in."""
    spans = ((s.id, calendar.next_window(calendar_facts(s.record, s.wave), now)) for s in systems)
    return [(system_id, span) for system_id, span in spans if span is not None]


def _opens_in(span: Span, occurrence: Occurrence) -> bool:
    opens = span.opens_at
    return (
        span.window == occurrence.name
        and opens is not None
        and occurrence.opens_at <= opens < occurrence.closes_at
    )


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
