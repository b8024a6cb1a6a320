"""Leases on systems: which orchestrator instance runs a system's phase, and until when.

The phase worker (``orchestrator.worker.phase_worker``) claims work only through
``claim``, a compare-and-swap UPDATE::

    UPDATE systems SET lease_owner = :me, lease_expires_at = :until
     WHERE id IN (...) AND state = :phase_state
       AND (lease_owner IS NULL OR lease_expires_at < :now)
    RETURNING id

so of two instances racing for a system (PostgreSQL, READ COMMITTED: the
loser's UPDATE waits for the winner's commit, then re-checks the condition and
skips the row) exactly one gets it. A heartbeat ``renew``s the leases of
systems in flight; ``give_back`` returns them in the transaction that applies
their outcome. A lease that is not renewed (its instance died) expires and
the system is claimed again, and its idempotent phase re-run.

This module also hands out each system's IPv6 host number on its node
(``assign_ipv6``) and records what the providers report: the address it answers
on by name over IPv6 (``set_ipv6_address``) and the host it was provisioned on
(``set_target_host``). Lease columns are never written by ``save_system``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from orchestrator.migrations.states import SystemState
from orchestrator.store._sql import as_utc, stored_time
from orchestrator.store.tables import NodeTable, SystemTable

# Host numbers go after "::" in one hex group: 1..0xFFFF.
MAX_IPV6_INDEX = 0xFFFF


@dataclass(frozen=True)
class WorkRow:
    """What the worker needs to schedule a system: where, which state, which wave, since when."""

    id: str
    state: SystemState
    node: str | None
    wave: int | None
    updated_at: datetime


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(SystemTable.lease_owner.is_(None), SystemTable.lease_expires_at < now)


def ready_systems(
    session: Session, states: Collection[SystemState], *, now: datetime, limit: int
) -> list[WorkRow]:
    """Systems in ``states`` whose lease is free or expired, lower waves first."""
    at = stored_time(now)
    statement = (
        select(
            SystemTable.id,
            SystemTable.state,
            SystemTable.node,
            SystemTable.wave,
            SystemTable.updated_at,
        )
        .where(SystemTable.state.in_([str(s) for s in states]), _free(at))
        .order_by(SystemTable.wave.is_(None), SystemTable.wave, SystemTable.id)
        .limit(limit)
    )
    return [
        WorkRow(id, SystemState(state), node, wave, as_utc(updated))
        for id, state, node, wave, updated in session.execute(statement)
    ]


def take_due_gates(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Ready systems whose gates are due again by ``now`` and whose lease is free, at most
    ``limit``, by id; each taken once (its ``gate_due_at`` cleared), so of several instances
    only one asks. A system in a pass is left for the pass, which asks its gates after."""
    at = stored_time(now)
    due = (
        select(SystemTable.id)
        .where(
            SystemTable.state == SystemState.READY.value,
            SystemTable.gate_due_at <= at,
            _free(at),
        )
        .order_by(SystemTable.gate_due_at, SystemTable.id)
        .limit(limit)
    )
    statement = (
        update(SystemTable)
        .where(SystemTable.id.in_(due.scalar_subquery()), SystemTable.gate_due_at <= at)
        .values(gate_due_at=None)
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))


def count_in_states(session: Session, states: Collection[SystemState]) -> int:
    """How many systems are in any of ``states``."""
    statement = select(func.count()).where(SystemTable.state.in_([str(s) for s in states]))
    return int(session.scalar(statement) or 0)


def claim(
    session: Session,
    system_ids: Iterable[str],
    *,
    owner: str,
    states: Collection[SystemState],
    now: datetime,
    ttl_s: float,
) -> list[str]:
    """Lease the systems among ``system_ids`` still in one of ``states`` and free; return those won.

    Each claim bumps the system's ``lease_generation``, the fencing token its run carries.
    """
    ids = sorted(set(system_ids))
    if not ids:
        return []
    at = stored_time(now)
    statement = (
        update(SystemTable)
        .where(SystemTable.id.in_(ids), SystemTable.state.in_([str(s) for s in states]), _free(at))
        .values(
            lease_owner=owner,
            lease_expires_at=at + timedelta(seconds=ttl_s),
            lease_generation=func.coalesce(SystemTable.lease_generation, 0) + 1,
        )
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))


def live_owners(session: Session, *, now: datetime) -> set[str]:
    """The owners of leases that have not expired."""
    at = stored_time(now)
    statement = (
        select(SystemTable.lease_owner)
        .where(SystemTable.lease_owner.is_not(None), SystemTable.lease_expires_at >= at)
        .distinct()
    )
    return {owner for owner in session.scalars(statement) if owner is not None}


def expire(session: Session, owners: Collection[str], *, now: datetime) -> list[str]:
    """End every lease of ``owners`` now (they are gone); the systems freed."""
    if not owners:
        return []
    statement = (
        update(SystemTable)
        .where(SystemTable.lease_owner.in_(sorted(owners)))
        .values(lease_expires_at=stored_time(now) - timedelta(seconds=1))
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))


def renew(
    session: Session, system_ids: Iterable[str], *, owner: str, now: datetime, ttl_s: float
) -> set[str]:
    """Extend ``owner``'s leases on ``system_ids``; return the ids it still held."""
    ids = sorted(set(system_ids))
    if not ids:
        return set()
    until = stored_time(now) + timedelta(seconds=ttl_s)
    statement = (
        update(SystemTable)
        .where(SystemTable.id.in_(ids), SystemTable.lease_owner == owner)
        .values(lease_expires_at=until)
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))


def give_back(session: Session, system_ids: Iterable[str], *, owner: str) -> set[str]:
    """Give back ``owner``'s leases on ``system_ids``; return the ids it still held."""
    ids = sorted(set(system_ids))
    if not ids:
        return set()
    statement = (
        update(SystemTable)
        .where(SystemTable.id.in_(ids), SystemTable.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.scalars(statement))


def give_back_all(session: Session, owner: str) -> list[str]:
    """Give back every lease ``owner`` holds (a restarted instance taking back its own work)."""
    statement = (
        update(SystemTable)
        .where(SystemTable.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .returning(SystemTable.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))


def assign_ipv6(session: Session, node: str, system_ids: Iterable[str]) -> dict[str, int]:
    """Each system's host number on ``node``: kept if no other system there has it, else the
    lowest free one. On PostgreSQL the node's row is locked first, so two instances
    assigning on one node take turns (SQLite writers already do)."""
    wanted = set(system_ids)
    session.execute(select(NodeTable.id).where(NodeTable.id == node).with_for_update())
    rows = session.execute(
        select(SystemTable.id, SystemTable.ipv6_index).where(
            or_(
                and_(SystemTable.node == node, SystemTable.ipv6_index.is_not(None)),
                SystemTable.id.in_(sorted(wanted)),
            )
        )
    ).all()
    mine = {system_id: index for system_id, index in rows if system_id in wanted}
    taken = {index for system_id, index in rows if system_id not in mine and index is not None}
    chosen: dict[str, int] = {}
    for system_id in sorted(mine):
        index = mine[system_id]
        if index is None or index in taken:
            index = _lowest_free(taken)
            _set(session, system_id, ipv6_index=index)
        taken.add(index)
        chosen[system_id] = index
    return chosen


def _lowest_free(taken: set[int]) -> int:
    index = 1
    while index in taken:
        index += 1
    if index > MAX_IPV6_INDEX:
        raise ValueError("no IPv6 host number left on the node")
    return index


def set_ipv6_address(session: Session, system_id: str, address: str | None) -> None:
    """Record the address ``system_id`` answers on (None: it answers from its source again)."""
    _set(session, system_id, ipv6_address=address)


def set_target_host(session: Session, system_id: str, host: str | None) -> None:
    """Record the host ``system_id`` was provisioned on (None: it holds no host any more)."""
    _set(session, system_id, target_host=host)


def _set(session: Session, system_id: str, **values: object) -> None:
    statement = update(SystemTable).where(SystemTable.id == system_id).values(**values)
    session.execute(statement, execution_options={"synchronize_session": False})
