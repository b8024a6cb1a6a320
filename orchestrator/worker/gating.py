"""The cutover gate's edge: what it weighs, read from the store, and its answer applied.

When a batch leaves a system ``ready`` (its one cold pass, a caught-up warm
pass, a rehearsal), ``CutoverGates.ask`` builds its ``CutoverCase`` (the
replication figures ``Replication.cutover_case`` gives, its approval under the
cutover policy, its schedule) and, when it belongs to a dependency group, the
group's: each other member's state, whether a ready member's own gates would
let it through (the same decision, its group left out), its forecast, and
which members go first (``cutover_order``). The pure ``gates.decide`` answers;
``StartCutover`` carries the answer to the state machine. A wait is audited (a
refused ``StartCutover``) only when what holds it changes, not its figures, so
a system waiting a week for its window writes one row, not one per pass; its
line, kept fresh, stays on the system (``systems.waiting``) for status and the
gauges.

A held system is also asked without a pass (``ask_due``, each tick of the
dispatcher): at once when an approval, a rejection or a schedule changed what its
gates weigh, and at the moment its wait named (a freeze ends, a window opens, its
scheduled moment comes), so an approved cutover starts when it is approved.

When a member becomes ready or completes, ``ask_group`` asks its other ready
members at once: the next in dependency order need not wait for a pass (a
cold member makes none). When a member's
cutover or verify fails, ``revert_group`` reverts the members
of its group already cut over (reverse sync first, as every revert), so a group
is never split between old and new; the rest stay ready, held by the group gate.

One ``CutoverGates`` serves one application of a batch's outcomes: the
dependency graph is read once for all of them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from functools import cached_property

from orchestrator.capacity import DependencyGraph
from orchestrator.engine.context import CauseContext
from orchestrator.engine.lifecycle import Lifecycle
from orchestrator.gates import (
    ApprovalGate,
    CutoverCase,
    Go,
    GroupGate,
    Member,
    Wait,
    calendar_facts,
    cutover_order,
    decide,
)
from orchestrator.inventory import CalendarFacts
from orchestrator.migrations import Cause, RequestRevert, StartCutover, SystemState
from orchestrator.migrations.replication import PassKind
from orchestrator.store import Session, SystemRow, dependencies
from orchestrator.store import approvals as approvals_store
from orchestrator.store import leases as lease_store
from orchestrator.store import replication as replication_store
from orchestrator.worker.replication import Replication

# Who asks a dependency group's cut-over members to revert, in their audit.
GROUP_ACTOR = "dependency group policy"


def record_wait(
    lifecycle: Lifecycle,
    row: SystemRow,
    wait: Wait,
    refused: Cause,
    context: CauseContext,
    *,
    at: datetime,
) -> None:
    """Keep what holds ``row`` on it; audit ``refused`` (the held request) only when what holds
    it changed, not its figures: a forecast or a count changes each time it is asked."""
    if _gist(wait.line) != _gist(row.waiting or ""):
        lifecycle.apply(row.id, refused, context=context)
    lifecycle.hold(row.id, wait.reason, wait.line, at=at, due=wait.until)


def _gist(line: str) -> str:
    """``line`` without its figures (numbers, dates, times)."""
    return _FIGURES.sub("#", line)


_FIGURES = re.compile(r"\d+(?:[.:-]\d+)*")


class CutoverGates:
    """Asks the cutover gate for ready systems of one batch, and applies its answers."""

    def __init__(self, session: Session, lifecycle: Lifecycle, replication: Replication) -> None:
        self._session = session
        self._lifecycle = lifecycle  # members are read through it: the batch changes them too
        self._replication = replication
        self._now = replication.clock()

    def ask(self, row: SystemRow, context: CauseContext) -> Go | Wait | None:
        """Start ``row``'s cutover or record what holds it; None if warm without a timed delta."""
        lifecycle = self._lifecycle
        case = self._own_case(row)
        if case is None:
            return None
        calendar = self._replication.calendar
        decided = decide(replace(case, group=self._group(row)), calendar, self._now)
        if isinstance(decided, Go):
            lifecycle.apply(row.id, StartCutover(why=decided.why), context=context)
        else:
            refused = StartCutover(why="", held=decided.line)
            record_wait(lifecycle, row, decided, refused, context, at=self._now)
        return decided

    def ask_group(self, moved: str, context: CauseContext) -> None:
        """``moved`` became ready or cut over: ask its group's ready members at once, so the
        next in dependency order goes now rather than after its next delta pass
        (``delta_interval_s`` later, in the same maintenance window), or ever, if cold."""
        for row in self._others(moved, SystemState.READY):
            self.ask(row, context)

    def revert_group(self, failed: str, context: CauseContext) -> list[str]:
        """``failed`` did not cut over: revert the members of its group that did, so the group
        is never split between old and new; the others stay held by the group gate."""
        why = replace(context, note=f"{failed} of its dependency group failed its cutover")
        reverted = [row.id for row in self._others(failed, SystemState.COMPLETED)]
        for other in reverted:
            self._lifecycle.apply(other, RequestRevert(GROUP_ACTOR), context=why)
        return reverted

    def _others(self, system_id: str, *states: SystemState) -> list[SystemRow]:
        """The other members of ``system_id``'s dependency group, by id, as the batch left
        them (those in ``states`` when any are named)."""
        others = sorted(self._graph.group(system_id) - {system_id})
        self._lifecycle.prefetch(others)
        rows = [row for i in others if (row := self._lifecycle.system(i)) is not None]
        return [row for row in rows if not states or row.state in states]

    def _own_case(self, row: SystemRow) -> CutoverCase | None:
        """The system's case without its group: replication, approval, schedule."""
        warm = self._replication.warm is not None
        last = replication_store.last_timed(
            self._session, [row.id], kind=PassKind.DELTA if warm else None
        ).get(row.id)
        if last is None and warm:
            return None
        session, facts = self._session, calendar_facts(row.record, row.wave)
        case = self._replication.cutover_case(
            facts,
            last,
            rehearsed=replication_store.rehearsed(session, row.id),
            service_start_s=replication_store.measured_start(session, row.id),
        )
        return replace(case, approval=self._approval(row, facts), scheduled_at=row.cutover_at)

    def _approval(self, row: SystemRow, facts: CalendarFacts) -> ApprovalGate:
        policy = self._replication.cutover
        if not policy.needs_approval(facts.criticality, facts.department):
            return ApprovalGate(needed=False)
        live = approvals_store.live(self._session, row.id, now=self._now, ttl=policy.approval_ttl)
        return ApprovalGate(
            needed=True,
            requested_by=row.migration_requested_by,
            approved_by=None if live is None else live.approver,
            change_ref=None if live is None else live.change_ref,
        )

    def _group(self, row: SystemRow) -> GroupGate | None:
        """The rest of its dependency group as the gate sees it; None when it stands alone."""
        others = self._others(row.id)
        if not others:
            return None
        depends_on = {r.id: _depends_on(r) for r in (row, *others)}
        order = cutover_order(depends_on)
        ahead = frozenset(order[: order.index(row.id)])
        return GroupGate(members=tuple(map(self._member, others)), ahead=ahead)

    def _member(self, row: SystemRow) -> Member:
        if row.state is not SystemState.READY:
            return Member(row.id, row.state)
        case = self._own_case(row)
        if case is None:
            return Member(row.id, row.state)
        cleared = isinstance(decide(case, self._replication.calendar, self._now), Go)
        return Member(row.id, row.state, cleared=cleared, forecast_s=case.forecast_s)

    @cached_property
    def _graph(self) -> DependencyGraph:
        return DependencyGraph(dependencies(self._session))


def ask_due(session: Session, replication: Replication, *, component: str, limit: int) -> list[str]:
    """Ask the gates of the ready systems due again (``store.leases.take_due_gates``: an
    approval, a rejection or a schedule came, or the moment their wait named did), without
    waiting for their next pass; the ids asked. The answer weighs their last timed pass."""
    due = lease_store.take_due_gates(session, now=replication.clock(), limit=limit)
    if not due:
        return []
    lifecycle = Lifecycle(session)
    lifecycle.prefetch(due)
    gates = CutoverGates(session, lifecycle, replication)
    context = CauseContext(component=component, note="asked again: what held it changed")
    for system_id in due:
        row = lifecycle.system(system_id)
        if row is not None and row.state is SystemState.READY:
            gates.ask(row, context)
    lifecycle.flush()
    return due


def _depends_on(row: SystemRow) -> tuple[str, ...]:
    return tuple(row.record.get("depends_on") or ())
