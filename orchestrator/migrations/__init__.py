"""Migrations: the life of one system as a pure state machine.

What it is: the states and phases (``states``), the causes the reactor feeds
in (``causes``), the transitions and effects it answers with (``outcomes``),
and the function that decides (``machine.apply_transition``).

What it is not: it stores nothing, publishes nothing and runs no playbook.
It imports only the standard library (import-linter keeps it that way).
"""

from orchestrator.migrations.causes import (
    CAUSE_TYPES,
    Cause,
    PhaseFailed,
    PhaseSucceeded,
    Place,
    PlacementFailed,
    Register,
    Replicated,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
    Start,
    StartCutover,
)
from orchestrator.migrations.machine import apply_transition
from orchestrator.migrations.outcomes import (
    Effect,
    FindPlacement,
    Outcome,
    Refusal,
    ReleaseCapacity,
    ReserveCapacity,
    SaveRecord,
    Transition,
)
from orchestrator.migrations.states import (
    ACTIVE_PHASE_STATES,
    CAPACITY_HOLDING_STATES,
    FORWARD_PHASES,
    PHASE_STATES,
    PLAYBOOKS,
    TERMINAL_STATES,
    Phase,
    SystemState,
    holds_capacity,
    is_terminal,
    next_phase,
    phase_in,
    states_running,
)

__all__ = [
    "ACTIVE_PHASE_STATES",
    "CAPACITY_HOLDING_STATES",
    "CAUSE_TYPES",
    "FORWARD_PHASES",
    "PHASE_STATES",
    "PLAYBOOKS",
    "TERMINAL_STATES",
    "Cause",
    "Effect",
    "FindPlacement",
    "Outcome",
    "Phase",
    "PhaseFailed",
    "PhaseSucceeded",
    "Place",
    "PlacementFailed",
    "Refusal",
    "Register",
    "ReleaseCapacity",
    "Replicated",
    "RequestCancel",
    "RequestFinalize",
    "RequestMigration",
    "RequestRehearsal",
    "RequestRetry",
    "RequestRevert",
    "RequestRollback",
    "ReserveCapacity",
    "SaveRecord",
    "Start",
    "StartCutover",
    "SystemState",
    "Transition",
    "apply_transition",
    "holds_capacity",
    "is_terminal",
    "next_phase",
    "phase_in",
    "states_running",
]
