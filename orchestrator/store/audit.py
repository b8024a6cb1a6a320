"""The append-only transition audit: every state change, and every refused request.

The reactor writes one row per decision of the state machine in the same
transaction as the state change itself, so the audit and the state never
disagree. Rows are never updated or deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.migrations.states import SystemState
from orchestrator.store._sql import as_utc, stored_time
from orchestrator.store.records import TransitionRow
from orchestrator.store.tables import TransitionTable


def record_transition(
    session: Session,
    system_id: str,
    *,
    from_state: SystemState | None,
    to_state: SystemState,
    cause: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    event_source: str | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
) -> TransitionRow:
    """Append a state change of ``system_id``; ``actor`` is who asked or which component decided."""
    return _append(
        session,
        TransitionTable(
            system_id=system_id,
            from_state=None if from_state is None else SystemState(from_state).value,
            to_state=SystemState(to_state).value,
            refused=False,
            cause=cause,
            at=stored_time(at),
            event_source=event_source,
            event_id=event_id,
            actor=actor,
            reason=reason,
        ),
    )


def record_refusal(
    session: Session,
    system_id: str,
    *,
    from_state: SystemState | None,
    reason: str,
    cause: str | None = None,
    actor: str | None = None,
    event_source: str | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
) -> TransitionRow:
    """Append a refused request: no state change (``to_state`` is None), with the reason."""
    return _append(
        session,
        TransitionTable(
            system_id=system_id,
            from_state=None if from_state is None else SystemState(from_state).value,
            to_state=None,
            refused=True,
            cause=cause,
            at=stored_time(at),
            event_source=event_source,
            event_id=event_id,
            actor=actor,
            reason=reason,
        ),
    )


def history(session: Session, system_id: str, *, limit: int | None = None) -> list[TransitionRow]:
    """The audit of ``system_id``, oldest first (the last ``limit`` rows if given)."""
    statement = select(TransitionTable).where(TransitionTable.system_id == system_id)
    if limit is None:
        rows = list(session.scalars(statement.order_by(TransitionTable.id)))
    else:
        newest = statement.order_by(TransitionTable.id.desc()).limit(limit)
        rows = list(reversed(list(session.scalars(newest))))
    return [_to_record(row) for row in rows]


def _append(session: Session, row: TransitionTable) -> TransitionRow:
    session.add(row)
    session.flush()  # assigns the id
    return _to_record(row)


def _to_record(row: TransitionTable) -> TransitionRow:
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
    )
