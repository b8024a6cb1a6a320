"""Repository of city nodes: inventory per resource, status, generation and allocations.

Nodes are seeded once from ``orchestrator.inventory`` and then changed only by
``gov.cloud.node.updated`` events through ``update_node``. Connected PRD
platforms are rows of the same table (``kind = 'platform'``, ``store.platforms``),
so the ledger reserves on them by the same rules; ``node_usage`` lists one kind. Like the ledger,
every write moves the node's generation with compare-and-swap, so a capacity
change and a reservation racing on the same node cannot both win on stale data.

Reads return the pure ledger's ``NodeUsage`` (``orchestrator.capacity.ledger``),
so the arithmetic that decides a fit is the same in the store, in placement's
dry runs and in the CLI. Only total, reserved and allocation ratio are stored
per resource; min_unit, max_unit and step_size keep the ledger's defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from orchestrator.capacity import (
    NodeKind,
    NodeState,
    NodeStatus,
    NodeUsage,
    ResourceClass,
    ResourceInventory,
    Resources,
    node_state,
)
from orchestrator.errors import PermanentError, TemporaryError
from orchestrator.inventory.models import Node
from orchestrator.store._sql import execute, insert_if_absent, rows, stored_time
from orchestrator.store.tables import AllocationTable, NodeTable

# Like Placement: enough attempts for a burst of instances, bounded so a bug cannot spin.
MAX_CAS_ATTEMPTS = 10


class GenerationConflictError(TemporaryError):
    """A node's generation moved on while we wrote; re-read and decide again."""


def column(resource: str) -> str:
    """The column prefix of a resource class, e.g. ``MEMORY_GB`` -> ``memory_gb``."""
    return ResourceClass(resource).value.lower()


def seed_nodes(
    session: Session, nodes: Iterable[Node], *, now: datetime | None = None
) -> list[str]:
    """Insert the nodes that are missing and return their ids; existing rows are never changed.

    Capacity an operator changed since (by a ``node.updated`` event) survives restarts.
    """
    at = stored_time(now)
    inserted = []
    for node in nodes:
        state = node_state(node)
        values: dict[str, Any] = {"id": node.id, "city": node.city, "kind": NodeKind.NODE.value}
        values["status"] = NodeStatus.ONLINE.value
        values |= inventory_columns(state.inventories)
        values |= {"generation": 0, "updated_at": at}
        if insert_if_absent(session, NodeTable, values):
            inserted.append(node.id)
    return inserted


def node_usage(session: Session, kind: NodeKind | None = NodeKind.NODE) -> list[NodeUsage]:
    """Every target of ``kind`` (the city nodes by default; None: nodes and connected
    platforms), ordered by id: inventory, status, generation and each allocation on it."""
    statement = select(NodeTable).order_by(NodeTable.id)
    if kind is not None:
        statement = statement.where(NodeTable.kind == kind.value)
    nodes = session.scalars(statement.execution_options(populate_existing=True))
    held = _allocations_by_node(session, None)
    return [_to_usage(node, held.get(node.id, {})) for node in nodes]


def get_node(session: Session, node_id: str) -> NodeUsage | None:
    """One node's usage, or None if there is no such node."""
    node = session.scalars(
        select(NodeTable).where(NodeTable.id == node_id).execution_options(populate_existing=True)
    ).one_or_none()
    if node is None:
        return None
    return _to_usage(node, _allocations_by_node(session, node_id).get(node_id, {}))


def node_totals(session: Session, node_id: str) -> NodeUsage | None:
    """One node's inventory, status, generation and summed usage, in one query.

    What a reservation needs to check a fit: ``used`` is the sum over the
    node's allocations (by the database, over the node's index), and
    ``allocations`` is left empty rather than read row by row, which made every
    reservation cost as much as the node held.
    """
    row = rows(session, _NODE_TOTALS, {"node_id": node_id}).one_or_none()
    if row is None:
        return None
    used = Resources(
        int(row.used_vcpu or 0), int(row.used_memory_gb or 0), int(row.used_storage_gb or 0)
    )
    return NodeUsage(_node_state(row), used.amounts(), {}, row.generation)


def _node_totals_statement() -> Select[Any]:
    held = AllocationTable
    sums = (
        select(
            held.node_id,
            func.sum(held.vcpu).label("used_vcpu"),
            func.sum(held.memory_gb).label("used_memory_gb"),
            func.sum(held.storage_gb).label("used_storage_gb"),
        )
        .where(held.node_id == bindparam("node_id"))
        .group_by(held.node_id)
        .subquery()
    )
    nodes = cast(Table, NodeTable.__table__)
    return (
        select(nodes, sums.c.used_vcpu, sums.c.used_memory_gb, sums.c.used_storage_gb)
        .select_from(nodes.outerjoin(sums, sums.c.node_id == nodes.c.id))
        .where(nodes.c.id == bindparam("node_id"))
    )


# Built once: constructing a statement costs about as much as running it on SQLite.
_NODE_TOTALS = _node_totals_statement()


def require_node(session: Session, node_id: str) -> NodeUsage:
    """One node's usage; ``PermanentError`` if there is no such node."""
    found = get_node(session, node_id)
    if found is None:
        raise PermanentError(f"unknown node {node_id!r}")
    return found


def update_node(
    session: Session,
    node_id: str,
    *,
    status: NodeStatus | None = None,
    inventories: Mapping[str, ResourceInventory] | None = None,
    expected_generation: int | None = None,
    now: datetime | None = None,
) -> NodeUsage:
    """Change a node's status and/or inventories, moving its generation; return the new usage.

    ``inventories`` may name only the resource classes that change. With
    ``expected_generation`` the write happens only at that generation (else
    ``GenerationConflictError``); without it, it retries on fresh reads.
    Draining never touches existing allocations: it only stops new placements,
    and a capacity cut below usage evicts nobody (the node just has no room).
    """
    values: dict[str, Any] = {"updated_at": stored_time(now)}
    if status is not None:
        values["status"] = NodeStatus(status).value
    if inventories is not None:
        values |= inventory_columns(inventories)
    attempts = 1 if expected_generation is not None else MAX_CAS_ATTEMPTS
    for _attempt in range(attempts):
        current = require_node(session, node_id)
        generation = current.generation if expected_generation is None else expected_generation
        if bump_generation(session, node_id, generation, values):
            return require_node(session, node_id)
    raise GenerationConflictError(
        f"node {node_id} is at generation {current.generation}, not {generation}: "
        "it changed while updating it"
    )


def bump_generation(
    session: Session, node_id: str, expected: int, values: Mapping[str, Any] | None = None
) -> bool:
    """Compare-and-swap: move ``node_id`` from generation ``expected`` to the next one.

    False if another writer moved it first. On PostgreSQL the UPDATE waits for
    that writer's commit and then re-checks the generation it committed.
    """
    params = {"node_id": node_id, "expected": expected}
    if not values:
        return execute(session, _BUMP, params) == 1
    return execute(session, _BUMP.values(**values), params) == 1


def touch_node(session: Session, node_id: str) -> None:
    """Move a node's generation on unconditionally, after freeing capacity on it.

    Freeing can never over-commit, so it needs no compare; the bump still makes a
    concurrent reservation that read the old usage re-read.
    """
    execute(session, _TOUCH, {"node_id": node_id})


_TOUCH = (
    update(NodeTable)
    .where(NodeTable.id == bindparam("node_id"))
    .values(generation=NodeTable.generation + 1)
)
_BUMP = _TOUCH.where(NodeTable.generation == bindparam("expected"))


def _allocations_by_node(
    session: Session, node_id: str | None
) -> dict[str, dict[str, dict[str, int]]]:
    statement = select(
        AllocationTable.node_id,
        AllocationTable.system_id,
        AllocationTable.vcpu,
        AllocationTable.memory_gb,
        AllocationTable.storage_gb,
    ).order_by(AllocationTable.system_id)
    if node_id is not None:
        statement = statement.where(AllocationTable.node_id == node_id)
    held: dict[str, dict[str, dict[str, int]]] = {}
    for node, system, vcpu, memory_gb, storage_gb in session.execute(statement):
        held.setdefault(node, {})[system] = Resources(vcpu, memory_gb, storage_gb).amounts()
    return held


def _to_usage(node: NodeTable, allocations: dict[str, dict[str, int]]) -> NodeUsage:
    used = sum((Resources.from_amounts(amounts) for amounts in allocations.values()), Resources())
    return NodeUsage(_node_state(node), used.amounts(), allocations, node.generation)


def _node_state(node: NodeTable | Row[Any]) -> NodeState:
    """A node row (an ORM object or a plain row of its columns) as the ledger's ``NodeState``."""
    return _state_of(tuple(getattr(node, name) for name in _STATE_COLUMNS))


# Per resource class, in ``ResourceInventory``'s argument order: total, reserved, allocation ratio.
_INVENTORY_PARTS = ("total", "reserved", "allocation_ratio")
_STATE_COLUMNS = (
    "id",
    "city",
    "status",
    "kind",
    *(f"{column(resource)}_{part}" for resource in ResourceClass for part in _INVENTORY_PARTS),
)


@functools.lru_cache(maxsize=256)
def _state_of(values: tuple[Any, ...]) -> NodeState:
    """The ``NodeState`` of a node row's values, shared between reads of an unchanged node.

    Deriving one (exact decimal capacities) cost more than the query that read
    it, and a reservation reads its node every time; ``NodeState`` is immutable.
    """
    node_id, city, status, kind, *numbers = values
    width = len(_INVENTORY_PARTS)
    inventories: dict[str, ResourceInventory] = {
        resource.value: ResourceInventory(*numbers[index * width : (index + 1) * width])
        for index, resource in enumerate(ResourceClass)
    }
    return NodeState(node_id, city, inventories, NodeStatus(status), NodeKind(kind))


def inventory_columns(inventories: Mapping[str, ResourceInventory]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for resource, inventory in inventories.items():
        prefix = column(resource)
        columns[f"{prefix}_total"] = inventory.total
        columns[f"{prefix}_reserved"] = inventory.reserved
        columns[f"{prefix}_allocation_ratio"] = inventory.allocation_ratio
    return columns
