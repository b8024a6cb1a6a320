"""The flood guard's pauses of intake, shared by every instance through the store.

An instance records its pause when its guard trips (``open_pause``) and closes
it when the cooldown ends (``close_pause``). An operator's resume request,
consumed by whichever instance holds the control topic, closes every open
pause at once (``resume_all``) with who asked and why; each paused instance
sees its own pause closed (``is_closed``) and resumes. ``open_pauses`` is what
``govmig intake status`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from orchestrator.store._sql import as_utc, utcnow
from orchestrator.store.tables import IntakePauseTable

T = IntakePauseTable


@dataclass(frozen=True, slots=True)
class IntakePause:
    """One pause as stored."""

    id: int
    instance: str
    reason: str
    paused_at: datetime
    until: datetime
    resumed_at: datetime | None = None
    resumed_by: str | None = None
    resume_reason: str | None = None


def open_pause(session: Session, instance: str, reason: str, until: datetime) -> int:
    """Record that ``instance`` paused its intake until ``until``; the pause's id."""
    values = {"instance": instance, "reason": reason, "paused_at": utcnow(), "until": until}
    found = session.execute(insert(T).values(values).returning(T.id))
    return int(found.scalar_one())


def close_pause(session: Session, pause_id: int) -> None:
    """The pause ended by its cooldown (if nothing ended it before)."""
    statement = update(T).where(T.id == pause_id, T.resumed_at.is_(None))
    session.execute(statement.values(resumed_at=utcnow()))


def resume_all(session: Session, *, by: str, reason: str | None, event_id: str) -> int:
    """An operator's request ends every open pause; how many it ended."""
    statement = update(T).where(T.resumed_at.is_(None))
    values = {"resumed_at": utcnow(), "resumed_by": by, "resume_reason": reason}
    result = session.execute(statement.values(**values, resume_event_id=event_id))
    return int(getattr(result, "rowcount", 0) or 0)


def is_closed(session: Session, pause_id: int) -> bool:
    """Whether the pause has ended (an operator may have ended it from another instance)."""
    resumed = session.execute(select(T.resumed_at).where(T.id == pause_id)).scalar_one_or_none()
    return resumed is not None


def open_pauses(session: Session, now: datetime | None = None) -> list[IntakePause]:
    """The pauses in force now: not resumed, cooldown not over."""
    moment = now or utcnow()
    rows = session.execute(
        select(T).where(T.resumed_at.is_(None), T.until > moment).order_by(T.id)
    ).scalars()
    return [_pause(row) for row in rows]


def _pause(row: IntakePauseTable) -> IntakePause:
    return IntakePause(
        id=row.id,
        instance=row.instance,
        reason=row.reason,
        paused_at=as_utc(row.paused_at),
        until=as_utc(row.until),
        resumed_at=None if row.resumed_at is None else as_utc(row.resumed_at),
        resumed_by=row.resumed_by,
        resume_reason=row.resume_reason,
    )
