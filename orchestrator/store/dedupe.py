"""Processed event ids: how a redelivered event is recognised and made a no-op.

Delivery from Kafka is at least once. The reactor claims a batch's events with
``claim_events`` in the same transaction as their effects; an event it does not
get back was already handled (by this instance before a crash, or by another
instance), so its effects must be skipped. The primary key (source, id) is the
CloudEvents identity of an event.

``processed_outcomes`` says what was done with events seen before (one
statement per thousand ids). An event once ``rejected`` may be taken
up again with ``reclaim_rejected``, so replaying a dead letter after a fix works.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.store._sql import (
    execute,
    insert_many_if_absent,
    rows,
    stored_time,
)
from orchestrator.store.records import EventOutcome
from orchestrator.store.tables import ProcessedEventTable

EventKey = tuple[str, str]
"""An event's CloudEvents identity: (source, id)."""

# Ids per IN list, far below either database's limit on bound parameters.
_CHUNK = 1000


def processed_outcomes(session: Session, keys: Iterable[EventKey]) -> dict[EventKey, EventOutcome]:
    """What was done with each of ``keys`` that was seen before (absent: never seen)."""
    wanted = set(keys)
    ids = sorted({event_id for _, event_id in wanted})
    found: dict[EventKey, EventOutcome] = {}
    for start in range(0, len(ids), _CHUNK):
        statement = select(
            ProcessedEventTable.source, ProcessedEventTable.id, ProcessedEventTable.outcome
        ).where(ProcessedEventTable.id.in_(ids[start : start + _CHUNK]))
        for source, event_id, outcome in rows(session, statement):
            if (source, event_id) in wanted:
                found[(source, event_id)] = EventOutcome(outcome)
    return found


def claim_events(
    session: Session,
    events: Sequence[tuple[str, str, str]],
    outcome: EventOutcome = EventOutcome.PROCESSED,
    *,
    now: datetime | None = None,
) -> set[EventKey]:
    """Remember many (source, id, type) at once; return the keys that were new.

    Race-safe: a key another instance inserted first (even uncommitted, on
    PostgreSQL) is not returned, so exactly one instance goes on to process it,
    and neither transaction is aborted.
    """
    at = stored_time(now)
    rows = [
        {"source": source, "id": event_id, "type": kind, "processed_at": at,
         "outcome": EventOutcome(outcome).value}
        for source, event_id, kind in events
    ]  # fmt: skip
    returning = (ProcessedEventTable.source, ProcessedEventTable.id)
    new = insert_many_if_absent(session, ProcessedEventTable, rows, returning=returning)
    return {(source, event_id) for source, event_id in new}


def reclaim_rejected(
    session: Session, source: str, event_id: str, *, now: datetime | None = None
) -> bool:
    """Take a once-rejected event up again (a DLQ replay after a fix); False if someone else did."""
    statement = (
        update(ProcessedEventTable)
        .where(
            ProcessedEventTable.source == source,
            ProcessedEventTable.id == event_id,
            ProcessedEventTable.outcome == EventOutcome.REJECTED.value,
        )
        .values(outcome=EventOutcome.PROCESSED.value, processed_at=stored_time(now))
    )
    return execute(session, statement) == 1


def set_outcome(session: Session, keys: Iterable[EventKey], outcome: EventOutcome) -> None:
    """Change what is remembered for events already marked (e.g. processed -> rejected)."""
    for source, event_id in keys:
        statement = (
            update(ProcessedEventTable)
            .where(ProcessedEventTable.source == source, ProcessedEventTable.id == event_id)
            .values(outcome=EventOutcome(outcome).value)
        )
        execute(session, statement)
