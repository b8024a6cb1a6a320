"""The cutover gate, table-tested: (approval, schedule, rehearsal, budget, group) → go or wait.

The calendar's cases (windows, freezes, midnight, the week's end) are in
``test_gates_calendar.py``, on the real calendar; here it restricts nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.gates import (
    ApprovalGate,
    CutoverCase,
    Go,
    GroupGate,
    Member,
    Wait,
    WaitReason,
    cutover_order,
    decide,
)
from orchestrator.inventory import Calendar, CalendarFacts
from orchestrator.migrations import SystemState as S

NOW = datetime(2027, 1, 9, 1, 0, tzinfo=UTC)
OPEN = Calendar.unrestricted()
FACTS = CalendarFacts("Public Security Bureau (公安局)", 1, "high")


def case(**changes: object) -> CutoverCase:
    base: dict[str, object] = {"facts": FACTS, "forecast_s": 3.0, "budget_s": 30.0}
    return CutoverCase(**(base | changes))  # type: ignore[arg-type]


def ready(system_id: str, *, cleared: bool = True, forecast_s: float = 2.0) -> Member:
    return Member(system_id, S.READY, cleared=cleared, forecast_s=forecast_s)


APPROVED = ApprovalGate(needed=True, requested_by="alice", approved_by="bob", change_ref="CR-7")
UNAPPROVED = ApprovalGate(needed=True, requested_by="alice")
LATER = NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("given", "reason", "words"),
    [
        (case(approval=UNAPPROVED), WaitReason.APPROVAL, "approval by someone other than alice"),
        (case(scheduled_at=LATER), WaitReason.WINDOW, "scheduled for Sat 2027-01-09 03:00 UTC"),
        (case(rehearsal_required=True), WaitReason.REHEARSAL, "needs a passed rehearsal"),
        (case(forecast_s=45.2), WaitReason.BUDGET, "45.2 s exceeds the 30 s budget"),
        # The first gate that holds it is the one named.
        (case(approval=UNAPPROVED, forecast_s=99.0), WaitReason.APPROVAL, "govmig approve"),
        (case(scheduled_at=LATER, forecast_s=99.0), WaitReason.WINDOW, "scheduled"),
    ],
)
def test_a_closed_gate_holds_the_system_with_its_reason(
    given: CutoverCase, reason: WaitReason, words: str
) -> None:
    decided = decide(given, OPEN, NOW)
    assert isinstance(decided, Wait)
    assert decided.reason is reason
    assert words in decided.text
    assert decided.line.startswith(f"{reason}: ")


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (case(), "forecast downtime 3.0 s within the 30 s budget"),
        (case(approval=APPROVED), "approved by bob under CR-7"),
        (case(scheduled_at=NOW), "within the 30 s budget"),
        (case(scheduled_at=NOW - timedelta(days=1)), "within the 30 s budget"),
        (case(rehearsal_required=True, rehearsed=True), "within the 30 s budget"),
        (case(forecast_s=30.0), "30.0 s within the 30 s budget"),
        (case(approval=ApprovalGate(needed=False, requested_by="alice")), "within"),
    ],
)
def test_open_gates_let_it_go_and_say_why(given: CutoverCase, words: str) -> None:
    decided = decide(given, OPEN, NOW)
    assert isinstance(decided, Go)
    assert words in decided.why


@pytest.mark.parametrize(
    ("members", "ahead", "words"),
    [
        ((ready("b"), Member("c", S.REPLICATING)), (), "not ready: c (replicating)"),
        ((ready("b", cleared=False),), (), "wait at their own gates: b (ready)"),
        ((ready("b"), Member("c", S.ROLLED_BACK)), (), "a member went back: c (rolled_back)"),
        ((Member("b", S.CANCELLED),), (), "went back: b (cancelled)"),
        ((ready("b"),), ("b",), "after the members it depends on: b (ready)"),
        ((Member("b", S.VERIFYING),), ("b",), "after the members it depends on: b (verifying)"),
        ((Member("b", S.PLACED), Member("c", S.FAILED)), (), "went back: c (failed)"),
    ],
)
def test_a_group_member_holds_the_others(
    members: tuple[Member, ...], ahead: tuple[str, ...], words: str
) -> None:
    group = GroupGate(members=members, ahead=frozenset(ahead))
    decided = decide(case(group=group), OPEN, NOW)
    assert isinstance(decided, Wait)
    assert decided.reason is WaitReason.GROUP
    assert words in decided.text


@pytest.mark.parametrize(
    ("members", "ahead"),
    [
        ((ready("b"), ready("c")), ()),  # all ready and cleared, none ahead: the first goes
        ((Member("b", S.COMPLETED), ready("c")), ("b",)),
        ((Member("b", S.FINALIZED),), ("b",)),
    ],
)
def test_a_group_whose_members_are_cleared_lets_it_go(
    members: tuple[Member, ...], ahead: tuple[str, ...]
) -> None:
    group = GroupGate(members=members, ahead=frozenset(ahead))
    assert isinstance(decide(case(group=group), OPEN, NOW), Go)


def test_an_own_gate_is_named_before_the_group() -> None:
    group = GroupGate(members=(Member("b", S.REPLICATING),))
    decided = decide(case(group=group, approval=UNAPPROVED), OPEN, NOW)
    assert isinstance(decided, Wait)
    assert decided.reason is WaitReason.APPROVAL


def test_the_members_still_to_go_count_towards_the_window() -> None:
    group = GroupGate(members=(ready("b", forecast_s=4.0), Member("c", S.COMPLETED, forecast_s=9)))
    assert group.remaining_s == 4.0


@pytest.mark.parametrize(
    ("depends_on", "order"),
    [
        ({"a": [], "b": ["a"], "c": ["b"]}, ["a", "b", "c"]),
        ({"c": ["b"], "b": ["a"], "a": []}, ["a", "b", "c"]),
        ({"web": ["db", "mq"], "db": [], "mq": []}, ["db", "mq", "web"]),
        # Outside the group: not moving with it, so not waited for.
        ({"a": ["elsewhere"], "b": ["a"]}, ["a", "b"]),
        # A cycle is broken by id, deterministically.
        ({"a": ["b"], "b": ["a"], "c": ["a"]}, ["a", "b", "c"]),
        ({"x": ["x"]}, ["x"]),
    ],
)
def test_a_group_cuts_over_in_dependency_order(
    depends_on: dict[str, list[str]], order: list[str]
) -> None:
    assert cutover_order(depends_on) == order
