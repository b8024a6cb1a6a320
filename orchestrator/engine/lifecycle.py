"""Applying one cause to one stored system: the path every change of a system takes.

``apply_cause`` (or, for a batch in one transaction, a ``Lifecycle``) loads the
system, asks the pure ``apply_transition`` what the cause does, and carries out
the store effects in the machine's order inside the caller's transaction:
``SaveRecord`` (insert or refresh the record), ``ReserveCapacity`` (the store's
compare-and-swap), ``ReleaseCapacity``; then it saves the row (``rows.advance``)
and appends the audit row, which is also the status outbox: every change of
state is announced from there. A ``Refusal`` is audited the same way and returned.

``FindPlacement`` runs at once in the same transaction: the ``Fleet`` copy of
the ledger picks a node (the ``--to`` target, else the node of the system's
dependency group, else its own city, else the policy's best) and the result is
applied as ``Place`` or ``PlacementFailed``. If the reservation finds the node
full after all (another instance reserved first), the ledger is read again and
placement is retried, at most ``PlacementContext.max_attempts`` times; then the
system fails placement with the node's shortfall as the reason.

A system in a phase state is the phase worker's work; leaving that state
stops its run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from orchestrator.capacity import CapacityShortfall, Unplaceable
from orchestrator.engine.audit import refusal_entry, transition_entry
from orchestrator.engine.context import PLACEMENT_COMPONENT, CauseContext, PlacementContext
from orchestrator.engine.fleet import Fleet, load_fleet
from orchestrator.engine.rows import (
    advance,
    registered_row,
    request_of,
    same_content,
    with_record,
)
from orchestrator.errors import GovmigError, PermanentError
from orchestrator.inventory.models import BusinessSystem
from orchestrator.migrations import (
    Cause,
    FindPlacement,
    Place,
    PlacementFailed,
    Refusal,
    ReleaseCapacity,
    ReserveCapacity,
    SaveRecord,
    Transition,
    apply_transition,
)
from orchestrator.store import (
    AuditEntry,
    Session,
    SystemRow,
    append_audit,
    get_systems,
    insert_systems,
    release,
    reserve,
    save_system,
    writers_excluded,
)


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


class _ReservationLostError(GovmigError):
    """A ``Place`` found its node full when reserving: the choice was made on stale usage."""

    def __init__(self, shortfall: CapacityShortfall) -> None:
        super().__init__(shortfall.message)
        self.shortfall = shortfall


class Lifecycle:
    """One transaction's view of the systems it changes; call ``flush()`` before committing.

    Rows are read once (``prefetch`` reads many in one query) and written back
    lazily: new systems in one INSERT, changed ones once each however many
    transitions they went through, all before anything that needs them in the
    database (a reservation, a ledger read) and at ``flush``. A row changed
    meanwhile by another instance still fails its version check
    (``StaleSystemError``), which aborts the whole transaction.
    """

    def __init__(self, session: Session, *, placement: PlacementContext | None = None) -> None:
        self._session = session
        self._placement = placement if placement is not None else PlacementContext()
        self._rows: dict[str, SystemRow | None] = {}  # as this transaction sees them
        self._stored: dict[str, SystemRow] = {}  # as the database holds them
        self._unsaved: set[str] = set()
        self._new: set[str] = set()  # registered by this transaction, not inserted yet
        self._audit: list[AuditEntry] = []
        self._fleet: Fleet | None = None
        self._isolated = writers_excluded(session)

    def prefetch(self, system_ids: Iterable[str]) -> None:
        """Read the systems among ``system_ids`` not read yet, in one query."""
        missing = {system_id for system_id in system_ids if system_id not in self._rows}
        if missing:
            found = get_systems(self._session, missing)
            self._stored.update(found)
            self._rows.update({system_id: found.get(system_id) for system_id in missing})

    def system(self, system_id: str) -> SystemRow | None:
        """The system as this transaction sees it, or None if it is not registered."""
        if system_id not in self._rows:
            self.prefetch([system_id])
        return self._rows[system_id]

    def nodes_changed(self) -> None:
        """A node's capacity or status changed: placement must read the ledger again."""
        self._fleet = None

    def flush(self) -> None:
        """Write the changed rows and the audit rows (the status outbox) collected so far."""
        self._write_rows()
        append_audit(self._session, self._audit)
        self._audit.clear()

    def apply(
        self,
        system_id: str,
        cause: Cause,
        *,
        context: CauseContext,
        record: BusinessSystem | None = None,
    ) -> Transition | Refusal:
        """Apply ``cause`` to ``system_id``: decide, carry out the store effects, audit."""
        try:
            return self._apply(system_id, cause, context, record)
        except _ReservationLostError as lost:  # a caller's own Place, decided on stale usage
            return self._apply(system_id, PlacementFailed(lost.shortfall.message), context, None)

    def _apply(
        self, system_id: str, cause: Cause, context: CauseContext, record: BusinessSystem | None
    ) -> Transition | Refusal:
        row = self.system(system_id)
        outcome = apply_transition(None if row is None else row.state, cause)
        if isinstance(outcome, Refusal):
            self._audit.append(refusal_entry(system_id, row, outcome, context))
            return outcome
        changed = self._carry_out(system_id, row, outcome, cause, record)
        self._audit.append(transition_entry(changed, outcome, cause, context))
        if any(isinstance(effect, FindPlacement) for effect in outcome.effects):
            self._find_placement(changed, context)
        return outcome

    def _carry_out(
        self,
        system_id: str,
        row: SystemRow | None,
        transition: Transition,
        cause: Cause,
        record: BusinessSystem | None,
    ) -> SystemRow:
        node = None if row is None else row.node
        for effect in transition.effects:
            if isinstance(effect, SaveRecord):
                row = self._with_record(system_id, row, record)
            elif isinstance(effect, ReserveCapacity):
                self._reserve(_existing(system_id, row), effect.node)
                node = effect.node
            elif isinstance(effect, ReleaseCapacity):
                self._release(system_id)
                node = None
        changed = advance(_existing(system_id, row), transition, cause, node=node)
        self._rows[system_id] = changed
        self._unsaved.add(system_id)
        if system_id not in self._stored:
            self._new.add(system_id)
        return changed

    def _with_record(
        self, system_id: str, row: SystemRow | None, record: BusinessSystem | None
    ) -> SystemRow:
        if record is None or record.id != system_id:
            raise PermanentError(f"registering {system_id} needs its own record")
        if self._fleet is not None:
            self._fleet.groups.update(system_id, record.depends_on)
        if row is None:
            return registered_row(record, datetime.now(UTC))
        return with_record(row, record)

    def _insert_rows(self) -> None:
        """Insert the systems registered by this transaction so far.

        Runs before every reservation, so it looks only at the new ids, not at
        every row the batch changed (which made placing a batch quadratic).
        """
        if not self._new:
            return
        new = [self._rows[i] for i in sorted(self._new)]
        inserted = [row for row in new if row is not None]
        insert_systems(self._session, inserted)
        self._stored.update((row.id, row) for row in inserted)
        self._new.clear()

    def _write_rows(self) -> None:
        """Insert the new systems and save the changed ones, in id order (a stable lock order)."""
        self._insert_rows()
        for system_id in sorted(self._unsaved):
            current, stored = self._rows[system_id], self._stored[system_id]
            if current is not None and not same_content(stored, current):
                saved = save_system(self._session, replace(current, version=stored.version))
                self._rows[system_id] = self._stored[system_id] = saved
        self._unsaved.clear()

    def _reserve(self, row: SystemRow, node_id: str) -> None:
        self._insert_rows()  # the allocation refers to the system's row
        amounts = request_of(row).amounts
        outcome = reserve(self._session, row.id, node_id, amounts)
        if isinstance(outcome, CapacityShortfall):
            self._fleet = None  # it was stale: read the ledger again before choosing again
            raise _ReservationLostError(outcome)
        self._update_fleet(lambda fleet: fleet.reserved(row.id, node_id, amounts))

    def _release(self, system_id: str) -> None:
        release(self._session, system_id)
        self._update_fleet(lambda fleet: fleet.released(system_id))

    def _update_fleet(self, change: Callable[[Fleet], None]) -> None:
        if self._fleet is None:
            return
        try:
            change(self._fleet)
        except GovmigError:  # the copy disagrees with the store: drop it, read again later
            self._fleet = None

    def _load_fleet(self) -> Fleet:
        self._insert_rows()  # so the ledger read sees this transaction's registrations
        fleet = load_fleet(self._session)
        for system_id in self._unsaved:  # and records re-registered but not saved yet
            if (row := self._rows[system_id]) is not None:
                fleet.groups.update(system_id, request_of(row).depends_on)
        return fleet

    def _find_placement(self, row: SystemRow, context: CauseContext) -> None:
        placing = replace(context, component=PLACEMENT_COMPONENT, note=None)
        last: CapacityShortfall | None = None
        for _attempt in range(self._placement.max_attempts):
            fresh = self._fleet is None
            fleet = self._fleet = self._fleet or self._load_fleet()
            choice = fleet.choose(request_of(row), self._placement.policy, target=row.target_node)
            if isinstance(choice, Unplaceable):
                if fresh or self._isolated:
                    self._apply(row.id, PlacementFailed(choice.reason), placing, None)
                    return
                self._fleet = None  # others may have freed room since it was read
                continue
            try:
                self._apply(
                    row.id, Place(choice.node_id), replace(placing, note=choice.reason), None
                )
                return
            except _ReservationLostError as lost:
                last = lost.shortfall
        reason = last.message if last is not None else "the ledger kept changing while placing"
        self._apply(row.id, PlacementFailed(reason), placing, None)


def _existing(system_id: str, row: SystemRow | None) -> SystemRow:
    if row is None:
        raise PermanentError(f"unknown system {system_id!r}: it was never registered")
    return row
