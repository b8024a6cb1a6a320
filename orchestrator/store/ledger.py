"""The capacity ledger on the store: reservations that never over-commit a node.

``reserve`` reads a node's inventory, generation and usage, checks the fit with
the pure arithmetic of ``orchestrator.capacity.ledger``, then moves the node's
generation with compare-and-swap (``UPDATE nodes SET generation = generation + 1
WHERE id = :id AND generation = :read``) and writes the allocation. If another
instance wrote to the node since the read, the swap touches no row and the
whole decision is made again on fresh data, up to ``MAX_CAS_ATTEMPTS`` times,
as OpenStack Placement does; then ``TemporaryError``.

On PostgreSQL (READ COMMITTED) a losing UPDATE waits for the winner's commit
and then sees the new generation; on SQLite the writer's ``BEGIN IMMEDIATE``
already serialises writers, so the swap always wins there.

A system holds at most one allocation, all three resources or none.
Reserving again is idempotent (same node and amounts: nothing happens);
reserving on another node moves the allocation in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.capacity.ledger import CapacityShortfall, ResourceClass, check_allocation
from orchestrator.capacity.ledger import release as without_consumer
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.store._sql import as_utc, execute, stored_time
from orchestrator.store.nodes import MAX_CAS_ATTEMPTS, bump_generation, require_node, touch_node
from orchestrator.store.records import Allocation
from orchestrator.store.tables import AllocationTable, SystemTable

# The pure ledger's reason a request does not fit; ``.resource``, ``.amount``, ``.message``.
Shortfall = CapacityShortfall


@dataclass(frozen=True)
class Reserved:
    """``system_id`` holds ``amount`` on ``node_id``; the node is now at ``generation``.

    ``changed`` is False when exactly this reservation already existed;
    ``moved_from`` names the node a replaced reservation was taken off.
    """

    system_id: str
    node_id: str
    amount: dict[str, int]
    generation: int
    changed: bool
    moved_from: str | None = None


def reserve(
    session: Session,
    system_id: str,
    node_id: str,
    request: Mapping[str, int],
    *,
    now: datetime | None = None,
) -> Reserved | Shortfall:
    """Reserve ``request`` (resource class -> amount) for ``system_id`` on ``node_id``.

    Returns the ``Shortfall`` naming the resource and amount when it does not fit
    (or why the node takes nothing). Raises ``PermanentError`` for an unknown
    system or node, ``TemporaryError`` when the node kept changing.
    """
    _require_system(session, system_id)
    for _attempt in range(MAX_CAS_ATTEMPTS):
        outcome = _try_reserve(session, system_id, node_id, dict(request), stored_time(now))
        if outcome is not None:
            return outcome
    raise TemporaryError(
        f"node {node_id} changed under {MAX_CAS_ATTEMPTS} attempts to reserve for {system_id}",
        delay=0.1,
    )


def release(session: Session, system_id: str) -> Allocation | None:
    """Give back what ``system_id`` holds; the released allocation, or None if it held nothing."""
    held = get_allocation(session, system_id)
    if held is None:
        return None
    execute(session, delete(AllocationTable).where(AllocationTable.system_id == system_id))
    touch_node(session, held.node_id)
    return held


def get_allocation(session: Session, system_id: str) -> Allocation | None:
    """What ``system_id`` holds, if anything."""
    statement = (
        select(AllocationTable)
        .where(AllocationTable.system_id == system_id)
        .execution_options(populate_existing=True)
    )
    row = session.scalars(statement).one_or_none()
    if row is None:
        return None
    amount = {
        ResourceClass.VCPU.value: row.vcpu,
        ResourceClass.MEMORY_GB.value: row.memory_gb,
        ResourceClass.STORAGE_GB.value: row.storage_gb,
    }
    return Allocation(row.system_id, row.node_id, amount, as_utc(row.allocated_at))


def _try_reserve(
    session: Session, system_id: str, node_id: str, request: dict[str, int], at: datetime
) -> Reserved | Shortfall | None:
    """One read-check-swap round; None when the swap lost and the round must be redone."""
    held = get_allocation(session, system_id)
    usage = require_node(session, node_id)
    if held is not None and held.node_id == node_id and held.amount == _full(request):
        return Reserved(system_id, node_id, held.amount, usage.generation, changed=False)
    # Without the system's own allocation: resizing on the same node must not count it twice.
    shortfall = check_allocation(without_consumer(usage, system_id), request)
    if shortfall is not None:
        return shortfall
    if not bump_generation(session, node_id, usage.generation):
        return None
    _write_allocation(session, system_id, node_id, request, at, replace=held is not None)
    moved_from = held.node_id if held is not None and held.node_id != node_id else None
    if moved_from is not None:
        touch_node(session, moved_from)
    return Reserved(system_id, node_id, _full(request), usage.generation + 1, True, moved_from)


def _full(request: Mapping[str, int]) -> dict[str, int]:
    """``request`` with every resource class, zero where it asks for none."""
    return {resource.value: request.get(resource, 0) for resource in ResourceClass}


def _write_allocation(
    session: Session,
    system_id: str,
    node_id: str,
    request: Mapping[str, int],
    at: datetime,
    *,
    replace: bool,
) -> None:
    full = _full(request)
    values = {
        "node_id": node_id,
        "vcpu": full[ResourceClass.VCPU],
        "memory_gb": full[ResourceClass.MEMORY_GB],
        "storage_gb": full[ResourceClass.STORAGE_GB],
        "allocated_at": at,
    }
    if replace:
        statement = update(AllocationTable).where(AllocationTable.system_id == system_id)
        execute(session, statement.values(values))
        return
    try:
        # A savepoint, so losing this race keeps the caller's transaction usable on PostgreSQL.
        with session.begin_nested():
            execute(session, insert(AllocationTable).values(system_id=system_id, **values))
    except IntegrityError as error:
        raise TemporaryError(
            f"another instance reserved for {system_id} at the same time; retry", delay=0.1
        ) from error


def _require_system(session: Session, system_id: str) -> None:
    if not session.scalar(select(exists().where(SystemTable.id == system_id))):
        raise PermanentError(f"unknown system {system_id!r}: it was never registered")
