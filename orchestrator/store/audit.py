"""The append-only transition audit: every state change, and every refused request.

The engine writes one row per decision of the state machine in the same
transaction as the state change itself, so the audit and the state never
disagree. Rows are never deleted, and only ``published_at`` is ever updated:
the audit is also the status outbox (``orchestrator.store.outbox``).

``append_audit`` appends the engine's entries in one statement; ``history``
reads a system's rows back, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, insert, select
from sqlalchemy.orm import Session

from orchestrator.migrations.states import SystemState
from orchestrator.store._sql import as_utc, stored_time
from orchestrator.store.records import TransitionRow
from orchestrator.store.tables import TransitionTable


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row to append: a change (``to_state`` set) or a refusal (``to_state`` None)."""

    system_id: str
    from_state: SystemState | None
    to_state: SystemState | None
    reason: str | None
    cause: str | None = None
    actor: str | None = None
    event_source: str | None = None
    event_id: str | None = None
    node: str | None = None
    requested_by: str | None = None
    at: datetime | None = None
    downtime_seconds: float | None = None
    bytes_sent: int | None = None
    change_ref: str | None = None

    def values(self) -> dict[str, Any]:
        """The row's column values."""
        return {
            "system_id": self.system_id,
            "from_state": None if self.from_state is None else SystemState(self.from_state).value,
            "to_state": None if self.to_state is None else SystemState(self.to_state).value,
            "refused": self.to_state is None,
            "cause": self.cause,
            "at": stored_time(self.at),
            "event_source": self.event_source,
            "event_id": self.event_id,
            "actor": self.actor,
            "reason": self.reason,
            "node": self.node,
            "requested_by": self.requested_by,
            "downtime_seconds": self.downtime_seconds,
            "bytes_sent": self.bytes_sent,
            "change_ref": self.change_ref,
        }


def append_audit(session: Session, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in order, in one multi-row INSERT (ids increase in that order)."""
    if entries:
        # Core executemany: ORM bulk inserts cost a dictionary walk per row.
        table = cast(Table, TransitionTable.__table__)
        session.connection().execute(insert(table), [entry.values() for entry in entries])


def history(session: Session, system_id: str, *, limit: int | None = None) -> list[TransitionRow]:
    """The audit of ``system_id``, oldest first (the last ``limit`` rows if given)."""
    statement = select(TransitionTable).where(TransitionTable.system_id == system_id)
    if limit is None:
        rows = list(session.scalars(statement.order_by(TransitionTable.id)))
    else:
        newest = statement.order_by(TransitionTable.id.desc()).limit(limit)
        rows = list(reversed(list(session.scalars(newest))))
    return [to_transition_row(row) for row in rows]


def to_transition_row(row: TransitionTable | Row[Any]) -> TransitionRow:
    """The frozen record of a loaded audit row (an ORM object or a plain row of its columns)."""
    return TransitionRow(
        id=row.id,
        system_id=row.system_id,
        from_state=None if row.from_state is None else SystemState(row.from_state),
        to_state=None if row.to_state is None else SystemState(row.to_state),
        refused=row.refused,
        cause=row.cause,
        at=as_utc(row.at),
        event_source=row.event_source,
        event_id=row.event_id,
        actor=row.actor,
        reason=row.reason,
        node=row.node,
        requested_by=row.requested_by,
        downtime_seconds=row.downtime_seconds,
        bytes_sent=row.bytes_sent,
        change_ref=row.change_ref,
        published_at=None if row.published_at is None else as_utc(row.published_at),
    )
