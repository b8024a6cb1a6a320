"""The store side of one playbook batch: start, claim, and apply the outcomes.

Called by the phase worker (``orchestrator.worker.phase_worker``), each function in
the caller's transaction:

* ``start_placed`` applies ``Start`` to the ``placed`` systems ``admit`` lets in;
* ``claim_batch`` leases a planned batch with compare-and-swap
  (``store.leases.claim``), hands out IPv6 host numbers, and builds the
  executor's targets from the rows and the node's ledger usage;
* ``apply_outcomes`` gives the leases back and applies each system's
  ``PhaseSucceeded``/``PhaseFailed`` with ``Lifecycle`` (so state, ledger and
  audit change together), recording the IPv6 address when cutover succeeds.
  A system whose lease was lost meanwhile is left to its new holder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.engine.context import CauseContext
from orchestrator.engine.lifecycle import Lifecycle
from orchestrator.execution import HostOutcome, NodeTarget, SystemTarget
from orchestrator.migrations import (
    ACTIVE_PHASE_STATES,
    PHASE_STATES,
    Cause,
    Phase,
    PhaseFailed,
    PhaseSucceeded,
    Refusal,
    Start,
    SystemState,
    Transition,
)
from orchestrator.store import Session, get_node, get_systems
from orchestrator.store import leases as lease_store
from orchestrator.worker.scheduling import Batch, Limits, admit
from orchestrator.worker.targets import FaultPlan, ipv6_address, system_target

COMPONENT = "worker"
# A check that a system can run ``phase`` here at all: a message when it cannot.
Precheck = Callable[[Phase, str], str | None]
PRECHECK_TASK = "Check the system can run here"


@dataclass(frozen=True)
class Claimed:
    """A leased batch: what to run, and what fails without running."""

    batch: Batch
    node: NodeTarget | None
    targets: tuple[SystemTarget, ...]
    entered: Mapping[str, datetime]
    ipv6: Mapping[str, str]
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def system_ids(self) -> tuple[str, ...]:
        """Every system this batch holds a lease on."""
        return self.batch.system_ids


def start_placed(session: Session, limits: Limits, *, now: datetime) -> list[str]:
    """Start the ``placed`` systems there is room for, lower waves first; return their ids."""
    in_flight = lease_store.count_in_states(session, ACTIVE_PHASE_STATES)
    room = limits.max_in_flight - in_flight
    if room <= 0:
        return []
    placed = lease_store.ready_systems(session, {SystemState.PLACED}, now=now, limit=room)
    chosen = admit([(r.id, r.wave) for r in placed], in_flight=in_flight, limits=limits)
    lifecycle = Lifecycle(session)
    lifecycle.prefetch(chosen)
    context = CauseContext(component=COMPONENT, note="its wave's turn came")
    started = []
    for system_id in chosen:
        row = lifecycle.system(system_id)
        # Another instance may have started it since the read: nothing to refuse then.
        if row is not None and row.state is SystemState.PLACED:
            lifecycle.apply(system_id, Start(), context=context)
            started.append(system_id)
    lifecycle.flush()
    return started


def claim_batch(
    session: Session,
    batch: Batch,
    *,
    owner: str,
    now: datetime,
    ttl_s: float,
    nodes: Mapping[str, NodeTarget],
    faults: FaultPlan,
    precheck: Precheck | None = None,
) -> Claimed | None:
    """Lease ``batch``'s systems still free and in its phase, and build their targets."""
    state = PHASE_STATES[batch.phase]
    won = lease_store.claim(
        session, batch.system_ids, owner=owner, state=state, now=now, ttl_s=ttl_s
    )
    if not won:
        return None
    claimed = Batch(batch.node, batch.phase, tuple(won))
    rows = get_systems(session, won)
    entered = {sid: rows[sid].updated_at for sid in won}
    node = nodes.get(batch.node)
    usage = get_node(session, batch.node)
    if node is None or usage is None:
        reason = f"node {batch.node} has no IPv6 prefix in the inventory, so nothing can run there"
        return Claimed(claimed, None, (), entered, {}, dict.fromkeys(won, reason))
    refused = {sid: why for sid in won if precheck and (why := precheck(batch.phase, sid))}
    runnable = [sid for sid in won if sid not in refused]
    indexes = lease_store.assign_ipv6(session, batch.node, runnable) if runnable else {}
    targets = tuple(
        system_target(
            rows[sid],
            usage=usage,
            ipv6_index=indexes[sid],
            fail_phase=faults.take(sid, batch.phase),
        )
        for sid in runnable
    )
    ipv6 = {sid: ipv6_address(node.ipv6_prefix, index) for sid, index in indexes.items()}
    return Claimed(claimed, node, targets, entered, ipv6, refused)


def cause_for(phase: Phase, outcome: HostOutcome) -> Cause:
    """The state machine's cause for one system's outcome of ``phase``."""
    if outcome.ok:
        return PhaseSucceeded(phase)
    task = outcome.failed_task or "(no task reported)"
    return PhaseFailed(phase, task, outcome.message or "the playbook failed")


def apply_outcomes(
    session: Session,
    claimed: Claimed,
    outcomes: Mapping[str, HostOutcome],
    *,
    owner: str,
    note: str,
) -> dict[str, Transition | Refusal]:
    """Release the batch's leases and apply each held system's outcome; return what happened."""
    held = lease_store.release(session, claimed.system_ids, owner=owner)
    lifecycle = Lifecycle(session)
    lifecycle.prefetch(held)
    context = CauseContext(component=COMPONENT, note=note)
    phase = claimed.batch.phase
    applied: dict[str, Transition | Refusal] = {}
    for system_id in sorted(held):
        outcome = outcomes.get(system_id) or HostOutcome(
            system_id, ok=False, failed_task=PRECHECK_TASK, message="no outcome was reported"
        )
        result = lifecycle.apply(system_id, cause_for(phase, outcome), context=context)
        applied[system_id] = result
        if isinstance(result, Transition):
            _record_address(session, system_id, result, claimed.ipv6.get(system_id))
    lifecycle.flush()
    return applied


def _record_address(
    session: Session, system_id: str, transition: Transition, address: str | None
) -> None:
    # Cutover succeeded exactly when the system moves on to verifying.
    if transition.to_state is SystemState.VERIFYING:
        lease_store.set_ipv6_address(session, system_id, address)
    elif transition.to_state is SystemState.ROLLED_BACK:
        lease_store.set_ipv6_address(session, system_id, None)


def refused_outcomes(claimed: Claimed) -> dict[str, HostOutcome]:
    """The outcomes of the systems that failed before any playbook ran."""
    return {
        sid: HostOutcome(sid, ok=False, failed_task=PRECHECK_TASK, message=why)
        for sid, why in claimed.refused.items()
    }
