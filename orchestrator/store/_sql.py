"""Small SQL helpers shared by the repositories: portable insert-if-absent, row counts, time.

Private to ``orchestrator.store``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from orchestrator.store.tables import Base

# preserve_rowcount: without it drivers (psycopg) may report -1 for an INSERT.
_ROWCOUNT = {"preserve_rowcount": True}


def execute(session: Session, statement: Executable, params: dict[str, Any] | None = None) -> int:
    """Run a DML statement in the session's transaction; return the rows it touched.

    On the session's connection, as Core: the repositories never leave ORM
    objects pending, and ``Session.execute`` costs some 50 µs more per
    statement for ORM bookkeeping none of them needs.
    """
    result = session.connection().execute(statement, params, execution_options=_ROWCOUNT)
    return result.rowcount


def rows(
    session: Session, statement: Executable, params: dict[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run a Core query in the session's transaction, without the ORM's per-statement cost."""
    return session.connection().execute(statement, params)


def insert_if_absent(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on the primary key; True if the row is new.

    Race-safe on both dialects: PostgreSQL waits for a concurrent inserter of the
    same key and then does nothing, without aborting the caller's transaction.
    """
    return execute(session, _insert_ignoring_conflicts(session, model), values) == 1


# (dialect, table) -> its INSERT ... ON CONFLICT DO NOTHING, built once: the values
# travel as parameters, so one statement serves every row.
_INSERTS: dict[tuple[str, str], Executable] = {}


def _insert_ignoring_conflicts(session: Session, model: type[Base]) -> Executable:
    dialect = session.get_bind().dialect.name
    key = (dialect, model.__tablename__)
    statement = _INSERTS.get(key)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _INSERTS[key] = insert(model).on_conflict_do_nothing()
    return statement


def insert_many_if_absent(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[InstrumentedAttribute[Any]],
) -> list[tuple[Any, ...]]:
    """``insert_if_absent`` for many rows in one round of statements; the ``returning`` of the new.

    Core executemany on the session's connection, batched by SQLAlchemy's
    "insertmanyvalues", so no ORM bookkeeping runs per row.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, model.__table__)
    statement = insert(table).on_conflict_do_nothing().returning(*returning)
    return [tuple(row) for row in session.connection().execute(statement, list(rows))]


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
