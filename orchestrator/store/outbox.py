"""The status outbox: audit rows whose status (or refusal) event is not yet published.

Every row of the transition audit is written in the same transaction as the
state change it records, with ``published_at`` NULL. A publisher reads the
pending rows oldest first, sends one event per row, waits for the broker's
acknowledgement and only then marks them published, so each row reaches the
status topic at least once, even across crashes (a row sent but not marked is
sent again, under the same event id).

``claim_outbox`` lets one publisher at a time work when several orchestrators
share a PostgreSQL, which keeps each system's status events in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.orm import Session

from orchestrator.store._sql import execute, rows, stored_time
from orchestrator.store.audit import to_transition_row
from orchestrator.store.records import TransitionRow
from orchestrator.store.tables import TransitionTable

# pg_try_advisory_xact_lock key ("outbox" in ASCII); the schema lock uses "govmig".
_OUTBOX_LOCK_KEY = 0x6F7574626F78
_IN_CHUNK = 1000


def pending_status(session: Session, limit: int) -> list[TransitionRow]:
    """Up to ``limit`` audit rows not yet published, oldest first."""
    # Plain rows on the connection, not ORM objects: the outbox reads one row per
    # state change, and the identity map's bookkeeping cost more than the query.
    table = cast(Table, TransitionTable.__table__)
    statement = (
        select(*table.columns)
        .where(table.c.published_at.is_(None))
        .order_by(table.c.id)
        .limit(limit)
    )
    return [to_transition_row(row) for row in rows(session, statement)]


def mark_published(session: Session, ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Record that the rows ``ids`` were acknowledged by the broker; returns how many changed."""
    wanted = sorted(set(ids))
    at = stored_time(now)
    changed = 0
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        statement = (
            update(TransitionTable)
            .where(TransitionTable.id.in_(chunk), TransitionTable.published_at.is_(None))
            .values(published_at=at)
        )
        changed += execute(session, statement)
    return changed


def claim_outbox(session: Session) -> bool:
    """Become the only outbox publisher until this transaction ends; False if another is.

    On PostgreSQL a transaction-scoped advisory lock, so a crashed publisher
    frees it with its connection. SQLite serves one orchestrator process, which
    keeps its own publishers in turn, so there it always succeeds.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    claimed = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK_KEY}
    )
    return bool(claimed.scalar())
