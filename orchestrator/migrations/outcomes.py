"""What the state machine answers: a ``Transition`` with effects, or a ``Refusal``.

Effects tell the caller what to do and in which order; the machine does none
of it. The engine carries out every effect, in the order given, and treats an
effect it does not know as an error:

1. ``SaveRecord``, ``ReserveCapacity``, ``ReleaseCapacity``, ``GrantApproval``
   and ``WithdrawApprovals`` belong in the same store transaction as the new
   state (a reservation that loses its compare-and-swap race means the
   transition is not committed either);
2. ``FindPlacement`` last: its outcome comes back as ``Place`` or
   ``PlacementFailed``.

What is not an effect: the status event (every change of state is audited, and
the audit row is the status outbox) and the phase to run (a state in
``PHASE_STATES`` is the phase worker's work, and leaving it cancels the run).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.migrations.causes import Cause
from orchestrator.migrations.states import SystemState


@dataclass(frozen=True, slots=True)
class SaveRecord:
    """Store the system's record carried by the ``registered`` event."""


@dataclass(frozen=True, slots=True)
class ReserveCapacity:
    """Reserve the system's vCPU, memory and storage on ``node``, all or nothing."""

    node: str


@dataclass(frozen=True, slots=True)
class ReleaseCapacity:
    """Give back whatever the system holds on its node (a no-op if it holds nothing)."""


@dataclass(frozen=True, slots=True)
class FindPlacement:
    """Choose a node for the system, honouring the latest accepted request's target and wave."""


@dataclass(frozen=True, slots=True)
class GrantApproval:
    """Record an approval of the system's cutover: who, under which change, what they added."""

    approved_by: str
    change_ref: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class WithdrawApprovals:
    """Withdraw every approval of the system not withdrawn yet, by ``withdrawn_by``."""

    withdrawn_by: str


Effect = (
    SaveRecord
    | ReserveCapacity
    | ReleaseCapacity
    | FindPlacement
    | GrantApproval
    | WithdrawApprovals
)


@dataclass(frozen=True, slots=True)
class Transition:
    """A legal change: ``from_state`` is ``None`` when the system was not known yet."""

    from_state: SystemState | None
    to_state: SystemState
    reason: str
    effects: tuple[Effect, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the state itself changes (a re-registration may keep it)."""
        return self.from_state is not self.to_state


@dataclass(frozen=True, slots=True)
class Refusal:
    """An illegal request; ``reason`` is one line an operator can act on."""

    state: SystemState | None
    cause: Cause
    reason: str


Outcome = Transition | Refusal
