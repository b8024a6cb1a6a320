"""The cutover gate: may a ready system cut over now, or what does it wait for?

Checked in this order, so the one line a waiting system shows names the first
gate that holds it:

=============  ==============================================================
reason         holds a ready system while
=============  ==============================================================
``approval``   the policy asks for an approval and there is no live one
``freeze``     a freeze that applies to it is on
``window``     its scheduled moment has not come, no window that applies to
               it is open, or its forecast (and, for a dependency group, the
               forecasts of the members still to go) does not fit before the
               window closes (a freeze ahead closes it early)
``rehearsal``  the policy asks for a passed rehearsal since its last full pass
``budget``     its forecast downtime exceeds its budget (delta passes go on;
               a cold cutover has none)
``group``      a member of its dependency group is not ready, not cleared by
               its own gates, broken, or due to cut over before it
=============  ==============================================================

Pure: the calendar (``Calendar.unrestricted()`` without a file) and the
clock come in as values, like every other fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from orchestrator.inventory import Calendar, CalendarFacts
from orchestrator.inventory.calendar import Span
from orchestrator.migrations import SystemState

S = SystemState


class WaitReason(StrEnum):
    """Why a system does not take its next step yet (the ``reason`` label of its gauge)."""

    APPROVAL = "approval"
    FREEZE = "freeze"
    WINDOW = "window"
    REHEARSAL = "rehearsal"
    BUDGET = "budget"
    GROUP = "group"
    WAVE = "wave"


@dataclass(frozen=True, slots=True)
class Go:
    """The gates are open; ``why`` says which let it through, for the audit."""

    why: str


@dataclass(frozen=True, slots=True)
class Wait:
    """The system waits: the first gate that holds it, and one line saying why.

    ``until``: the moment the clock alone may change the answer (a freeze ends,
    the scheduled moment comes, a window opens), so it is asked again then; None
    when only an event can (an approval, a rehearsal, a pass, a group member).
    """

    reason: WaitReason
    text: str
    until: datetime | None = None

    @property
    def line(self) -> str:
        """The one line status shows: ``<reason>: <text>``."""
        return f"{self.reason}: {self.text}"


@dataclass(frozen=True, slots=True)
class ApprovalGate:
    """Whether the policy asks for an approval, and the live one if there is."""

    needed: bool
    requested_by: str | None = None
    approved_by: str | None = None
    change_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """Another member of the system's dependency group, as the gate needs to see it.

    ``cleared``: a ready member's own gates (all but its group's) let it through;
    ``forecast_s``: its forecast downtime, counted while it has still to cut over.
    """

    system_id: str
    state: SystemState
    cleared: bool = False
    forecast_s: float = 0.0


@dataclass(frozen=True, slots=True)
class GroupGate:
    """The rest of the system's dependency group; ``ahead``: members due to cut over first."""

    members: tuple[Member, ...] = ()
    ahead: frozenset[str] = frozenset()

    @property
    def remaining_s(self) -> float:
        """The forecasts of the members that have still to cut over."""
        return sum(m.forecast_s for m in self.members if m.state in _TO_GO)


@dataclass(frozen=True, slots=True)
class CutoverCase:
    """Everything the gate weighs about one ready system, read at the edge."""

    facts: CalendarFacts
    forecast_s: float
    # The downtime budget of its criticality; None for a cold cutover, whose downtime is its
    # final pass: no later pass can bring it within a budget.
    budget_s: float | None
    approval: ApprovalGate = field(default_factory=lambda: ApprovalGate(needed=False))
    rehearsal_required: bool = False
    rehearsed: bool = False
    scheduled_at: datetime | None = None
    group: GroupGate | None = None


# Members that are on their way to the cutover, or waiting at it.
_NOT_READY = frozenset({S.REGISTERED, S.QUEUED, S.PLACED, S.PREFLIGHT, S.PROVISIONING})
_NOT_READY |= {S.REPLICATING, S.REHEARSING}
_TO_GO = _NOT_READY | {S.READY}
_CUT_OVER = frozenset({S.COMPLETED, S.FINALIZING, S.FINALIZED})
# A member that failed, went back or never will: the group cannot move whole.
_BROKEN = frozenset({S.ROLLING_BACK, S.ROLLED_BACK, S.FAILED, S.CANCELLED, S.REVERTING})


def calendar_facts(record: Mapping[str, Any], wave: int | None) -> CalendarFacts:
    """What the calendar needs of a system: its record's department and criticality, its wave."""
    criticality = str(record.get("criticality", "medium"))
    return CalendarFacts(str(record.get("department", "")), wave, criticality)


def decide(case: CutoverCase, calendar: Calendar, now: datetime) -> Go | Wait:
    """Go, or the first gate that holds the system (see the module's table)."""
    approval = _approval(case.approval)
    if isinstance(approval, Wait):
        return approval
    window = _window(case, calendar, now)
    if isinstance(window, Wait):
        return window
    forecast = f"forecast downtime {case.forecast_s:.1f} s"
    if case.rehearsal_required and not case.rehearsed:
        text = "its policy needs a passed rehearsal since the last full pass; run govmig rehearse"
        return Wait(WaitReason.REHEARSAL, text)
    if case.budget_s is not None and case.forecast_s > case.budget_s:
        text = f"{forecast} exceeds the {case.budget_s:g} s budget; delta passes go on"
        return Wait(WaitReason.BUDGET, text)
    if case.group is not None and isinstance(held := _group(case.group), Wait):
        return held
    budget = (
        " (a cold cutover)" if case.budget_s is None else f" within the {case.budget_s:g} s budget"
    )
    parts = [forecast + budget, window, approval]
    return Go("; ".join(part for part in parts if part))


def _approval(gate: ApprovalGate) -> str | Wait:
    if not gate.needed:
        return ""
    if gate.approved_by is None:
        other = f"someone other than {gate.requested_by}" if gate.requested_by else "an approver"
        text = f"its policy needs an approval by {other} under a change reference (govmig approve)"
        return Wait(WaitReason.APPROVAL, text)
    return f"approved by {gate.approved_by} under {gate.change_ref}"


def _window(case: CutoverCase, calendar: Calendar, now: datetime) -> str | Wait:
    facts, zone = case.facts, calendar.time_zone
    if (freeze := calendar.freeze_at(facts, now)) is not None:
        until = f" until {_at(freeze.ends_at, zone)}"
        after, _ = _next(case, calendar, now)
        return Wait(
            WaitReason.FREEZE, f"freeze {freeze.name!r} is on{until}{after}", freeze.ends_at
        )
    if case.scheduled_at is not None and now < case.scheduled_at:
        scheduled = f"scheduled for {_at(case.scheduled_at, zone)}"
        return Wait(WaitReason.WINDOW, scheduled, case.scheduled_at)
    span = calendar.window_at(facts, now)
    if span is None:
        after, opens = _next(case, calendar, now)
        return Wait(WaitReason.WINDOW, f"no maintenance window is open{after}", opens)
    if span.closes_at is None:
        return ""
    needed = case.forecast_s + (case.group.remaining_s if case.group is not None else 0.0)
    if (span.closes_at - now).total_seconds() < needed:
        closes = _at(span.closes_at, zone)
        text = f"{needed:.1f} s of downtime does not fit before {_named(span)} closes at {closes}"
        after, opens = _next(case, calendar, span.closes_at)
        return Wait(WaitReason.WINDOW, text + after, opens)
    return f"{_named(span)} open until {_at(span.closes_at, zone)}"


def _group(group: GroupGate) -> Wait | None:
    def held(text: str, members: Iterable[Member]) -> Wait:
        listed = ", ".join(f"{m.system_id} ({m.state})" for m in members)
        return Wait(WaitReason.GROUP, f"{text}: {listed}")

    if broken := [m for m in group.members if m.state in _BROKEN]:
        return held("the group moves whole or not at all, and a member went back", broken)
    if waiting := [m for m in group.members if m.state in _NOT_READY]:
        return held("group members are not ready", waiting)
    if uncleared := [m for m in group.members if m.state is S.READY and not m.cleared]:
        return held("group members wait at their own gates", uncleared)
    first = [m for m in group.members if m.system_id in group.ahead and m.state not in _CUT_OVER]
    if first:
        return held("cuts over after the members it depends on", first)
    return None


def cutover_order(depends_on: Mapping[str, Iterable[str]]) -> list[str]:
    """The group's members, each after those it depends on; a cycle is broken by id.

    Dependencies outside the group are ignored: they are not moving with it.
    """
    pending = {m: {d for d in deps if d in depends_on and d != m} for m, deps in depends_on.items()}
    order: list[str] = []
    while pending:
        free = sorted(m for m, deps in pending.items() if not deps) or [min(pending)]
        for member in free:
            order.append(member)
            del pending[member]
        for deps in pending.values():
            deps.difference_update(free)
    return order


def _next(case: CutoverCase, calendar: Calendar, after: datetime) -> tuple[str, datetime | None]:
    """The next window that applies to the system after ``after``: the text saying when it
    opens, and that moment (None when nothing opens within the calendar's horizon)."""
    span = calendar.next_window(case.facts, after)
    if span is None or span.opens_at is None:
        return "; no window opens within the calendar's horizon", None
    return f"; next, {_named(span)} opens {_at(span.opens_at, calendar.time_zone)}", span.opens_at


def _named(span: Span) -> str:
    return f"window {span.window!r}" if span.window else "the calendar's next opening"


def _at(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
