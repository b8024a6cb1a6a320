"""How a system's stored row follows a transition: pure, so every rule is in one place.

After the store effects of a transition are carried out, ``advance`` gives the
row to save:

* ``state`` is the new state and ``phase`` the phase that state runs (a worker
  picks up systems in phase states and runs that phase's playbook);
* ``node`` is where the system holds capacity: set by a reservation, cleared
  by a release, otherwise kept;
* a migration request records its ``target_node`` (honoured by every placement
  of the run, retries included), ``wave``, ``requested_by`` and
  ``migration_requested_by`` (whom an approver must differ from); any other
  request (an approval too) updates ``requested_by`` only: it names whoever
  made the latest accepted request;
* ``last_error`` keeps the reason of the latest placement or phase failure and
  is cleared when the system is queued again;
* a schedule sets (or clears) ``cutover_at``, the moment its cutover waits for;
* ``waiting`` (what holds it at a gate, ``Lifecycle.hold``) is cleared when its
  state changes: the gate held it in the state it leaves; so is ``gate_due_at``,
  which an approval, a rejection or a schedule of a ready system sets to ``now``:
  what its cutover gates weigh changed, so the worker asks them again at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from orchestrator.capacity import Resources, SystemRequest
from orchestrator.engine.context import requester
from orchestrator.inventory.models import BusinessSystem
from orchestrator.inventory.residency import ResidencyRules
from orchestrator.migrations import (
    Approve,
    Cause,
    PhaseFailed,
    PlacementFailed,
    Reject,
    RequestMigration,
    ScheduleCutover,
    SystemState,
    Transition,
    phase_in,
)
from orchestrator.store import SystemRow


def advance(
    row: SystemRow, transition: Transition, cause: Cause, *, node: str | None, now: datetime
) -> SystemRow:
    """``row`` once ``transition`` (decided on ``cause``) is done; ``node`` after its effects."""
    changes: dict[str, Any] = {
        "state": transition.to_state,
        "phase": phase_in(transition.to_state),
        "node": node,
    }
    if isinstance(cause, RequestMigration):
        changes |= {
            "target_node": cause.target_node,
            "wave": cause.wave,
            "migration_requested_by": cause.requested_by or None,
        }
    asked_by = requester(cause)
    if asked_by is not None:
        changes["requested_by"] = asked_by
    if isinstance(cause, ScheduleCutover):
        changes["cutover_at"] = cause.at
    if transition.to_state is not row.state:  # a gate held it in the state it leaves
        changes |= {"waiting_reason": None, "waiting": None, "waiting_since": None}
        changes["gate_due_at"] = None
    elif transition.to_state is SystemState.READY and isinstance(cause, _WEIGHED_BY_GATES):
        changes["gate_due_at"] = now
    if isinstance(cause, PlacementFailed | PhaseFailed):
        changes["last_error"] = transition.reason
    elif transition.to_state is SystemState.QUEUED:
        changes["last_error"] = None
    return replace(row, **changes)


# Requests that change what a ready system's cutover gates weigh.
_WEIGHED_BY_GATES = (Approve, Reject, ScheduleCutover)


def same_content(one: SystemRow, other: SystemRow) -> bool:
    """True when saving ``other`` over ``one`` would change nothing but the timestamp."""
    return _content(one) == _content(other)


def _content(row: SystemRow) -> tuple[Any, ...]:
    return (
        row.record,
        row.city,
        row.state,
        row.node,
        row.wave,
        row.phase,
        row.last_error,
        row.requested_by,
        row.migration_requested_by,
        row.waiting_reason,
        row.waiting,
        row.waiting_since,
        row.cutover_at,
        row.gate_due_at,
        row.target_node,
    )


def request_of(row: SystemRow, rules: ResidencyRules | None = None) -> SystemRequest:
    """What placement needs of a stored system: its city, sizes and dependencies, and with
    ``rules`` where its data class lets it go."""
    record = row.record
    data_class = record.get("data_class")
    return SystemRequest(
        id=row.id,
        city=row.city,
        size=Resources.from_fields(record),
        depends_on=tuple(record.get("depends_on") or ()),
        residency=None if rules is None else rules.residency_of(data_class, row.city),
    )


def registered_row(record: BusinessSystem, at: datetime) -> SystemRow:
    """The row of a system registered for the first time (not stored yet: version 1)."""
    return SystemRow(
        id=record.id,
        record=record.model_dump(mode="json"),
        city=record.city,
        state=SystemState.REGISTERED,
        node=None,
        wave=None,
        phase=None,
        last_error=None,
        requested_by=None,
        updated_at=at,
        version=1,
    )


def with_record(row: SystemRow, record: BusinessSystem) -> SystemRow:
    """``row`` carrying a re-registered ``record``."""
    return replace(row, record=record.model_dump(mode="json"), city=record.city)
