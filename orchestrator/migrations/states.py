"""The states of one system's migration and the phases that move it along.

Pure data at the bottom of the core: the transition function
(``orchestrator.migrations.machine``) decides *when* a state changes, the
execution layer reads ``PLAYBOOKS`` to know *which* playbook runs a phase, and
crash recovery reads ``phase_in`` to know which (idempotent) phase to re-run
for a system found in an in-progress state.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class SystemState(StrEnum):
    """Where one business system stands; the values are the contract's state names."""

    REGISTERED = "registered"
    QUEUED = "queued"
    PLACED = "placed"
    PREFLIGHT = "preflight"
    PROVISIONING = "provisioning"
    REPLICATING = "replicating"
    READY = "ready"
    REHEARSING = "rehearsing"
    CUTOVER = "cutover"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    REVERTING = "reverting"
    FINALIZING = "finalizing"
    FINALIZED = "finalized"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Phase(StrEnum):
    """One step of the migration, run by exactly one playbook."""

    PREFLIGHT = "preflight"
    PROVISION = "provision"
    REPLICATE = "replicate"
    CUTOVER = "cutover"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    REHEARSE = "rehearse"
    REVERT = "revert"
    FINALIZE = "finalize"


# The only place a phase becomes a file name: events never name playbooks.
PLAYBOOKS: Mapping[Phase, str] = MappingProxyType({phase: f"{phase}.yml" for phase in Phase})

# The state a system is in while a phase's playbook runs. A system enters the
# state *before* the playbook starts, so a restart knows what to re-run.
PHASE_STATES: Mapping[Phase, SystemState] = MappingProxyType(
    {
        Phase.PREFLIGHT: SystemState.PREFLIGHT,
        Phase.PROVISION: SystemState.PROVISIONING,
        Phase.REPLICATE: SystemState.REPLICATING,
        Phase.CUTOVER: SystemState.CUTOVER,
        Phase.VERIFY: SystemState.VERIFYING,
        Phase.ROLLBACK: SystemState.ROLLING_BACK,
        Phase.REHEARSE: SystemState.REHEARSING,
        Phase.REVERT: SystemState.REVERTING,
        Phase.FINALIZE: SystemState.FINALIZING,
    }
)
# A ready system waits for its cutover, and delta passes go on meanwhile (warm
# replication): the replicate playbook runs in ``ready`` too, when a pass is due.
_STATE_PHASES: Mapping[SystemState, Phase] = MappingProxyType(
    {**{state: phase for phase, state in PHASE_STATES.items()}, SystemState.READY: Phase.REPLICATE}
)

# The forward path, in order; rollback, rehearsal, revert and finalize are not on it.
FORWARD_PHASES: tuple[Phase, ...] = (
    Phase.PREFLIGHT,
    Phase.PROVISION,
    Phase.REPLICATE,
    Phase.CUTOVER,
    Phase.VERIFY,
)

# A migration run ends in one of these. ``completed`` can still be reverted or
# finalized and ``rolled_back``/``failed`` retried, but nothing happens until
# someone asks; ``finalized`` is the end of the way back.
TERMINAL_STATES: frozenset[SystemState] = frozenset(
    {
        SystemState.COMPLETED,
        SystemState.FINALIZED,
        SystemState.ROLLED_BACK,
        SystemState.FAILED,
        SystemState.CANCELLED,
    }
)

# States in which a playbook is (or, after a crash, should be) running; ``ready``
# runs one only when a pass is due, so it is not among them.
ACTIVE_PHASE_STATES: frozenset[SystemState] = frozenset(PHASE_STATES.values())

# States in which the system holds its reservation on a node. ``failed`` keeps
# it: the rollback did not finish, so the target may still hold partial work.
CAPACITY_HOLDING_STATES: frozenset[SystemState] = frozenset(
    {
        SystemState.PLACED,
        SystemState.PREFLIGHT,
        SystemState.PROVISIONING,
        SystemState.REPLICATING,
        SystemState.READY,
        SystemState.REHEARSING,
        SystemState.CUTOVER,
        SystemState.VERIFYING,
        SystemState.COMPLETED,
        SystemState.REVERTING,
        SystemState.FINALIZING,
        SystemState.FINALIZED,
        SystemState.ROLLING_BACK,
        SystemState.FAILED,
    }
)


def is_terminal(state: SystemState) -> bool:
    """True when a migration run has ended in ``state``."""
    return state in TERMINAL_STATES


def holds_capacity(state: SystemState) -> bool:
    """True when a system in ``state`` keeps a reservation on its node."""
    return state in CAPACITY_HOLDING_STATES


def phase_in(state: SystemState) -> Phase | None:
    """The phase whose playbook runs while a system is in ``state``, if any."""
    return _STATE_PHASES.get(state)


def states_running(phase: Phase) -> frozenset[SystemState]:
    """The states in which ``phase``'s playbook runs (``replicate``: replicating and ready)."""
    return frozenset(state for state, running in _STATE_PHASES.items() if running is phase)


def next_phase(state: SystemState) -> Phase | None:
    """The forward phase that follows ``state`` once its own work succeeds.

    ``placed`` is followed by ``preflight``, ``preflight`` by ``provision`` and so
    on; ``verifying`` is the last, and states off the forward path have none.
    """
    if state is SystemState.PLACED:
        return FORWARD_PHASES[0]
    if state is SystemState.READY:  # it leaves only by a cutover its gates allow
        return None
    current = phase_in(state)
    if current is None or current not in FORWARD_PHASES:
        return None
    index = FORWARD_PHASES.index(current) + 1
    return FORWARD_PHASES[index] if index < len(FORWARD_PHASES) else None
