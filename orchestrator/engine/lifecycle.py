"""Applying one cause to one stored system: the path every change of a system takes.

``apply_cause`` (or, for a batch in one transaction, a ``Lifecycle``) loads the
system, asks the pure ``apply_transition`` what the cause does, and carries out
the store effects in the machine's order inside the caller's transaction:
``SaveRecord`` (insert or refresh the record), ``ReserveCapacity`` (the store's
compare-and-swap), ``ReleaseCapacity``, ``GrantApproval`` and
``WithdrawApprovals`` (the approvals repository); then it stages the row
(``rows.advance``) and the audit row, which is also the status outbox (every
change of state is announced from there), in the transaction's ``UnitOfWork``.
A ``Refusal`` is audited the same way and returned.

``FindPlacement`` runs at once in the same transaction, as a loop of steps:
the ``LedgerView`` copy of the ledger picks a node with ``place_group`` (the
``--to`` target, else the dependency-group rule ``govmig plan`` uses too, both
held to each system's residency rule, ``PlacementContext.residency``) and
the result is applied as ``Place`` or ``PlacementFailed``. A reservation that
finds the node full after all (another instance reserved first) is a value,
not an error: the ledger is read again and placement retried, at most
``PlacementContext.max_attempts`` times; then the system fails placement with
the node's shortfall as the reason. A transaction that excludes other writers
(SQLite) reads nothing new by retrying, so it does not. The store's swaps lost
to other instances on the way are counted in the caller's ``CasTally``.

A system in a phase state is the phase worker's work; leaving that state
stops its run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import assert_never

from orchestrator.capacity import CapacityShortfall, PlacementOutcome, Unplaceable
from orchestrator.engine.audit import refusal_entry, transition_entry
from orchestrator.engine.context import PLACEMENT_COMPONENT, CauseContext, PlacementContext
from orchestrator.engine.ledger_view import LedgerView, load_ledger_view
from orchestrator.engine.rows import advance, registered_row, request_of, with_record
from orchestrator.engine.unit_of_work import UnitOfWork
from orchestrator.errors import GovmigError, PermanentError
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    Cause,
    FindPlacement,
    GrantApproval,
    Place,
    PlacementFailed,
    Refusal,
    ReleaseCapacity,
    ReserveCapacity,
    SaveRecord,
    Transition,
    WithdrawApprovals,
    apply_transition,
)
from orchestrator.store import (
    CasTally,
    Session,
    SystemRow,
    release_allocation,
    reserve,
    writers_excluded,
)
from orchestrator.store import approvals as approval_store


def apply_cause(
    session: Session,
    system_id: str,
    cause: Cause,
    *,
    context: CauseContext,
    placement: PlacementContext | None = None,
    record: BusinessSystem | None = None,
) -> Transition | Refusal:
    """Apply ``cause`` to ``system_id`` in the session's transaction (``record``: for Register)."""
    lifecycle = Lifecycle(session, placement=placement)
    outcome = lifecycle.apply(system_id, cause, context=context, record=record)
    lifecycle.flush()
    return outcome


@dataclass(frozen=True, slots=True)
class _Step:
    """What one cause did; ``lost``: its reservation found the node full, so nothing was done."""

    outcome: Transition | Refusal
    lost: CapacityShortfall | None = None

    @property
    def finds_placement(self) -> bool:
        """The system was queued: placement runs next, in the same transaction."""
        effects = () if isinstance(self.outcome, Refusal) else self.outcome.effects
        return self.lost is None and any(isinstance(e, FindPlacement) for e in effects)


class Lifecycle:
    """One transaction's changes to systems; call ``flush()`` before committing.

    The rows and audit rows live in a ``UnitOfWork``; placement reads a
    ``LedgerView``, loaded on the first placement and kept in step after.
    ``tally`` counts the ledger's compare-and-swaps lost to other writers.
    """

    def __init__(
        self,
        session: Session,
        *,
        placement: PlacementContext | None = None,
        tally: CasTally | None = None,
    ) -> None:
        self._session = session
        self._tally = tally
        self._work = UnitOfWork(session)
        self._placement = placement if placement is not None else PlacementContext()
        self._view: LedgerView | None = None
        self._isolated = writers_excluded(session)

    def prefetch(self, system_ids: Iterable[str]) -> None:
        """Read the systems among ``system_ids`` not read yet, in one query."""
        self._work.prefetch(system_ids)

    def system(self, system_id: str) -> SystemRow | None:
        """The system as this transaction sees it, or None if it is not registered."""
        return self._work.system(system_id)

    def nodes_changed(self) -> None:
        """A node's capacity or status changed: placement must read the ledger again."""
        self._view = None

    def flush(self) -> None:
        """Write the changed rows and the audit rows (the status outbox) collected so far."""
        self._work.flush()

    def apply(
        self,
        system_id: str,
        cause: Cause,
        *,
        context: CauseContext,
        record: BusinessSystem | None = None,
    ) -> Transition | Refusal:
        """Apply ``cause`` to ``system_id``: decide, carry out the store effects, audit."""
        step = self._step(system_id, cause, context, record)
        if step.lost is not None:  # a caller's own Place, decided on stale usage
            step = self._step(system_id, PlacementFailed(step.lost.message), context)
        if step.finds_placement:
            self._place(system_id, context)
        return step.outcome

    def refuse(self, system_id: str, refusal: Refusal, *, context: CauseContext) -> Refusal:
        """Audit a refusal decided before the state machine (a policy's), like one of its own."""
        self._work.audit(refusal_entry(system_id, self._work.system(system_id), refusal, context))
        return refusal

    def hold(
        self,
        system_id: str,
        reason: str,
        line: str,
        *,
        at: datetime,
        due: datetime | None = None,
    ) -> None:
        """Keep on the system what holds it at a gate, since ``at`` if the reason is new,
        and when to ask its gate again (``due``: None, at its next pass); its next change
        of state clears both.

        Saved with the transaction's other rows. The gate's refused request is
        audited by ``apply``; this is what status and the gauges of waiting systems read.
        """
        row = self._work.system(system_id)
        if row is None or (row.waiting_reason, row.waiting, row.gate_due_at) == (
            reason,
            line,
            due,
        ):
            return
        since = row.waiting_since if row.waiting_reason == reason else at
        held = replace(row, waiting_reason=reason, waiting=line, waiting_since=since)
        self._work.stage(replace(held, gate_due_at=due))

    def _step(
        self,
        system_id: str,
        cause: Cause,
        context: CauseContext,
        record: BusinessSystem | None = None,
    ) -> _Step:
        row = self._work.system(system_id)
        outcome = apply_transition(None if row is None else row.state, cause)
        if isinstance(outcome, Refusal):
            self._work.audit(refusal_entry(system_id, row, outcome, context))
            return _Step(outcome)
        changed = self._carry_out(system_id, row, outcome, cause, context, record)
        if isinstance(changed, CapacityShortfall):
            return _Step(outcome, lost=changed)
        self._work.stage(changed)
        self._work.audit(transition_entry(changed, outcome, cause, context))
        return _Step(outcome)

    def _place(self, system_id: str, context: CauseContext) -> None:
        """Choose a node and reserve it, re-reading the ledger after a lost race."""
        placing = replace(context, component=PLACEMENT_COMPONENT, note=None)
        last: CapacityShortfall | None = None
        for _attempt in range(self._placement.max_attempts):
            fresh = self._view is None
            choice = self._choose(system_id)
            if isinstance(choice, Unplaceable):
                if fresh or self._isolated:
                    failed = PlacementFailed(self._naming_the_pin(system_id, choice.reason))
                    self._step(system_id, failed, placing)
                    return
                self._view = None  # others may have freed room since it was read
                continue
            noted = replace(placing, note=choice.reason)
            last = self._step(system_id, Place(choice.node_id), noted).lost
            if last is None:
                return
        reason = last.message if last is not None else "the ledger kept changing while placing"
        self._step(system_id, PlacementFailed(reason), placing)

    def _naming_the_pin(self, system_id: str, reason: str) -> str:
        """``reason``, saying so when the request named the node: a retry would name it again."""
        pinned = _existing(system_id, self._work.system(system_id)).target_node
        if pinned is None:
            return reason
        return (
            f"{reason} (node {pinned} was named with --to, and a retry names it again: "
            "migrate with another --to, or none)"
        )

    def _choose(self, system_id: str) -> PlacementOutcome:
        """Where the system goes, by the group rule, on this transaction's ledger view."""
        view = self._ledger_view()
        row = _existing(system_id, self._work.system(system_id))
        others = view.unplaced_group(system_id)
        self._work.prefetch(others)
        rules = self._placement.residency  # every member's rule, the one placed and the rest
        unplaced = [request_of(r, rules) for i in others if (r := self._work.system(i)) is not None]
        policy = self._placement.policy
        return view.choose(request_of(row, rules), unplaced, policy, target=row.target_node)

    def _carry_out(
        self,
        system_id: str,
        row: SystemRow | None,
        transition: Transition,
        cause: Cause,
        context: CauseContext,
        record: BusinessSystem | None,
    ) -> SystemRow | CapacityShortfall:
        """The row after ``transition``'s store effects, or the shortfall that stopped them."""
        node = None if row is None else row.node
        for effect in transition.effects:
            match effect:
                case SaveRecord():
                    row = self._with_record(system_id, row, record)
                case ReserveCapacity(node=target):
                    lost = self._reserve(_existing(system_id, row), target)
                    if lost is not None:
                        return lost
                    node = target
                case ReleaseCapacity():
                    self._release(system_id)
                    node = None
                case FindPlacement():
                    pass  # ``apply`` places once the queued row is staged
                case GrantApproval() | WithdrawApprovals():
                    self._record_approval(system_id, effect, context)
                case _:  # a new effect the engine was not taught: never drop it silently
                    assert_never(effect)
        now = datetime.now(UTC)
        return advance(_existing(system_id, row), transition, cause, node=node, now=now)

    def _record_approval(
        self, system_id: str, effect: GrantApproval | WithdrawApprovals, context: CauseContext
    ) -> None:
        if isinstance(effect, WithdrawApprovals):
            approval_store.withdraw(self._session, system_id, by=effect.withdrawn_by, at=context.at)
            return
        self._work.insert_new()  # the approval refers to the system's row
        approval_store.grant(
            self._session,
            system_id,
            approver=effect.approved_by,
            change_ref=effect.change_ref,
            comment=effect.comment,
            at=context.at,
        )

    def _with_record(
        self, system_id: str, row: SystemRow | None, record: BusinessSystem | None
    ) -> SystemRow:
        if record is None or record.id != system_id:
            raise PermanentError(f"registering {system_id} needs its own record")
        if self._view is not None:
            self._view.groups.update(system_id, record.depends_on)
        if row is None:
            return registered_row(record, datetime.now(UTC))
        return with_record(row, record)

    def _reserve(self, row: SystemRow, node_id: str) -> CapacityShortfall | None:
        self._work.insert_new()  # the allocation refers to the system's row
        amounts = request_of(row).amounts
        outcome = reserve(self._session, row.id, node_id, amounts, tally=self._tally)
        if isinstance(outcome, CapacityShortfall):
            self._view = None  # it was stale: read the ledger again before choosing again
            return outcome
        self._update_view(lambda view: view.reserved(row.id, node_id, amounts))
        return None

    def _release(self, system_id: str) -> None:
        release_allocation(self._session, system_id)
        self._update_view(lambda view: view.released(system_id))

    def _update_view(self, change: Callable[[LedgerView], None]) -> None:
        if self._view is None:
            return
        try:
            change(self._view)
        except GovmigError:  # the copy disagrees with the store: drop it, read again later
            self._view = None

    def _ledger_view(self) -> LedgerView:
        if self._view is None:
            self._work.insert_new()  # so the ledger read sees this transaction's registrations
            view = load_ledger_view(self._session)
            for row in self._work.unsaved():  # and records re-registered but not saved yet
                view.groups.update(row.id, request_of(row).depends_on)
            self._view = view
        return self._view


def _existing(system_id: str, row: SystemRow | None) -> SystemRow:
    if row is None:
        raise PermanentError(f"unknown system {system_id!r}: it was never registered")
    return row
