"""Reading one ``FleetSnapshot`` from the state store, at scrape time.

The I/O half of the fleet collector: ``read_snapshot`` takes a session the
collector opened for this scrape and runs a handful of grouped reads. It uses
the store's repositories where they exist (``node_usage``, ``count_by_state``)
and, for the figures no repository answers yet (systems by wave, in-flight by
node, the audit's outcome counts, the oldest active system), SQLAlchemy Core
queries over the store's tables. Those queries read only; the collector's
session is rolled back when it closes.

Completed systems with an IPv6 address count ``systems.ipv6_address``, which
the phase worker writes when cutover succeeds (and clears on rollback). PRD
platforms connected is not in the store: the collector fills it in from the
inventory (``Platform.connected``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.capacity.ledger import NodeStatus, NodeUsage, ResourceClass
from orchestrator.inventory.models import GB
from orchestrator.migrations.states import ACTIVE_PHASE_STATES, SystemState, phase_in
from orchestrator.observability.fleet import (
    NONE_LABEL,
    OUTCOMES,
    FleetSnapshot,
    NodeFigures,
    Resource,
)
from orchestrator.store import count_by_state, node_usage
from orchestrator.store.tables import SystemTable, TransitionTable

# States in which a system should be moving on its own: a playbook runs, or is about to.
# ``queued`` is not among them: waiting there for capacity is normal, not stuck.
MOVING_STATES: Final = frozenset({SystemState.PLACED, *ACTIVE_PHASE_STATES})


def read_snapshot(session: Session, *, now: datetime) -> FleetSnapshot:
    """Every fleet figure the collector exports, as the store holds it at ``now``."""
    return FleetSnapshot(
        nodes=tuple(node_figures(usage) for usage in node_usage(session)),
        systems={str(state): count for state, count in count_by_state(session).items()},
        systems_by_wave=_systems_by_wave(session),
        migrations=_migration_outcomes(session),
        inflight=_inflight(session),
        oldest_active_age_s=_oldest_moving_age(session, now),
        systems_ipv6=_completed_with_ipv6(session),
    )


def node_figures(usage: NodeUsage) -> NodeFigures:
    """One node's ledger row in exposed units: vCPU, and decimal bytes for GB."""
    return NodeFigures(
        node=usage.node.node_id,
        online=usage.node.status is NodeStatus.ONLINE,
        vcpu=_resource(usage, ResourceClass.VCPU, 1),
        memory_bytes=_resource(usage, ResourceClass.MEMORY_GB, GB),
        storage_bytes=_resource(usage, ResourceClass.STORAGE_GB, GB),
    )


def _resource(usage: NodeUsage, resource: ResourceClass, scale: int) -> Resource:
    inventory = usage.node.inventories[resource]
    return Resource(
        capacity=inventory.total * scale,
        allocatable=usage.node.capacities[resource] * scale,
        allocated=usage.used.get(resource, 0) * scale,
    )


def _systems_by_wave(session: Session) -> dict[tuple[str, str], int]:
    statement = select(SystemTable.wave, SystemTable.state, func.count()).group_by(
        SystemTable.wave, SystemTable.state
    )
    return {
        (NONE_LABEL if wave is None else str(wave), state): count
        for wave, state, count in session.execute(statement)
    }


def _migration_outcomes(session: Session) -> Mapping[str, int]:
    """Audited transitions into each terminal state: the audit is append-only, so they only grow."""
    statement = (
        select(TransitionTable.to_state, func.count())
        .where(TransitionTable.refused.is_(False), TransitionTable.to_state.in_(OUTCOMES))
        .group_by(TransitionTable.to_state)
    )
    return {str(state): count for state, count in session.execute(statement)}


def _completed_with_ipv6(session: Session) -> int:
    statement = select(func.count()).where(
        SystemTable.state == str(SystemState.COMPLETED), SystemTable.ipv6_address.is_not(None)
    )
    return int(session.scalar(statement) or 0)


def _inflight(session: Session) -> dict[tuple[str, str], int]:
    statement = (
        select(SystemTable.node, SystemTable.state, func.count())
        .where(SystemTable.state.in_([str(state) for state in ACTIVE_PHASE_STATES]))
        .group_by(SystemTable.node, SystemTable.state)
    )
    counts: dict[tuple[str, str], int] = {}
    for node, state, count in session.execute(statement):
        key = (NONE_LABEL if node is None else node, str(phase_in(SystemState(state))))
        counts[key] = counts.get(key, 0) + count
    return counts


def _oldest_moving_age(session: Session, now: datetime) -> float:
    """Seconds since the least recently updated moving system changed; 0 if none is moving."""
    statement = select(func.min(SystemTable.updated_at)).where(
        SystemTable.state.in_([str(state) for state in MOVING_STATES])
    )
    oldest = session.scalar(statement)
    if oldest is None:
        return 0.0
    # SQLite hands back the naive UTC time it stored.
    oldest = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
    return max((now - oldest).total_seconds(), 0.0)
