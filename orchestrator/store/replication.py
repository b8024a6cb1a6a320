"""What a system's migration moved and what its cutover cost: passes and downtime.

The phase worker records each pass a provider reports (``add_pass``) and the
downtime a cutover measured (``set_downtime``) in the transaction that applies
the phase's outcome. ``passes`` serves ``govmig status``; ``bytes_by_system``
serves the demo's summary.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from orchestrator.migrations.replication import PassKind, ReplicationPass
from orchestrator.store._sql import as_utc, utcnow
from orchestrator.store.tables import ReplicationPassTable, SystemTable


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
