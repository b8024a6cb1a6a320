"""Taking work: start admitted systems and lease a planned batch.

The scheduler's store side, each function in the caller's transaction:

* ``start_placed`` applies ``Start`` to the ``placed`` systems ``admit`` lets in;
* ``finalize_due`` asks to finalize the systems completed long enough ago
  (``govmig run --finalize-after DAYS``);
* ``claim_batch`` leases a planned batch with compare-and-swap
  (``store.leases.claim``), hands out IPv6 host numbers, builds the executor's
  targets from the rows and each node's ledger usage (a connected platform's
  target from its connect event), and asks the provider's
  precheck about each; a system refused there fails without a playbook run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.engine.context import CauseContext
from orchestrator.engine.lifecycle import Lifecycle
from orchestrator.execution import NodeTarget, NodeWork, SystemTarget
from orchestrator.gates.waves import WavePolicy
from orchestrator.migrations import (
    ACTIVE_PHASE_STATES,
    Phase,
    RequestFinalize,
    Start,
    SystemState,
    states_running,
)
from orchestrator.store import Session, get_node, get_systems, platform_targets
from orchestrator.store import leases as lease_store
from orchestrator.store import systems as systems_store
from orchestrator.worker.scheduling import Batch, Limits, admit
from orchestrator.worker.targets import ipv6_address, system_target
from orchestrator.worker.waves import open_waves

COMPONENT = "worker"
# The provider's check that a system can run ``phase`` here at all: a message when it cannot.
Precheck = Callable[[Phase, SystemTarget], str | None]


@dataclass(frozen=True)
class Claimed:
    """A leased batch: what to run on each node, and what fails without running."""

    batch: Batch
    work: tuple[NodeWork, ...]
    entered: Mapping[str, datetime]
    ipv6: Mapping[str, str]
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def system_ids(self) -> tuple[str, ...]:
        """Every system this batch holds a lease on."""
        return self.batch.system_ids

    @property
    def targets(self) -> tuple[SystemTarget, ...]:
        """The systems that run, whichever node each is on."""
        return tuple(system for _node, systems in self.work for system in systems)


def start_placed(
    session: Session, limits: Limits, *, now: datetime, waves: WavePolicy | None = None
) -> list[str]:
    """Start the ``placed`` systems there is room for, lower waves first; return their ids.

    With ``waves``, only systems whose wave may start (``worker.waves``): the others are held.
    """
    in_flight = lease_store.count_in_states(session, ACTIVE_PHASE_STATES)
    room = limits.max_in_flight - in_flight
    if room <= 0:
        return []
    lifecycle = Lifecycle(session)
    context = CauseContext(component=COMPONENT, note="its wave's turn came")
    placed = lease_store.ready_systems(session, {SystemState.PLACED}, now=now, limit=room)
    if waves is not None and placed:  # nothing placed: nothing to hold, no tally to read
        placed = open_waves(session, lifecycle, placed, waves, now=now, context=context)
    chosen = admit([(r.id, r.wave) for r in placed], in_flight=in_flight, limits=limits)
    lifecycle.prefetch(chosen)
    started = []
    for system_id in chosen:
        row = lifecycle.system(system_id)
        # Another instance may have started it since the read: nothing to refuse then.
        if row is not None and row.state is SystemState.PLACED:
            lifecycle.apply(system_id, Start(), context=context)
            started.append(system_id)
    lifecycle.flush()
    return started


FINALIZER = "finalize-after policy"


def finalize_due(session: Session, after_s: float, *, now: datetime, limit: int = 50) -> list[str]:
    """Ask to finalize the systems completed at least ``after_s`` ago; return their ids."""
    cutoff = now - timedelta(seconds=after_s)
    due = systems_store.unchanged_since(session, SystemState.COMPLETED, cutoff, limit=limit)
    lifecycle = Lifecycle(session)
    lifecycle.prefetch(due)
    note = f"completed over {after_s / 86400:g} days ago"
    context = CauseContext(component=COMPONENT, note=note)
    for system_id in due:
        lifecycle.apply(system_id, RequestFinalize(FINALIZER), context=context)
    lifecycle.flush()
    return due


def platform_node(session: Session, node_id: str) -> NodeTarget | None:
    """A connected platform's target, from its connect event; None without an IPv6 prefix."""
    target = platform_targets(session, node_id).get(node_id)
    if target is None or target.ipv6_prefix is None:
        return None
    return NodeTarget(node_id=node_id, ipv6_prefix=target.ipv6_prefix, hosts=target.hosts)


def claim_batch(
    session: Session,
    batch: Batch,
    *,
    owner: str,
    now: datetime,
    ttl_s: float,
    nodes: Mapping[str, NodeTarget],
    precheck: Precheck,
) -> Claimed | None:
    """Lease ``batch``'s systems still free and in its phase, and build their targets."""
    won = lease_store.claim(
        session,
        batch.system_ids,
        owner=owner,
        states=states_running(batch.phase),
        now=now,
        ttl_s=ttl_s,
    )
    if not won:
        return None
    rows = get_systems(session, won)
    by_node: dict[str | None, list[str]] = defaultdict(list)
    for sid in won:
        by_node[rows[sid].node].append(sid)
    claimed = Batch(batch.phase, tuple(won), tuple(sorted(n for n in by_node if n is not None)))
    entered = {sid: rows[sid].updated_at for sid in won}
    work: list[NodeWork] = []
    ipv6: dict[str, str] = {}
    refused: dict[str, str] = {}
    for node_id, ids in sorted(by_node.items(), key=lambda item: item[0] or ""):
        node = _node_target(session, node_id, nodes)
        usage = get_node(session, node.node_id) if node is not None else None
        if node is None or usage is None:
            reason = (
                f"node {node_id} has no IPv6 prefix in the inventory (nor in a platform's "
                "connect event), so nothing can run there"
            )
            refused.update(dict.fromkeys(ids, reason))
            continue
        # The precheck sees every target; only those it lets through take a host number.
        checked = [system_target(rows[sid], usage=usage, ipv6_index=1) for sid in ids]
        refused.update({t.system_id: why for t in checked if (why := precheck(batch.phase, t))})
        runnable = [t for t in checked if t.system_id not in refused]
        if not runnable:
            continue
        indexes = lease_store.assign_ipv6(session, node.node_id, [t.system_id for t in runnable])
        work.append(
            (
                node,
                tuple(t.model_copy(update={"ipv6_index": indexes[t.system_id]}) for t in runnable),
            )
        )
        ipv6.update((sid, ipv6_address(node.ipv6_prefix, i)) for sid, i in indexes.items())
    return Claimed(claimed, tuple(work), entered, ipv6, refused)


def _node_target(
    session: Session, node_id: str | None, nodes: Mapping[str, NodeTarget]
) -> NodeTarget | None:
    if node_id is None:
        return None
    return nodes.get(node_id) or platform_node(session, node_id)
