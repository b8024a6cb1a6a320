"""Processed event ids: how a redelivered event is recognised and made a no-op.

Delivery from Kafka is at least once. The reactor calls ``mark_processed`` in
the same transaction as the event's effects; a False answer means the event was
already handled (by this instance before a crash, or by another instance), so
the effects must be skipped. The primary key (source, id) is the CloudEvents
identity of an event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.store._sql import insert_if_absent, stored_time
from orchestrator.store.records import EventOutcome
from orchestrator.store.tables import ProcessedEventTable


def mark_processed(
    session: Session,
    source: str,
    event_id: str,
    event_type: str,
    outcome: EventOutcome,
    *,
    now: datetime | None = None,
) -> bool:
    """Remember event (``source``, ``event_id``); False if it was already there (a duplicate).

    Race-safe: two instances marking the same event at once get one True and one
    False, and neither transaction is aborted.
    """
    return insert_if_absent(
        session,
        ProcessedEventTable,
        {
            "source": source,
            "id": event_id,
            "type": event_type,
            "processed_at": stored_time(now),
            "outcome": EventOutcome(outcome).value,
        },
    )


def processed_outcome(session: Session, source: str, event_id: str) -> EventOutcome | None:
    """What was done with event (``source``, ``event_id``), or None if it was never seen."""
    statement = select(ProcessedEventTable.outcome).where(
        ProcessedEventTable.source == source, ProcessedEventTable.id == event_id
    )
    found = session.scalars(statement).one_or_none()
    return None if found is None else EventOutcome(found)
