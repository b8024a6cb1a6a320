"""Grouped reads over the whole fleet, for the metrics collector at scrape time.

Each is one aggregate query; none writes. Keys are the stored values (states
as ``SystemState``, waves and nodes as stored, ``None`` where unset); turning
them into metric labels is the collector's business.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.migrations.states import SystemState
from orchestrator.store._sql import as_utc
from orchestrator.store.tables import (
    ApprovalTable,
    RehearsalTable,
    ReplicationPassTable,
    SystemTable,
    TransitionTable,
)


def count_by_wave(session: Session) -> dict[tuple[int | None, SystemState], int]:
    """How many systems are in each (wave, state)."""
    statement = select(SystemTable.wave, SystemTable.state, func.count()).group_by(
        SystemTable.wave, SystemTable.state
    )
    return {(wave, SystemState(state)): count for wave, state, count in session.execute(statement)}


def count_by_node(
    session: Session, states: Collection[SystemState]
) -> dict[tuple[str | None, SystemState], int]:
    """How many systems in ``states`` each node holds, per state."""
    statement = (
        select(SystemTable.node, SystemTable.state, func.count())
        .where(SystemTable.state.in_([str(state) for state in states]))
        .group_by(SystemTable.node, SystemTable.state)
    )
    return {(node, SystemState(state)): count for node, state, count in session.execute(statement)}


def count_transitions_into(
    session: Session, states: Collection[SystemState]
) -> dict[SystemState, int]:
    """Audited (not refused) transitions into each of ``states``; the audit only grows."""
    statement = (
        select(TransitionTable.to_state, func.count())
        .where(
            TransitionTable.refused.is_(False),
            TransitionTable.to_state.in_([str(state) for state in states]),
        )
        .group_by(TransitionTable.to_state)
    )
    # The WHERE clause keeps refusals (to_state NULL) out.
    return {
        SystemState(state): count
        for state, count in session.execute(statement)
        if state is not None
    }


def count_transitions_from(session: Session, state: SystemState) -> dict[SystemState, int]:
    """Audited transitions out of ``state``, by the state they led to."""
    statement = (
        select(TransitionTable.to_state, func.count())
        .where(
            TransitionTable.refused.is_(False),
            TransitionTable.from_state == str(state),
            TransitionTable.to_state != str(state),
        )
        .group_by(TransitionTable.to_state)
    )
    return {SystemState(to): count for to, count in session.execute(statement) if to is not None}


def count_rehearsals(session: Session) -> dict[bool, int]:
    """Recorded rehearsals, by whether they passed."""
    statement = select(RehearsalTable.passed, func.count()).group_by(RehearsalTable.passed)
    return {bool(passed): count for passed, count in session.execute(statement)}


def count_approvals(session: Session) -> tuple[int, int]:
    """Approvals ever granted, and how many of them were withdrawn: both only grow."""
    statement = select(func.count(), func.count(ApprovalTable.withdrawn_at))
    granted, withdrawn = session.execute(statement).one()
    return int(granted), int(withdrawn)


def count_refused(session: Session, cause: str) -> int:
    """Audited refusals of requests of one kind (``cause``, e.g. ``approve``)."""
    statement = select(func.count()).where(
        TransitionTable.refused.is_(True), TransitionTable.cause == cause
    )
    return int(session.scalar(statement) or 0)


def oldest_replica(session: Session, states: Collection[SystemState]) -> datetime | None:
    """The oldest of the latest passes of the systems in ``states``: the stalest replica."""
    latest = (
        select(func.max(ReplicationPassTable.at).label("at"))
        .join(SystemTable, SystemTable.id == ReplicationPassTable.system_id)
        .where(SystemTable.state.in_([str(state) for state in states]))
        .group_by(ReplicationPassTable.system_id)
        .subquery()
    )
    oldest = session.scalar(select(func.min(latest.c.at)))
    return None if oldest is None else as_utc(oldest)


def count_completed_with_ipv6(session: Session) -> int:
    """Completed systems that have an IPv6 address recorded."""
    statement = select(func.count()).where(
        SystemTable.state == str(SystemState.COMPLETED), SystemTable.ipv6_address.is_not(None)
    )
    return int(session.scalar(statement) or 0)


def oldest_update(session: Session, states: Collection[SystemState]) -> datetime | None:
    """When the least recently updated system in ``states`` last changed, in UTC."""
    statement = select(func.min(SystemTable.updated_at)).where(
        SystemTable.state.in_([str(state) for state in states])
    )
    oldest = session.scalar(statement)
    return None if oldest is None else as_utc(oldest)


def waiting_by_reason(session: Session) -> dict[str, tuple[int, datetime | None]]:
    """Systems a gate holds, by reason: how many, and since when the longest has waited."""
    statement = (
        select(SystemTable.waiting_reason, func.count(), func.min(SystemTable.waiting_since))
        .where(SystemTable.waiting_reason.is_not(None))
        .group_by(SystemTable.waiting_reason)
    )
    return {
        str(reason): (int(count), None if since is None else as_utc(since))
        for reason, count, since in session.execute(statement)
    }
