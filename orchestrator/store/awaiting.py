"""Requests held until their system's registration: the ``awaiting_registration`` rows.

The intake holds a request about a system it does not know yet (``hold``) with
the Kafka record as consumed and a deadline. When the system's registration is
applied, the intake takes the system's held requests whose deadline has not
passed (``take_waiting``, oldest first), applies them and they are gone. A
request past its deadline belongs to the sweep alone: ``claim_expired`` hands
it over, the sweep dead-letters it and ``forget`` deletes it once the broker
has the dead letter. The deadline splits the rows between the two, so a request
is either applied or dead-lettered, never both.

With several instances on PostgreSQL both read with a row lock: the intake
waits for a row the sweep has claimed (and then finds it gone), and the sweep
skips rows the intake holds (``SKIP LOCKED``) or another sweep claimed.
SQLite renders no row lock; its one writer at a time does the same there.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from orchestrator.events.codec import KafkaRecord
from orchestrator.store._sql import as_utc, execute, rows, stored_time
from orchestrator.store.tables import AwaitingRegistrationTable

T = AwaitingRegistrationTable
_TABLE = cast(Table, T.__table__)
_IN_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class NewHold:
    """A request to hold: what it asks, who asked, its event, its record and its deadline."""

    system_id: str
    request: str
    requested_by: str | None
    event_source: str
    event_id: str
    record: KafkaRecord  # as consumed: to decode again, or to dead-letter byte for byte
    arrived_at: datetime
    deadline: datetime


@dataclass(frozen=True, slots=True)
class HeldRequest(NewHold):
    """A held request as stored, with its id (its place in arrival order)."""

    id: int = 0

    @property
    def waited_s(self) -> float:
        """How long it may wait: from its arrival to its deadline."""
        return (self.deadline - self.arrived_at).total_seconds()


def hold(session: Session, new: NewHold) -> None:
    """Keep ``new`` until its system is registered or its deadline passes."""
    record = new.record
    values = {
        "system_id": new.system_id,
        "request": new.request,
        "requested_by": new.requested_by,
        "event_source": new.event_source,
        "event_id": new.event_id,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key,
        "value": record.value,
        "headers": [[name, base64.b64encode(value).decode()] for name, value in record.headers],
        "arrived_at": stored_time(new.arrived_at),
        "deadline": stored_time(new.deadline),
    }
    execute(session, insert(T).values(values))


def awaited_among(session: Session, system_ids: Iterable[str]) -> set[str]:
    """Which of ``system_ids`` have requests held for them."""
    wanted = sorted(set(system_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        statement = select(T.system_id).where(T.system_id.in_(chunk)).distinct()
        found.update(row[0] for row in rows(session, statement))
    return found


def take_waiting(session: Session, system_id: str, now: datetime) -> list[HeldRequest]:
    """The system's held requests whose deadline has not passed, oldest first, deleted.

    Deleted in the caller's transaction, which applies them: rolled back, they
    are held again. Past its deadline a request is the sweep's, and stays.
    """
    statement = (
        select(*_TABLE.columns)
        .where(T.system_id == system_id, T.deadline > stored_time(now))
        .order_by(T.id)
        .with_for_update()
    )
    taken = [_held(row) for row in rows(session, statement)]
    forget(session, [held.id for held in taken])
    return taken


def claim_expired(session: Session, now: datetime, limit: int) -> list[HeldRequest]:
    """Up to ``limit`` held requests past their deadline, oldest first, locked for the caller.

    Rows another transaction holds are skipped: the intake applying them, or
    another instance's sweep dead-lettering them.
    """
    statement = (
        select(*_TABLE.columns)
        .where(T.deadline <= stored_time(now))
        .order_by(T.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_held(row) for row in rows(session, statement)]


def forget(session: Session, ids: Sequence[int]) -> int:
    """Delete the held requests ``ids`` (applied, or dead-lettered); how many were still there."""
    gone = 0
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        gone += execute(session, delete(T).where(T.id.in_(chunk)))
    return gone


def awaiting(session: Session, system_id: str) -> list[HeldRequest]:
    """The requests held for ``system_id``, oldest first: what ``govmig status`` shows."""
    statement = select(*_TABLE.columns).where(T.system_id == system_id).order_by(T.id)
    return [_held(row) for row in rows(session, statement)]


def all_awaiting(session: Session) -> list[HeldRequest]:
    """Every held request, oldest first: what ``govmig status`` lists under the fleet."""
    return [_held(row) for row in rows(session, select(*_TABLE.columns).order_by(T.id))]


def count_awaiting(session: Session) -> tuple[int, datetime | None]:
    """How many requests are held, and when the oldest of them arrived (None: none)."""
    statement = select(func.count(), func.min(T.arrived_at))
    count, oldest = rows(session, statement).one()
    return int(count), None if oldest is None else as_utc(oldest)


def _held(row: Any) -> HeldRequest:
    record = KafkaRecord(
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        key=None if row.key is None else bytes(row.key),
        value=None if row.value is None else bytes(row.value),
        headers=tuple((name, base64.b64decode(value)) for name, value in row.headers),
    )
    return HeldRequest(
        id=row.id,
        system_id=row.system_id,
        request=row.request,
        requested_by=row.requested_by,
        event_source=row.event_source,
        event_id=row.event_id,
        record=record,
        arrived_at=as_utc(row.arrived_at),
        deadline=as_utc(row.deadline),
    )
