"""The capacity ledger on the store: reservations that never over-commit a node.

``reserve`` reads what the system holds, then the node's inventory, generation
and usage (summed by the database, one query), checks the fit with the pure
arithmetic of ``orchestrator.capacity.ledger``, then moves the node's
generation with compare-and-swap (``UPDATE nodes SET generation = generation + 1
WHERE id = :id AND generation = :read``) and writes the allocation: four
statements, whatever the node holds. If another instance wrote to the node
since the read, the swap touches no row and the whole decision is made again on
fresh data, up to ``MAX_CAS_ATTEMPTS`` times, as OpenStack Placement does; then
``TemporaryError``. Each lost swap is added to the caller's ``CasTally``, if it
passes one, whatever the reservation ends in: so contention between instances
can be counted (``govcloud_ledger_conflicts_total``) above the store.

On PostgreSQL (READ COMMITTED) a losing UPDATE waits for the winner's commit
and then sees the new generation; on SQLite the writer's ``BEGIN IMMEDIATE``
already serialises writers, so the swap always wins there.

A system holds at most one allocation, all three resources or none.
Reserving again is idempotent (same node and amounts: nothing happens);
reserving on another node moves the allocation in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.orm import Session

from orchestrator.capacity import (
    CapacityShortfall,
    NodeUsage,
    Resources,
    check_allocation,
)
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.store._sql import as_utc, execute, insert_if_absent, rows, stored_time
from orchestrator.store.nodes import MAX_CAS_ATTEMPTS, bump_generation, node_totals, touch_node
from orchestrator.store.records import Allocation
from orchestrator.store.tables import AllocationTable, SystemTable

# The pure ledger's reason a request does not fit; ``.resource``, ``.amount``, ``.message``.
Shortfall = CapacityShortfall


@dataclass
class CasTally:
    """Compare-and-swaps on a node's generation that lost to another writer and were redone."""

    lost: int = 0


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
    tally: CasTally | None = None,
) -> Reserved | Shortfall:
    """Reserve ``request`` (resource class -> amount) for ``system_id`` on ``node_id``.

    Returns the ``Shortfall`` naming the resource and amount when it does not fit
    (or why the node takes nothing). Raises ``PermanentError`` for an unknown
    system or node, ``TemporaryError`` when the node kept changing. Every lost
    swap is counted in ``tally``.
    """
    for _attempt in range(MAX_CAS_ATTEMPTS):
        outcome = _try_reserve(session, system_id, node_id, dict(request), stored_time(now))
        if outcome is not None:
            return outcome
        if tally is not None:
            tally.lost += 1
    raise TemporaryError(
        f"node {node_id} changed under {MAX_CAS_ATTEMPTS} attempts to reserve for {system_id}",
        delay=0.1,
    )


def release_allocation(session: Session, system_id: str) -> Allocation | None:
    """Give back what ``system_id`` holds; the released allocation, or None if it held nothing."""
    held = get_allocation(session, system_id)
    if held is None:
        return None
    execute(session, delete(AllocationTable).where(AllocationTable.system_id == system_id))
    touch_node(session, held.node_id)
    return held


def get_allocation(session: Session, system_id: str) -> Allocation | None:
    """What ``system_id`` holds, if anything."""
    row = rows(session, _HELD, {"system_id": system_id}).one_or_none()
    return None if row is None else _to_allocation(system_id, row)


_HELD_COLUMNS = (
    AllocationTable.node_id,
    AllocationTable.vcpu,
    AllocationTable.memory_gb,
    AllocationTable.storage_gb,
    AllocationTable.allocated_at,
)


_HELD = select(*_HELD_COLUMNS).where(AllocationTable.system_id == bindparam("system_id"))
# The system's row joined to its allocation: whether it exists and what it holds, at once.
_HOLDING = (
    select(SystemTable.id, *_HELD_COLUMNS)
    .select_from(SystemTable)
    .outerjoin(AllocationTable, AllocationTable.system_id == SystemTable.id)
    .where(SystemTable.id == bindparam("system_id"))
)


def _holding(session: Session, system_id: str) -> Allocation | None:
    """What ``system_id`` holds; ``PermanentError`` if it was never registered. One query."""
    row = rows(session, _HOLDING, {"system_id": system_id}).one_or_none()
    if row is None:
        raise PermanentError(f"unknown system {system_id!r}: it was never registered")
    return None if row.node_id is None else _to_allocation(system_id, row)


def _to_allocation(system_id: str, row: Row[*tuple[Any, ...]]) -> Allocation:
    amount = Resources(row.vcpu, row.memory_gb, row.storage_gb).amounts()
    return Allocation(system_id, row.node_id, amount, as_utc(row.allocated_at))


def _try_reserve(
    session: Session, system_id: str, node_id: str, request: dict[str, int], at: datetime
) -> Reserved | Shortfall | None:
    """One read-check-swap round; None when the swap lost and the round must be redone."""
    held = _holding(session, system_id)
    usage = node_totals(session, node_id)
    if usage is None:
        raise PermanentError(f"unknown node {node_id!r}")
    if held is not None and held.node_id == node_id and held.amount == _full(request):
        return Reserved(system_id, node_id, held.amount, usage.generation, changed=False)
    shortfall = check_allocation(_without(usage, held), request)
    if shortfall is not None:
        return shortfall
    if not bump_generation(session, node_id, usage.generation):
        return None
    _write_allocation(session, system_id, node_id, request, at, replace=held is not None)
    moved_from = held.node_id if held is not None and held.node_id != node_id else None
    if moved_from is not None:
        touch_node(session, moved_from)
    return Reserved(system_id, node_id, _full(request), usage.generation + 1, True, moved_from)


def _without(usage: NodeUsage, held: Allocation | None) -> NodeUsage:
    """``usage`` without ``held`` if it is on this node: resizing must not count it twice."""
    if held is None or held.node_id != usage.node.node_id:
        return usage
    used = Resources.from_amounts(usage.used) - Resources.from_amounts(held.amount)
    return replace(usage, used=used.amounts())


def _full(request: Mapping[str, int]) -> dict[str, int]:
    """``request`` with every resource class, zero where it asks for none."""
    return Resources.from_amounts(request).amounts()


def _write_allocation(
    session: Session,
    system_id: str,
    node_id: str,
    request: Mapping[str, int],
    at: datetime,
    *,
    replace: bool,
) -> None:
    # The allocation's columns are named like the resources' fields.
    values = {"node_id": node_id, **Resources.from_amounts(request).fields(), "allocated_at": at}
    if replace:
        statement = update(AllocationTable).where(AllocationTable.system_id == system_id)
        execute(session, statement.values(values))
        return
    # ON CONFLICT DO NOTHING rather than a savepoint: losing this race to another
    # instance leaves the caller's transaction usable on PostgreSQL, in one statement.
    if not insert_if_absent(session, AllocationTable, {"system_id": system_id, **values}):
        raise TemporaryError(
            f"another instance reserved for {system_id} at the same time; retry", delay=0.1
        )
