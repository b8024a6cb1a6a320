"""What a system's migration moved and what its cutover cost: passes and downtime.

The phase worker records each pass a provider reports (``add_pass``) and the
downtime a cutover measured (``set_downtime``) in the transaction that applies
the phase's outcome. ``passes`` serves ``govmig status``; ``bytes_by_system``
serves the demo's summary. Rehearsals are kept beside them (``add_rehearsal``,
``last_rehearsal``), and ``rehearsed_since_full`` answers the cutover policy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from orchestrator.migrations.replication import (
    PassKind,
    Rehearsal,
    ReplicationPass,
    rehearsed_since_full,
)
from orchestrator.store._sql import as_utc, utcnow
from orchestrator.store.tables import RehearsalTable, ReplicationPassTable, SystemTable


@dataclass(frozen=True, slots=True)
class PassRow:
    """One recorded pass, with when it was recorded."""

    replication: ReplicationPass
    at: datetime


def add_pass(session: Session, system_id: str, replication: ReplicationPass) -> None:
    """Append one pass to ``system_id``'s history."""
    values = {
        "system_id": system_id,
        "kind": replication.kind.value,
        "bytes_sent": replication.bytes_sent,
        "seconds": replication.seconds,
        "at": utcnow(),
    }
    session.execute(insert(ReplicationPassTable).values(values))


def set_downtime(session: Session, system_id: str, seconds: float) -> None:
    """Record the downtime of ``system_id``'s cutover."""
    statement = (
        update(SystemTable).where(SystemTable.id == system_id).values(downtime_seconds=seconds)
    )
    session.execute(statement, execution_options={"synchronize_session": False})


def passes(session: Session, system_id: str) -> list[PassRow]:
    """``system_id``'s passes, oldest first."""
    table = ReplicationPassTable
    found = session.execute(
        select(table.kind, table.bytes_sent, table.seconds, table.at)
        .where(table.system_id == system_id)
        .order_by(table.id)
    )
    return [
        PassRow(ReplicationPass(PassKind(kind), sent, seconds), as_utc(at))
        for kind, sent, seconds, at in found
    ]


def last_timed(
    session: Session, system_ids: Collection[str], *, kind: PassKind | None = None
) -> dict[str, ReplicationPass]:
    """Each system's latest timed pass (of ``kind``, if given): what its cutover forecast is
    made of (a warm system's caught-up delta, a cold one's copy)."""
    table = ReplicationPassTable
    timed: list[ColumnElement[bool]] = [
        table.system_id.in_(list(system_ids)),
        table.seconds.is_not(None),
    ]
    if kind is not None:
        timed.append(table.kind == kind.value)
    latest = select(func.max(table.id)).where(*timed).group_by(table.system_id)
    found = session.execute(
        select(table.system_id, table.kind, table.bytes_sent, table.seconds).where(
            table.id.in_(latest)
        )
    )
    return {
        system_id: ReplicationPass(PassKind(kind), sent, seconds)
        for system_id, kind, sent, seconds in found
    }


def bytes_by_system(session: Session, system_ids: Collection[str]) -> dict[str, int]:
    """Bytes sent over all passes, for each of ``system_ids`` that has any."""
    table = ReplicationPassTable
    found = session.execute(
        select(table.system_id, func.sum(table.bytes_sent))
        .where(table.system_id.in_(list(system_ids)))
        .group_by(table.system_id)
    )
    return {system_id: int(total) for system_id, total in found}


def last_pass_at(session: Session, system_ids: Collection[str]) -> dict[str, datetime]:
    """When each of ``system_ids`` that has any pass recorded its latest one."""
    table = ReplicationPassTable
    found = session.execute(
        select(table.system_id, func.max(table.at))
        .where(table.system_id.in_(list(system_ids)))
        .group_by(table.system_id)
    )
    return {system_id: as_utc(at) for system_id, at in found}


@dataclass(frozen=True, slots=True)
class RehearsalRow:
    """One recorded rehearsal, with when it was recorded."""

    rehearsal: Rehearsal
    at: datetime


def add_rehearsal(session: Session, system_id: str, rehearsal: Rehearsal) -> None:
    """Append one rehearsal's result to ``system_id``'s history."""
    values = {
        "system_id": system_id,
        "passed": rehearsal.passed,
        "reason": rehearsal.reason,
        "test_name": rehearsal.test_name,
        "seconds": rehearsal.seconds,
        "at": utcnow(),
    }
    session.execute(insert(RehearsalTable).values(values))


def last_rehearsal(session: Session, system_id: str) -> RehearsalRow | None:
    """``system_id``'s latest rehearsal, if it had one."""
    table = RehearsalTable
    found = session.execute(
        select(table.passed, table.reason, table.test_name, table.seconds, table.at)
        .where(table.system_id == system_id)
        .order_by(table.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    passed, reason, test_name, seconds, at = found
    return RehearsalRow(Rehearsal(bool(passed), reason, test_name, seconds), as_utc(at))


def measured_start(session: Session, system_id: str) -> float | None:
    """The service start ``system_id``'s last passed rehearsal measured, if one did."""
    return start_measured(last_rehearsal(session, system_id))


def start_measured(recorded: RehearsalRow | None) -> float | None:
    """A rehearsal's measured service start: only a passed one's counts."""
    if recorded is None or not recorded.rehearsal.passed:
        return None
    return recorded.rehearsal.seconds


def rehearsed(session: Session, system_id: str) -> bool:
    """Whether ``system_id`` passed a rehearsal since its last full pass."""
    last_passed = session.execute(
        select(func.max(RehearsalTable.at)).where(
            RehearsalTable.system_id == system_id, RehearsalTable.passed.is_(True)
        )
    ).scalar()
    last_full = session.execute(
        select(func.max(ReplicationPassTable.at)).where(
            ReplicationPassTable.system_id == system_id,
            ReplicationPassTable.kind == PassKind.FULL.value,
        )
    ).scalar()
    return rehearsed_since_full(
        None if last_passed is None else as_utc(last_passed),
        None if last_full is None else as_utc(last_full),
    )
