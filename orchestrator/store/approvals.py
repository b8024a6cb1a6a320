"""Approvals of systems' cutovers (four eyes): granted, withdrawn, and which are live.

The engine records an approval (``grant``) and withdraws a system's approvals
(``withdraw``) when it carries out the state machine's ``GrantApproval`` and
``WithdrawApprovals``, in the transaction of the decision. An approval is
*live* while it is neither withdrawn nor expired; how long it lives is the
cutover policy's, so every reader passes the time to live and the clock
(``live``, ``live_approvals``): the cutover gate, ``govmig status``. Rows are never
deleted; the metric counts them (``aggregates.count_approvals``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.orm import Session

from orchestrator.store._sql import as_utc, execute, rows, stored_time
from orchestrator.store.tables import ApprovalTable


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """One approval as stored; ``withdrawn_at`` is None while it stands."""

    id: int
    system_id: str
    approver: str
    change_ref: str
    comment: str | None
    granted_at: datetime
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None

    def expires_at(self, ttl: timedelta) -> datetime:
        """When this approval stops being live if nobody withdraws it."""
        return self.granted_at + ttl


def grant(
    session: Session,
    system_id: str,
    *,
    approver: str,
    change_ref: str,
    comment: str | None = None,
    at: datetime | None = None,
) -> None:
    """Record ``approver``'s approval of ``system_id``'s cutover under ``change_ref``."""
    values = {
        "system_id": system_id,
        "approver": approver,
        "change_ref": change_ref,
        "comment": comment,
        "granted_at": stored_time(at),
    }
    execute(session, insert(ApprovalTable).values(values))


def withdraw(session: Session, system_id: str, *, by: str, at: datetime | None = None) -> int:
    """Withdraw every approval of ``system_id`` not withdrawn yet; how many."""
    statement = (
        update(ApprovalTable)
        .where(ApprovalTable.system_id == system_id, ApprovalTable.withdrawn_at.is_(None))
        .values(withdrawn_at=stored_time(at), withdrawn_by=by)
    )
    return execute(session, statement)


def live_approvals(
    session: Session, system_ids: Collection[str], *, now: datetime, ttl: timedelta
) -> dict[str, ApprovalRow]:
    """The newest live approval of each of ``system_ids`` that has one."""
    columns = _TABLE.c
    statement = (
        select(*_TABLE.columns)
        .where(
            columns.system_id.in_(list(system_ids)),
            columns.withdrawn_at.is_(None),
            columns.granted_at > stored_time(now - ttl),
            columns.granted_at <= stored_time(now),
        )
        .order_by(columns.granted_at, columns.id)
    )
    # Oldest first, so the newest of each system is the one kept.
    return {row.system_id: row for row in map(_to_record, rows(session, statement))}


def live(session: Session, system_id: str, *, now: datetime, ttl: timedelta) -> ApprovalRow | None:
    """``system_id``'s newest approval that is neither withdrawn nor expired at ``now``."""
    return live_approvals(session, [system_id], now=now, ttl=ttl).get(system_id)


def approvals_of(session: Session, system_id: str) -> list[ApprovalRow]:
    """Every approval of ``system_id``, oldest first, withdrawn ones included."""
    columns = _TABLE.c
    statement = select(*_TABLE.columns).where(columns.system_id == system_id).order_by(columns.id)
    return [_to_record(row) for row in rows(session, statement)]


_TABLE = cast(Table, ApprovalTable.__table__)


def _to_record(row: Row[Any]) -> ApprovalRow:
    return ApprovalRow(
        id=row.id,
        system_id=row.system_id,
        approver=row.approver,
        change_ref=row.change_ref,
        comment=row.comment,
        granted_at=as_utc(row.granted_at),
        withdrawn_at=None if row.withdrawn_at is None else as_utc(row.withdrawn_at),
        withdrawn_by=row.withdrawn_by,
    )
