"""What the state machine answers: a ``Transition`` with effects, or a ``Refusal``.

Effects tell the caller what to do and in which order; the machine does none
of it. The caller applies them in the order given:

1. ``SaveRecord``, ``ReserveCapacity`` and ``ReleaseCapacity`` belong in the
   same store transaction as the new state (a reservation that loses its
   compare-and-swap race means the transition is not committed either);
2. ``PublishStatus`` once that transaction is durable;
3. ``FindPlacement``, ``StopPhase`` and ``RunPhase`` last: they start work whose
   outcome comes back later as a new cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.migrations.causes import Cause
from orchestrator.migrations.states import Phase, SystemState


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
class PublishStatus:
    """Publish one status event for the state change on the status topic."""


@dataclass(frozen=True, slots=True)
class FindPlacement:
    """Choose a node for the system, honouring the latest accepted request's target and wave."""


@dataclass(frozen=True, slots=True)
class StopPhase:
    """Stop the running playbook of ``phase``; its late report will be refused as stale."""

    phase: Phase


@dataclass(frozen=True, slots=True)
class RunPhase:
    """Run the playbook of ``phase`` (``PLAYBOOKS[phase]``)."""

    phase: Phase


Effect = (
    SaveRecord
    | ReserveCapacity
    | ReleaseCapacity
    | PublishStatus
    | FindPlacement
    | StopPhase
    | RunPhase
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
