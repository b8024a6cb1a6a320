"""What the engine needs to know besides the cause itself: who, why, and how to place.

``CauseContext`` travels with every cause into the audit row (and so into the
status event); ``PlacementContext`` says how a queued system finds its node.
``cause_name``, ``requester`` and ``change_ref`` read the causes the same way
everywhere.
Pure values and functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.capacity import PlacementPolicy
from orchestrator.inventory.residency import ResidencyRules
from orchestrator.migrations import (
    Approve,
    Cause,
    PhaseFailed,
    PhaseSucceeded,
    Place,
    PlacementFailed,
    Register,
    Reject,
    Replicated,
    RequestCancel,
    RequestFinalize,
    RequestMigration,
    RequestRehearsal,
    RequestRetry,
    RequestRevert,
    RequestRollback,
    ScheduleCutover,
    Start,
    StartCutover,
)

# The audit's ``cause`` column and the refusal event's ``request`` field.
CAUSE_NAMES: dict[type[Cause], str] = {
    Register: "register",
    RequestMigration: "migrate",
    Place: "place",
    PlacementFailed: "placement_failed",
    Start: "start",
    PhaseSucceeded: "phase_succeeded",
    PhaseFailed: "phase_failed",
    Replicated: "replicated",
    StartCutover: "start_cutover",
    RequestCancel: "cancel",
    RequestRetry: "retry",
    RequestRollback: "rollback",
    RequestRevert: "revert",
    RequestRehearsal: "rehearse",
    RequestFinalize: "finalize",
    Approve: "approve",
    Reject: "reject",
    ScheduleCutover: "schedule",
}
PLACEMENT_COMPONENT = "placement"
# The causes a person (or a tool) asks for, each carrying who asked.
REQUEST_CAUSES = (
    RequestMigration,
    RequestCancel,
    RequestRetry,
    RequestRollback,
    RequestRevert,
    RequestRehearsal,
    RequestFinalize,
    ScheduleCutover,
)


@dataclass(frozen=True, slots=True)
class CauseContext:
    """Where a cause came from: the component deciding, and the inbound event if any.

    ``note`` is added to the audit's reason in parentheses: a requester's own
    words, or which placement rule chose the node. ``change_ref`` is the change
    (ticket) the inbound request named, if any.
    """

    component: str
    event_source: str | None = None
    event_id: str | None = None
    note: str | None = None
    change_ref: str | None = None
    at: datetime | None = None
    # What the phase behind the cause measured, carried into its status event.
    downtime_s: float | None = None
    bytes_sent: int | None = None


@dataclass(frozen=True, slots=True)
class PlacementContext:
    """How placement chooses, where each data class may go, and how often it re-reads the
    ledger after losing a race."""

    policy: PlacementPolicy = field(default_factory=PlacementPolicy)
    residency: ResidencyRules = field(default_factory=ResidencyRules)
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")


def cause_name(cause: Cause) -> str:
    """The short name of a cause, e.g. ``migrate`` or ``phase_failed``."""
    return CAUSE_NAMES[type(cause)]


def requester(cause: Cause) -> str | None:
    """Who asked for ``cause``, when a person (or a tool) did: an approver too."""
    if isinstance(cause, REQUEST_CAUSES):
        return cause.requested_by or None
    if isinstance(cause, Approve):
        return cause.approved_by or None
    if isinstance(cause, Reject):
        return cause.rejected_by or None
    return None


def change_ref(cause: Cause, context: CauseContext) -> str | None:
    """The change a cause is under: an approval's or a rejection's own, else the one its
    request named (carried by the context)."""
    return cause.change_ref if isinstance(cause, Approve | Reject) else context.change_ref
