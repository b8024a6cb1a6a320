"""Reading one ``FleetSnapshot`` from the state store, at scrape time.

The I/O half of the fleet collector: ``read_snapshot`` takes a session the
collector opened for this scrape and runs a handful of grouped reads. Every read
is a store repository (``node_usage``, ``count_by_state`` and the grouped reads
of ``orchestrator.store.aggregates``); this module only turns their answers into
metric labels and units. The collector's session is rolled back when it closes.

Completed systems with an IPv6 address count ``systems.ipv6_address``, which
the phase worker writes when verify reached the system by name over IPv6 (and
clears on rollback). The connected PRD platforms are ledger rows of their own
kind (``node_usage(kind=PLATFORM)``), read apart from the 14 nodes; the collector
adds every PRD platform's id from the inventory, so one not connected reads 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from orchestrator.capacity import NodeKind, NodeStatus, NodeUsage, ResourceClass
from orchestrator.engine.context import CAUSE_NAMES
from orchestrator.inventory.models import GB
from orchestrator.migrations import Approve
from orchestrator.migrations.states import ACTIVE_PHASE_STATES, SystemState, phase_in
from orchestrator.observability.families import (
    NONE_LABEL,
    OUTCOMES,
    FleetSnapshot,
    NodeFigures,
    Resource,
)
from orchestrator.store import Session, count_by_state, node_usage
from orchestrator.store import awaiting as awaiting_store
from orchestrator.store import waves as wave_store
from orchestrator.store.aggregates import (
    count_approvals,
    count_by_node,
    count_by_wave,
    count_completed_with_ipv6,
    count_refused,
    count_rehearsals,
    count_transitions_from,
    count_transitions_into,
    oldest_replica,
    oldest_update,
    waiting_by_reason,
)

# States in which a system should be moving on its own: a playbook runs, or is about to.
# ``queued`` is not among them: waiting there for capacity is normal, not stuck.
MOVING_STATES: Final = frozenset({SystemState.PLACED, *ACTIVE_PHASE_STATES})
# Systems waiting to cut over, whose replica should stay fresh.
READY_STATES: Final = frozenset({SystemState.READY, SystemState.REHEARSING})


def read_snapshot(session: Session, *, now: datetime) -> FleetSnapshot:
    """Every fleet figure the collector exports, as the store holds it at ``now``."""
    return FleetSnapshot(
        nodes=tuple(node_figures(usage) for usage in node_usage(session)),
        platforms=tuple(node_figures(usage) for usage in node_usage(session, NodeKind.PLATFORM)),
        systems={str(state): count for state, count in count_by_state(session).items()},
        systems_by_wave=_systems_by_wave(session),
        migrations=_migration_outcomes(session),
        inflight=_inflight(session),
        oldest_active_age_s=_oldest_moving_age(session, now),
        systems_ipv6=count_completed_with_ipv6(session),
        reverts=_reverts(session),
        rehearsals={
            "passed" if passed else "failed": count
            for passed, count in count_rehearsals(session).items()
        },
        oldest_ready_replica_age_s=_age(oldest_replica(session, READY_STATES), now),
        approvals=_approvals(session),
        waves=_waves(session),
        waiting={
            reason: (count, _age(since, now))
            for reason, (count, since) in waiting_by_reason(session).items()
        },
        awaiting_registration=_awaiting_registration(session, now),
    )


def _awaiting_registration(session: Session, now: datetime) -> tuple[int, float]:
    count, oldest = awaiting_store.count_awaiting(session)
    return count, _age(oldest, now)


def node_figures(usage: NodeUsage) -> NodeFigures:
    """One node's (or platform's) ledger row in exposed units: vCPU, and decimal bytes for GB."""
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
    return {
        (NONE_LABEL if wave is None else str(wave), str(state)): count
        for (wave, state), count in count_by_wave(session).items()
    }


def _migration_outcomes(session: Session) -> Mapping[str, int]:
    """Audited transitions into each terminal state: the audit is append-only, so they only grow."""
    outcomes = [SystemState(outcome) for outcome in OUTCOMES]
    return {str(state): count for state, count in count_transitions_into(session, outcomes).items()}


def _inflight(session: Session) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for (node, state), count in count_by_node(session, ACTIVE_PHASE_STATES).items():
        key = (NONE_LABEL if node is None else node, str(phase_in(state)))
        counts[key] = counts.get(key, 0) + count
    return counts


def _oldest_moving_age(session: Session, now: datetime) -> float:
    """Seconds since the least recently updated moving system changed; 0 if none is moving."""
    return _age(oldest_update(session, MOVING_STATES), now)


def _age(then: datetime | None, now: datetime) -> float:
    return 0.0 if then is None else max((now - then).total_seconds(), 0.0)


def _approvals(session: Session) -> dict[str, int]:
    """Approvals granted and withdrawn (the approvals table), and refused (the audit)."""
    granted, withdrawn = count_approvals(session)
    refused = count_refused(session, CAUSE_NAMES[Approve])
    return {"granted": granted, "refused": refused, "withdrawn": withdrawn}


def _waves(session: Session) -> dict[int, tuple[float, bool]]:
    """Each wave's share gone badly, and whether a halt not resumed holds the waves after it."""
    halts = wave_store.halts(session)
    return {
        wave: (tally.share_bad, wave in halts and halts[wave].resumed_at is None)
        for wave, tally in wave_store.wave_tallies(session).items()
    }


def _reverts(session: Session) -> dict[str, int]:
    """Reverts that ended: in rolled_back (reverted) or in failed."""
    ended = count_transitions_from(session, SystemState.REVERTING)
    results = {SystemState.ROLLED_BACK: "reverted", SystemState.FAILED: "failed"}
    return {results[state]: count for state, count in ended.items() if state in results}
