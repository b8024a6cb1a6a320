"""Small SQL helpers shared by the repositories: portable insert-if-absent, row counts, time.

Private to ``orchestrator.store``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.store.tables import Base


def execute(session: Session, statement: Executable) -> int:
    """Run a DML statement in the session's transaction; return the rows it touched."""
    # preserve_rowcount: without it drivers (psycopg) may report -1 for an INSERT.
    options = {"synchronize_session": False, "preserve_rowcount": True}
    result = session.execute(statement, execution_options=options)
    # Session.execute is typed as returning Result; for DML it is a CursorResult.
    return cast(CursorResult[Any], result).rowcount


def insert_if_absent(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on the primary key; True if the row is new.

    Race-safe on both dialects: PostgreSQL waits for a concurrent inserter of the
    same key and then does nothing, without aborting the caller's transaction.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(values).on_conflict_do_nothing()
    return execute(session, statement) == 1


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive times it stored as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stored_time(moment: datetime | None) -> datetime:
    """The time to store: ``moment`` (must be aware) or now, in UTC."""
    if moment is None:
        return utcnow()
    if moment.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return moment.astimezone(UTC)
